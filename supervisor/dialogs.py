"""Dialogs: Add CP (AC / DC presets, validated before anything is sent) and the OCPP
configuration table."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cp_simu.models import OCPP_VERSIONS, ChargePointDefinition, PayloadError
from supervisor.launchers import LaunchTargetFields
from supervisor.security_widgets import CpSecurityFields


@dataclass(frozen=True)
class Preset:
    name: str
    type: str
    nb_phases: int
    voltage: float
    max_setpoint: float  # A for AC, kW for DC (as typed in the dialog)
    per_connector: float
    nb_connectors: int
    vendor: str
    model: str


PRESETS = (
    Preset("AC 22 kW · 3 phases · 1 connector", "AC", 3, 230.0, 32, 32, 1, "Open OCPP AC", "Simulated AC"),
    Preset("AC 2 × 11 kW · 3 phases · 32 A shared", "AC", 3, 230.0, 32, 16, 2, "Open OCPP AC",
           "Simulated AC"),
    Preset("AC 7.4 kW · 1 phase · 1 connector", "AC", 1, 230.0, 32, 32, 1, "Open OCPP AC", "Simulated AC"),
    Preset("DC 50 kW · 1 connector", "DC", 1, 400.0, 50, 50, 1, "Open OCPP DC", "Simulated DC"),
    Preset("DC 300 kW · 2 × 150 kW", "DC", 1, 800.0, 300, 150, 2, "Open OCPP DC", "Simulated DC"),
)


class AddCpDialog(QDialog):
    """Define a new charge point; OK stays disabled until the definition is valid."""

    def __init__(self, existing: Callable[[str], str | None], default_csms: str,
                 taken_ids: Collection[str], parent: QWidget | None = None,
                 target: LaunchTargetFields | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add charge point")
        self.target = target or LaunchTargetFields([])
        self._existing = existing  # id -> state of a CP already on the broker, or None
        self.preset = QComboBox()
        self.preset.addItems([p.name for p in PRESETS])
        self.cp_id = QLineEdit(_free_id(taken_ids))
        self.vendor = QLineEdit()
        self.model = QLineEdit()
        self.serial = QLineEdit(f"S/N{secrets.token_hex(4).upper()}")
        for edit, length in ((self.cp_id, 48), (self.vendor, 20), (self.model, 20), (self.serial, 25)):
            edit.setMaxLength(length)
        self.type = QComboBox()
        self.type.addItems(["AC", "DC"])
        self.phases = QSpinBox(minimum=1, maximum=3)
        self.voltage = _number(1, 1000, " V")
        self.max_setpoint = _number(0.1, 10000, "")
        self.per_connector = _number(0.1, 10000, "")
        self.connectors = QSpinBox(minimum=1, maximum=64)
        self.csms = QLineEdit(default_csms)
        self.csms.setPlaceholderText("ws://host:port/path (the CP connects to <url>/<id>)")
        self.ocpp_version = QComboBox()
        self.ocpp_version.addItems(list(OCPP_VERSIONS))
        self.security = CpSecurityFields()
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setStyleSheet("color: #c62828;")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Preset", self.preset)
        form.addRow("Identifier", self.cp_id)
        form.addRow("Vendor", self.vendor)
        form.addRow("Model", self.model)
        form.addRow("Serial number", self.serial)
        form.addRow("Type", self.type)
        form.addRow("Phases", self.phases)
        form.addRow("Voltage", self.voltage)
        form.addRow("Max setpoint (CP)", self.max_setpoint)
        form.addRow("Max per connector", self.per_connector)
        form.addRow("Connectors", self.connectors)
        form.addRow("CSMS URL", self.csms)
        form.addRow("OCPP version", self.ocpp_version)
        self.target.add_rows(form)
        self.security.add_rows(form)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(460)

        self.preset.currentIndexChanged.connect(lambda i: self.apply_preset(PRESETS[i]))
        self.type.currentTextChanged.connect(self._type_changed)
        for edit in (self.cp_id, self.vendor, self.model, self.serial, self.csms):
            edit.textChanged.connect(self.validate)
        for spin in (self.phases, self.voltage, self.max_setpoint, self.per_connector, self.connectors):
            spin.valueChanged.connect(self.validate)
        self.ocpp_version.currentTextChanged.connect(self.validate)
        self.security.profile.currentIndexChanged.connect(self.validate)
        for field in (self.security.password, self.security.ca_file, self.security.client_cert,
                      self.security.client_key):
            field.textChanged.connect(self.validate)
        for box in (self.security.skip_hostname_check, self.security.allow_self_signed):
            box.toggled.connect(self.validate)
        self.apply_preset(PRESETS[0])

    def apply_preset(self, preset: Preset) -> None:
        self.type.setCurrentText(preset.type)
        self._type_changed(preset.type)
        self.phases.setValue(preset.nb_phases)
        self.voltage.setValue(preset.voltage)
        self.max_setpoint.setValue(preset.max_setpoint)
        self.per_connector.setValue(preset.per_connector)
        self.connectors.setValue(preset.nb_connectors)
        self.vendor.setText(preset.vendor)
        self.model.setText(preset.model)
        self.validate()

    def _type_changed(self, cp_type: str) -> None:
        dc = cp_type == "DC"
        unit = " kW" if dc else " A"
        self.max_setpoint.setSuffix(unit)
        self.per_connector.setSuffix(unit)
        if dc:
            self.phases.setValue(1)
        self.phases.setEnabled(not dc)
        self.validate()

    def _as_dict(self) -> dict[str, object]:
        scale = 1000.0 if self.type.currentText() == "DC" else 1.0  # DC setpoints travel in W
        return {
            "id": self.cp_id.text().strip(), "type": self.type.currentText(),
            "vendor": self.vendor.text(), "model": self.model.text(), "serial": self.serial.text(),
            "central_system": self.csms.text().strip(), "nb_connectors": self.connectors.value(),
            "nb_phases": self.phases.value(), "voltage": self.voltage.value(),
            "max_setpoint": round(self.max_setpoint.value() * scale, 3),
            "max_setpoint_per_connector": round(self.per_connector.value() * scale, 3),
            "ocpp_version": self.ocpp_version.currentText(),
            **self.security.values(),
        }

    def definition(self) -> ChargePointDefinition:
        """The validated definition (PayloadError naming the field otherwise)."""
        definition = ChargePointDefinition.from_dict(self._as_dict())
        if definition.max_setpoint_per_connector > definition.max_setpoint:
            raise PayloadError("max_setpoint_per_connector: must not exceed the CP's max setpoint")
        state = self._existing(definition.id)
        if state is not None and state != "Dead":
            raise PayloadError(f"id: {definition.id} is already running ({state}); remove it first")
        return definition

    def validate(self) -> bool:
        try:
            definition = self.definition()
        except PayloadError as exc:
            self.error.setText(str(exc))
            ok = False
        else:
            existing = self._existing(definition.id)
            self.error.setText(f"{definition.id} exists (Dead): it will be recreated from scratch"
                               if existing else "")
            ok = True
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
        return ok

    def accept(self) -> None:
        if self.validate():
            super().accept()


def _number(minimum: float, maximum: float, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(minimum, maximum)
    spin.setDecimals(1)
    spin.setSuffix(suffix)
    return spin


def _free_id(taken: Collection[str]) -> str:
    n = len(taken) + 1
    while f"simu_cp_{n:03d}" in taken:
        n += 1
    return f"simu_cp_{n:03d}"


class OcppConfigDialog(QDialog):
    """The OCPP configuration a CP published on `ocpp_config`, as a filterable table: 1.6 keys,
    or a 2.0.1 device model's flat keys (`Component[:instance][@evse[.connector]]/Variable[:instance]`).
    The filter matches keys and values alike, so `EVSE@2`, `TxCtrlr/` or `Occupied` all find something."""

    refresh = Signal(str)  # cp id

    def __init__(self, cp_id: str, topic: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cp_id = cp_id
        self.setWindowTitle(f"OCPP configuration — {cp_id}")
        self.status = QLabel(f"Waiting for {topic} …")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter keys and values (e.g. EVSE@1, SampledDataCtrlr/, Occupied)")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Key", "Value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(lambda: self.refresh.emit(self.cp_id))
        top = QHBoxLayout()
        top.addWidget(self.filter, 1)
        top.addWidget(refresh)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        self.filter.textChanged.connect(self._apply_filter)
        self.resize(560, 620)

    def show_config(self, config: dict[str, str]) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(config))
        for row, key in enumerate(sorted(config, key=str.casefold)):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            self.table.setItem(row, 1, QTableWidgetItem(config[key]))
        self.table.setSortingEnabled(True)
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        needle = text.casefold()
        shown = 0
        for row in range(self.table.rowCount()):
            cells = (self.table.item(row, column) for column in (0, 1))
            hidden = bool(needle) and not any(needle in cell.text().casefold() for cell in cells if cell)
            self.table.setRowHidden(row, hidden)
            shown += not hidden
        total = self.table.rowCount()
        self.status.setText(f"{total} keys" if shown == total else f"{shown} of {total} keys")
