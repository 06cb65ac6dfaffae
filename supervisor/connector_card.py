"""One connector of the selected charge point: live status and the car / user inputs.

AC values are amperes per phase; DC values travel in W on the wire and are shown and typed
in kW. Inputs are sent when committed (Enter, focus out, arrows), never while typing, and a
field the user is editing is not overwritten by the next status.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from cp_simu.models import CUSTOM_EV, CarInput, ConnectorStatus, EvSettings
from supervisor.ev_dialog import NO_EV, EvDialog, ev_combo
from supervisor.palette import badge_css, connector_colour

PHASES = ("l1", "l2", "l3")
MAX_INPUT = 1000.0  # A (AC) or kW (DC): far above any real car or cable


class ConnectorCard(QGroupBox):
    car_input = Signal(int, object)  # connector, CarInput
    tag_presented = Signal(int, str)  # connector, id tag
    fault_toggled = Signal(int, bool)  # connector, faulted

    def __init__(self, number: int, dc: bool, nb_phases: int, parent: QWidget | None = None) -> None:
        super().__init__(f"Connector {number}", parent)
        self.number = number
        self.dc = dc
        self.nb_phases = 1 if dc else nb_phases
        self.unit = "kW" if dc else "A"
        self.setObjectName(f"connector_{number}")

        self.status_badge = QLabel("—")
        self.status_badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_badge.setMinimumWidth(110)
        self.transaction_label = QLabel()
        self.setpoint_label = QLabel()
        self.consumption_label = QLabel()
        self.energy_label = QLabel()
        for label in (self.setpoint_label, self.consumption_label, self.energy_label,
                      self.transaction_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.cable = self._spin("cable capacity; 0 = no car plugged", special="unplugged")
        self.ready = QCheckBox("Car ready")
        self.ready.setToolTip("Unchecked: the car suspends the charge (SuspendedEV)")
        self.consumption = [self._spin(f"what the car draws{'' if dc else ' on ' + p.upper()}")
                            for p in PHASES[:self.nb_phases]]
        self.ev_choice = ev_combo()
        self.ev_dialog: EvDialog | None = None  # open while a custom EV is being edited
        self.id_tag_edit = QLineEdit()
        self.id_tag_edit.setPlaceholderText("RFID id tag")
        self.id_tag_edit.setMaxLength(36)
        self.present_button = QPushButton("Present")
        self.present_button.setToolTip("Present this id tag at the connector (starts or stops a charge)")
        self.fault_button = QPushButton("Fault")
        self.fault_button.setCheckable(True)
        self.fault_button.setToolTip("Force the connector into Faulted (and back)")

        self._layout()
        self.cable.valueChanged.connect(lambda v: self._send(CarInput(cable=self._wire(v))))
        self.ready.toggled.connect(lambda on: self._send(CarInput(ready=on)))
        for phase, spin in zip(PHASES, self.consumption, strict=False):
            spin.valueChanged.connect(
                lambda v, p=phase: self._send(CarInput(**{f"consumption_{p}": self._wire(v)})))
        self.ev_choice.activated.connect(lambda i: self._choose_ev(self.ev_choice.itemData(i)))
        self.id_tag_edit.returnPressed.connect(self._present)
        self.id_tag_edit.textChanged.connect(
            lambda text: self.present_button.setEnabled(bool(text.strip())))
        self.present_button.clicked.connect(self._present)
        self.present_button.setEnabled(False)
        self.fault_button.toggled.connect(lambda on: self.fault_toggled.emit(self.number, on))

    def _spin(self, tip: str, special: str = "") -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(0.0, MAX_INPUT)
        spin.setDecimals(1)
        spin.setSuffix(f" {self.unit}")
        spin.setKeyboardTracking(False)
        spin.setToolTip(tip)
        spin.setMinimumWidth(90)
        if special:
            spin.setSpecialValueText(special)
        return spin

    def _layout(self) -> None:
        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        header = QHBoxLayout()
        header.addWidget(self.status_badge)
        header.addWidget(self.transaction_label, 1)
        grid.addLayout(header, 0, 0, 1, 2)
        grid.addWidget(QLabel("Setpoint"), 1, 0)
        grid.addWidget(self.setpoint_label, 1, 1)
        grid.addWidget(QLabel("Measured"), 2, 0)
        grid.addWidget(self.consumption_label, 2, 1)
        grid.addWidget(QLabel("Energy"), 3, 0)
        grid.addWidget(self.energy_label, 3, 1)

        car = QHBoxLayout()
        car.addWidget(QLabel("Cable"))
        car.addWidget(self.cable)
        car.addWidget(self.ready)
        car.addSpacing(12)
        car.addWidget(QLabel("Car draws" if self.dc else f"Car draws L1–L{self.nb_phases}"))
        for spin in self.consumption:
            car.addWidget(spin)
        car.addSpacing(12)
        car.addWidget(QLabel("EV"))
        car.addWidget(self.ev_choice)
        car.addStretch(1)
        grid.addWidget(QLabel("Car"), 4, 0)
        grid.addLayout(car, 4, 1)

        user = QHBoxLayout()
        user.addWidget(self.id_tag_edit, 1)
        user.addWidget(self.present_button)
        user.addSpacing(12)
        user.addWidget(self.fault_button)
        grid.addWidget(QLabel("Id tag"), 5, 0)
        grid.addLayout(user, 5, 1)

    # -- display ----------------------------------------------------------------
    def show_status(self, status: ConnectorStatus, power_w: float) -> None:
        name = status.status + ("" if status.error_code in ("", "NoError") else f" ({status.error_code})")
        self.status_badge.setText(name)
        self.status_badge.setStyleSheet(badge_css(connector_colour(status.status)))
        tx = f"transaction {status.transaction_id}" if status.transaction_id is not None else "no transaction"
        # what the CSMS was told, when the charge point's OCPP version names it differently (2.0.1)
        sent = f"OCPP {status.ocpp_status} · " if status.ocpp_status not in ("", status.status) else ""
        self.transaction_label.setText(sent + tx + (f" · tag {status.id_tag}" if status.id_tag else ""))
        self.setpoint_label.setText(
            f"<b>{self._fmt(status.setpoint)}</b> offered · OCPP limit {self._fmt(status.ocpp_setpoint)}"
            f" · max {self._fmt(status.max_setpoint)}")
        if self.dc:
            measured = f"<b>{self._fmt(status.consumption_l1)}</b>"
        else:
            values = (status.consumption_l1, status.consumption_l2, status.consumption_l3)
            measured = " · ".join(f"L{i + 1} <b>{v:.1f} A</b>" for i, v in enumerate(values[:self.nb_phases]))
            measured += f" · {power_w / 1000:.2f} kW"
        self.consumption_label.setText(measured)
        soc = "" if status.soc is None else f" · SoC <b>{status.soc:.1f} %</b> ({status.ev})"
        self.energy_label.setText(f"{status.energy_wh / 1000:.3f} kWh{soc}")
        index = self.ev_choice.findData(status.ev)
        if index >= 0 and not self.ev_choice.view().isVisible():
            _quietly(self.ev_choice, lambda: self.ev_choice.setCurrentIndex(index))

        self._set_value(self.cable, status.car_cable_capacity)
        cars = (status.car_consumption_l1, status.car_consumption_l2, status.car_consumption_l3)
        for spin, value in zip(self.consumption, cars, strict=False):
            self._set_value(spin, value)
        _quietly(self.ready, lambda: self.ready.setChecked(status.car_ready))
        _quietly(self.fault_button, lambda: self.fault_button.setChecked(status.status == "Faulted"))

    def _fmt(self, value: float) -> str:
        return f"{value / 1000:.1f} kW" if self.dc else f"{value:.1f} A"

    def _set_value(self, spin: QDoubleSpinBox, wire_value: float) -> None:
        if not spin.hasFocus():
            _quietly(spin, lambda: spin.setValue(wire_value / 1000 if self.dc else wire_value))

    # -- inputs -----------------------------------------------------------------
    def _wire(self, shown: float) -> float:
        return shown * 1000 if self.dc else shown

    def _choose_ev(self, choice: str) -> None:
        """A preset or none is sent at once; a custom EV once its dialog is accepted."""
        if choice != CUSTOM_EV:
            self._send(CarInput(remove_ev=True) if choice == NO_EV else CarInput(ev=EvSettings(choice)))
            return
        dialog = self.ev_dialog = EvDialog(self)
        dialog.accepted.connect(lambda: self._send(CarInput(ev=dialog.settings())))
        dialog.finished.connect(lambda _result: setattr(self, "ev_dialog", None))
        dialog.open()

    def _send(self, car: CarInput) -> None:
        self.car_input.emit(self.number, car)

    def _present(self) -> None:
        tag = self.id_tag_edit.text().strip()
        if tag:
            self.tag_presented.emit(self.number, tag)


def _quietly(widget: QWidget, change: Callable[[], object]) -> None:
    """Apply a change coming from the CP without echoing it back as an input."""
    blocked = widget.blockSignals(True)
    try:
        change()
    finally:
        widget.blockSignals(blocked)
