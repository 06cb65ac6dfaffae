"""Security inputs of the supervisor: a charge point's OCPP security settings (Add dialog)
and the MQTT credentials / TLS files of the broker connection.

Passwords are typed into hidden fields, kept in memory only (never in QSettings), and
shown nowhere once typed.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cp_simu.broker_access import BrokerAccess

PROFILES = ("0 · none (ws://)", "1 · Basic auth", "2 · TLS + Basic auth", "3 · TLS + client certificate")
PEM_FILTER = "PEM files (*.pem *.crt *.key);;All files (*)"


class PathEdit(QWidget):
    """A file path with a Browse… button."""

    textChanged = Signal(str)

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.textChanged.connect(self.textChanged)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit)
        layout.addWidget(browse)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(text)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.text(), PEM_FILTER)
        if path:
            self.edit.setText(path)


def password_edit() -> QLineEdit:
    edit = QLineEdit()
    edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class CpSecurityFields:
    """The per-charge-point security keys of a start entry, as form rows."""

    def __init__(self) -> None:
        self.profile = QComboBox()
        self.profile.addItems(list(PROFILES))
        self.password = password_edit()
        self.password.setPlaceholderText("AuthorizationKey / BasicAuthPassword (profiles 1, 2)")
        self.ca_file = PathEdit("CA bundle verifying the CSMS (profiles 2, 3; empty: the system's)")
        self.client_cert = PathEdit("client certificate (profile 3)")
        self.client_key = PathEdit("its private key (profile 3)")
        self.skip_hostname_check = QCheckBox("skip the host name check (lab CSMS only)")
        self.allow_self_signed = QCheckBox("trust a self-signed CSMS certificate (lab CSMS only)")

    def add_rows(self, form: QFormLayout) -> None:
        form.addRow("Security profile", self.profile)
        form.addRow("Basic auth password", self.password)
        form.addRow("CA file", self.ca_file)
        form.addRow("Client certificate", self.client_cert)
        form.addRow("Client key", self.client_key)
        form.addRow("TLS", self.skip_hostname_check)
        form.addRow("", self.allow_self_signed)

    def values(self) -> dict[str, object]:
        """Only what is set: a CP without security gets an entry the reference understands."""
        values: dict[str, object] = {"security_profile": self.profile.currentIndex(),
                                     "basic_auth_password": self.password.text(),
                                     "ca_file": self.ca_file.text(), "client_cert": self.client_cert.text(),
                                     "client_key": self.client_key.text(),
                                     "tls_skip_hostname_check": self.skip_hostname_check.isChecked(),
                                     "tls_allow_self_signed": self.allow_self_signed.isChecked()}
        return {k: v for k, v in values.items() if v}


class BrokerSecurityDialog(QDialog):
    """User name, password and TLS files of the broker connection (the URL keeps host and port)."""

    def __init__(self, access: BrokerAccess, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("MQTT broker security")
        self._access = access
        self.username = QLineEdit(access.url.username or "")
        self.password = password_edit()
        self.password.setText(access.url.password or "")
        self.ca_file = PathEdit("CA bundle verifying an mqtts:// broker (empty: the system's)")
        self.ca_file.setText(access.ca_file)
        self.client_cert = PathEdit("client certificate, if the broker asks for one")
        self.client_cert.setText(access.client_cert)
        self.client_key = PathEdit("its private key, if not in the certificate file")
        self.client_key.setText(access.client_key)
        form = QFormLayout()
        form.addRow("User name", self.username)
        form.addRow("Password", self.password)
        form.addRow("CA file", self.ca_file)
        form.addRow("Client certificate", self.client_cert)
        form.addRow("Client key", self.client_key)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.setMinimumWidth(460)

    def access(self) -> BrokerAccess:
        """The connection's access with what was typed (host, port and scheme unchanged)."""
        url = replace(self._access.url, username=self.username.text().strip() or None,
                      password=self.password.text() or None)
        return BrokerAccess(url, ca_file=self.ca_file.text(), client_cert=self.client_cert.text(),
                            client_key=self.client_key.text())
