"""The selected charge point: identity, OCPP state and one card per connector."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from supervisor.auto_controls import AutoSwitch
from supervisor.connector_card import ConnectorCard
from supervisor.fleet_model import CpEntry
from supervisor.palette import badge_css, cp_colours

IDENTITY_FIELDS = ("Vendor", "Model", "Serial", "PID", "OCPP", "Type", "Phases", "Voltage", "Max",
                   "Per connector", "CSMS", "Security")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def certificate_lines(certificates: object) -> list[str]:
    """One line per certificate of the status's additive `certificates` list; entries that are
    not objects (a CP that speaks another dialect) are skipped rather than shown garbled."""
    if not isinstance(certificates, list):
        return []
    lines = []
    for cert in certificates:
        if isinstance(cert, dict):
            lines.append(f"{cert.get('type', '?')}: {cert.get('subject', '?')} "
                         f"(serial {cert.get('serial', '?')}, valid until {cert.get('valid_until', '?')})")
    return lines


class CpPanel(QWidget):
    car_input = Signal(str, int, object)  # cp id, connector, CarInput
    tag_presented = Signal(str, int, str)
    fault_toggled = Signal(str, int, bool)
    auto_toggled = Signal(str, bool)  # cp id, automatic sessions on

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cp_id: str | None = None
        self.cards: dict[int, ConnectorCard] = {}
        self._cards_key: tuple | None = None

        self.title = QLabel("Select a charge point")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state_badge = QLabel()
        self.state_badge.setVisible(False)
        self.reason = QLabel()  # why it is not registered (the status's `reason`)
        self.reason.setStyleSheet("color: #b00020;")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason.setVisible(False)

        self.auto = AutoSwitch()
        self.auto.toggled.connect(lambda on: self.cp_id and self.auto_toggled.emit(self.cp_id, on))
        self.auto.setVisible(False)

        self.identity = QGroupBox("Identity")
        grid = QGridLayout(self.identity)
        self.fields: dict[str, QLabel] = {}
        rows = (len(IDENTITY_FIELDS) + 1) // 2  # two label/value columns keep the cards in view
        for i, name in enumerate(IDENTITY_FIELDS):
            row, column = i % rows, 2 * (i // rows)
            label = QLabel()
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.fields[name] = label
            caption = QLabel(name)
            caption.setStyleSheet("color: #555;")
            grid.addWidget(caption, row, column, Qt.AlignmentFlag.AlignRight)
            grid.addWidget(label, row, column + 1)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 2)
        self.identity.setVisible(False)

        self.certificates = QGroupBox("Certificates")  # what the CP's certificate store holds
        self.certificate_list = QLabel()
        self.certificate_list.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.certificate_list.setWordWrap(True)
        QVBoxLayout(self.certificates).addWidget(self.certificate_list)
        self.certificates.setVisible(False)

        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addWidget(self.state_badge)
        header.addStretch(1)
        self.cards_box = QVBoxLayout()
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.reason)
        layout.addWidget(self.auto)
        layout.addWidget(self.identity)
        layout.addWidget(self.certificates)
        layout.addLayout(self.cards_box)
        layout.addStretch(1)

    def show_cp(self, entry: CpEntry | None) -> None:
        """Display `entry` (None: nothing selected, or the CP disappeared)."""
        if entry is None:
            self.cp_id = None
            self.title.setText("Select a charge point")
            self.state_badge.setVisible(False)
            self.reason.setVisible(False)
            self.auto.setVisible(False)
            self.identity.setVisible(False)
            self.certificates.setVisible(False)
            self._set_cards(None)
            return
        self.cp_id = entry.id
        self.title.setText(entry.id)
        background, foreground = cp_colours(entry.state)
        self.state_badge.setText(entry.state)
        self.state_badge.setStyleSheet(badge_css(background, foreground))
        self.state_badge.setVisible(True)
        self.reason.setText(entry.reason)
        self.reason.setVisible(bool(entry.reason))
        self.auto.setVisible(True)
        self.auto.show_entry(entry)
        self.identity.setVisible(True)
        self._show_identity(entry)
        self._set_cards(entry)

    def _show_identity(self, entry: CpEntry) -> None:
        s = entry.status
        if s is None:
            for label in self.fields.values():
                label.setText("—")
            self.certificates.setVisible(False)
            return
        profile = s.extra.get("security_profile")
        unit = (lambda w: f"{w / 1000:g} kW") if entry.is_dc else (lambda a: f"{a:g} A")
        per_connector = s.extra.get("max_setpoint_per_connector")
        values = {
            "Vendor": s.vendor, "Model": s.model, "Serial": s.serial,
            "Type": "DC" if entry.is_dc else "AC", "Phases": str(entry.nb_phases),
            "Voltage": f"{s.voltage:g} V", "Max": unit(s.max_setpoint),
            "Per connector": unit(per_connector) if isinstance(per_connector, int | float) else "—",
            "CSMS": s.central_system, "OCPP": str(s.extra.get("ocpp_version", "1.6")),
            "PID": str(s.pid or "—"),
            "Security": f"profile {profile:g}" if _is_number(profile) else "—",
        }
        for name, value in values.items():
            self.fields[name].setText(value)
        lines = certificate_lines(s.extra.get("certificates"))
        self.certificate_list.setText("\n".join(lines))
        self.certificates.setVisible(bool(lines))

    def _set_cards(self, entry: CpEntry | None) -> None:
        """Rebuild the cards only when the CP or its connector layout changes, else refresh."""
        key = None if entry is None else (entry.id, entry.is_dc, entry.nb_phases, tuple(sorted(entry.connectors)))
        if key != self._cards_key:
            self._cards_key = key
            for card in self.cards.values():
                card.setParent(None)
                card.deleteLater()
            self.cards = {}
            if entry is not None:
                self._add_cards(entry)
        if entry is not None:
            for n, card in self.cards.items():
                card.show_status(entry.connectors[n], entry.connector_power_w(entry.connectors[n]))

    def _add_cards(self, entry: CpEntry) -> None:
        cp_id = entry.id
        for n in sorted(entry.connectors):
            card = ConnectorCard(n, entry.is_dc, entry.nb_phases, self)
            card.car_input.connect(lambda c, car, i=cp_id: self.car_input.emit(i, c, car))
            card.tag_presented.connect(lambda c, tag, i=cp_id: self.tag_presented.emit(i, c, tag))
            card.fault_toggled.connect(lambda c, on, i=cp_id: self.fault_toggled.emit(i, c, on))
            self.cards_box.addWidget(card)
            self.cards[n] = card
