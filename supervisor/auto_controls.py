"""Automatic sessions from the window: a switch for the selected charge point (its own `auto`
command), and a dialog for the selected charge points or the whole fleet (each launcher's
`auto` command, which derives every CP's seed from one seed), with the seed and arrival rate.
What runs is read back from the CP status (`auto`, `auto_seed`, `network`)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cp_simu.models import SEED_MAX, AutoSettings
from supervisor.fleet_model import CpEntry

NO_SEED = -1  # the seed spin's "random" value: each charge point picks one and reports it


def auto_text(entry: CpEntry) -> str:
    """`auto` (with its seed when the status says) while automatic sessions run, else ""."""
    if entry.status is None or entry.status.extra.get("auto") is not True:
        return ""
    seed = entry.status.extra.get("auto_seed")
    return f"auto (seed {seed})" if isinstance(seed, int) and not isinstance(seed, bool) else "auto"


class AutoSwitch(QWidget):
    """The CP panel's line: automatic sessions on/off for this CP, its seed and network faults."""

    toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = QCheckBox("Automatic sessions")
        self.check.setToolTip("Cars arrive, charge and leave on their own (the charge point's `auto` command)")
        self.check.toggled.connect(self.toggled.emit)
        self.detail = QLabel()
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.check)
        layout.addWidget(self.detail, 1)

    def show_entry(self, entry: CpEntry) -> None:
        extra = entry.status.extra if entry.status else {}
        blocked = self.check.blockSignals(True)
        self.check.setChecked(extra.get("auto") is True)
        self.check.blockSignals(blocked)
        self.check.setEnabled(entry.alive)
        seed = extra.get("auto_seed")
        network = extra.get("network")
        parts = [f"seed {seed}" if extra.get("auto") is True and seed is not None else "",
                 f"network: {network}" if network else ""]
        self.detail.setText(" · ".join(p for p in parts if p))


class AutoDialog(QDialog):
    """On or off, for the selected charge points or the whole fleet; seed and rate when on."""

    def __init__(self, selected: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Automatic sessions")
        self.on = QRadioButton("On")
        self.off = QRadioButton("Off")
        self.on.setChecked(True)
        state = QButtonGroup(self)
        for button in (self.on, self.off):
            state.addButton(button)
        self.selection = QRadioButton(f"Selected charge points ({selected})")
        self.fleet = QRadioButton("The whole fleet (every launcher)")
        scope = QButtonGroup(self)
        for button in (self.selection, self.fleet):
            scope.addButton(button)
        self.selection.setEnabled(selected > 0)
        (self.selection if selected else self.fleet).setChecked(True)
        self.seed = QSpinBox(minimum=NO_SEED, maximum=min(SEED_MAX, 2**31 - 1))
        self.seed.setSpecialValueText("random")
        self.seed.setValue(NO_SEED)
        self.seed.setToolTip("The same seed and settings give the same inputs again (each charge point's "
                             "seed is derived from it and its id)")
        self.rate = QDoubleSpinBox(minimum=0.1, maximum=3600.0, decimals=1, suffix=" / h")
        self.rate.setValue(AutoSettings().rate)
        self.rate.setToolTip("Car arrivals per hour at each charge point")
        self.on.toggled.connect(lambda on: (self.seed.setEnabled(on), self.rate.setEnabled(on)))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.on)
        row.addWidget(self.off)
        row.addStretch(1)
        form = QFormLayout()
        form.addRow("Automatic sessions", row)
        form.addRow("For", self.selection)
        form.addRow("", self.fleet)
        form.addRow("Seed", self.seed)
        form.addRow("Arrivals", self.rate)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    @property
    def whole_fleet(self) -> bool:
        return self.fleet.isChecked()

    def settings(self) -> AutoSettings:
        if self.off.isChecked():
            return AutoSettings(enabled=False)
        seed = self.seed.value()
        return AutoSettings(enabled=True, seed=None if seed == NO_SEED else seed, rate=self.rate.value())
