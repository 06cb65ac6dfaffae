"""The car's EV model, as the connector card offers it: a preset, none, or a custom EV edited
in a small dialog (its values start from a preset or the custom defaults; the curve stays the
base's)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from chargepoint.model.ev import CUSTOM_BASE, PRESETS, EvSpec
from cp_simu.models import CUSTOM_EV, EV_PRESETS, MAX_EV_CAPACITY_KWH, MAX_EV_CURRENT_A, MAX_EV_POWER_W, EvSettings
from supervisor.dialogs import _number

NO_EV = ""
EV_CHOICES = (NO_EV, *EV_PRESETS, CUSTOM_EV)  # the card's combo: its items' data
EV_LABELS = {NO_EV: "no EV model", CUSTOM_EV: "custom…"}


def ev_combo() -> QComboBox:
    combo = QComboBox()
    for choice in EV_CHOICES:
        combo.addItem(EV_LABELS.get(choice, choice), choice)
    combo.setToolTip("The car as a battery (SoC, charging curve, target: SuspendedEV when reached), "
                     "or plain consumption values")
    return combo


class EvDialog(QDialog):
    """A custom EV: its values start from the chosen base."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Custom EV")
        self.base = QComboBox()
        self.base.addItem("custom defaults", "")
        for name in EV_PRESETS:
            self.base.addItem(name, name)
        self.capacity = _number(0.1, MAX_EV_CAPACITY_KWH, " kWh")
        self.soc = _number(0, 100, " %")
        self.target = _number(0, 100, " %")
        self.ac_current = _number(0, MAX_EV_CURRENT_A, " A")
        self.ac_phases = QSpinBox(minimum=1, maximum=3)
        self.dc_power = _number(0, MAX_EV_POWER_W / 1000, " kW")
        self.efficiency = _number(0.01, 1.0, "")
        self.efficiency.setDecimals(2)
        self.efficiency.setSingleStep(0.01)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        form = QFormLayout()
        for label, widget in (("Based on", self.base), ("Battery", self.capacity), ("SoC on arrival", self.soc),
                              ("Target SoC", self.target), ("AC max current", self.ac_current),
                              ("AC phases", self.ac_phases), ("DC max power", self.dc_power),
                              ("Efficiency", self.efficiency)):
            form.addRow(label, widget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.base.currentIndexChanged.connect(lambda _i: self._fill(PRESETS.get(self.base.currentData(), CUSTOM_BASE)))
        self._fill(CUSTOM_BASE)

    def _fill(self, spec: EvSpec) -> None:
        self.capacity.setValue(spec.capacity_kwh)
        self.soc.setValue(spec.soc)
        self.target.setValue(spec.target_soc)
        self.ac_current.setValue(spec.ac_max_current)
        self.ac_phases.setValue(spec.ac_phases)
        self.dc_power.setValue(spec.dc_max_power / 1000)
        self.efficiency.setValue(spec.efficiency)

    def settings(self) -> EvSettings:
        """The car payload's `ev` (W on the wire for the DC power)."""
        return EvSettings(
            preset=self.base.currentData(), capacity_kwh=self.capacity.value(), soc=self.soc.value(),
            target_soc=self.target.value(), ac_max_current=self.ac_current.value(),
            ac_phases=self.ac_phases.value(), dc_max_power=round(self.dc_power.value() * 1000, 3),
            efficiency=self.efficiency.value())

