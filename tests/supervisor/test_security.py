"""Supervisor security: MQTT credentials on a protected broker, the Add dialog's security
fields, the lock column, and setup files saved without passwords unless asked for."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cp_simu.broker_access import BrokerAccess
from cp_simu.urls import BrokerUrl
from supervisor.qt_models import SECURITY_COLUMN
from supervisor.security_widgets import BrokerSecurityDialog
from tests.conftest import Broker, start_mosquitto
from tests.supervisor.conftest import T, publish_cp, wait_json

USER, PASSWORD = "supervisor", "Sup-Broker-Pass-5"
CP_PASSWORD = "Cp-Basic-Auth-Pass-8"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto that admits only USER; `url` has no credentials."""
    yield from start_mosquitto(tmp_path, users={USER: PASSWORD})


def with_credentials(broker: Broker) -> BrokerAccess:
    return BrokerAccess(BrokerUrl.parse(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{broker.port}"))


def test_credentials_from_the_security_dialog_connect_and_are_never_shown(qtbot, broker, make_window) -> None:
    window = make_window(broker.url, connect=False)
    window.connect_broker()
    qtbot.wait(1500)
    assert not window.bridge.connected  # anonymous: refused
    dialog = BrokerSecurityDialog(window._typed_access(), window)
    dialog.username.setText(USER)
    dialog.password.setText(PASSWORD)
    window.broker_access = dialog.access()
    window.connect_broker()
    qtbot.waitUntil(lambda: window.bridge.connected, timeout=10_000)
    assert PASSWORD not in window.windowTitle() and PASSWORD not in window.url_edit.text()


def test_a_password_typed_into_the_url_leaves_the_field(qtbot, broker, make_window) -> None:
    window = make_window(broker.url, connect=False)
    window.url_edit.setText(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{broker.port}")
    window.connect_broker()
    qtbot.waitUntil(lambda: window.bridge.connected, timeout=10_000)
    assert window.url_edit.text() == broker.url
    assert PASSWORD not in window.windowTitle()


def test_add_dialog_security_fields_lock_column_and_setup_without_passwords(
        qtbot, broker, recorder_factory, make_window, tmp_path: Path) -> None:
    access = with_credentials(broker)
    rec = recorder_factory(access)
    window = make_window(access)
    window.add_action.trigger()
    dialog = window.add_dialog
    dialog.cp_id.setText("secure_1")
    dialog.csms.setText("wss://cp:url-pass-77@127.0.0.1:9443/ocpp")
    dialog.security.profile.setCurrentIndex(2)
    dialog.security.password.setText(CP_PASSWORD)
    dialog.security.ca_file.setText("/etc/ssl/ca.pem")
    dialog.security.allow_self_signed.setChecked(True)
    assert dialog.security.password.echoMode() == dialog.security.password.EchoMode.Password
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled(), dialog.error.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    (entry,) = wait_json(qtbot, rec, T.launcher_cmd)["charge_points"]
    assert {k: entry[k] for k in ("security_profile", "basic_auth_password", "ca_file")} == {
        "security_profile": 2, "basic_auth_password": CP_PASSWORD, "ca_file": "/etc/ssl/ca.pem"}
    assert entry["tls_allow_self_signed"] is True
    assert "client_cert" not in entry and "tls_skip_hostname_check" not in entry

    # the CP shows up, with its profile in its status (additive field) and a redacted URL
    publish_cp(rec, "secure_1", central_system="wss://cp:***@127.0.0.1:9443/ocpp")
    status = json.loads(rec.last(T.cp_status("secure_1")))
    rec.publish(T.cp_status("secure_1"), json.dumps({**status, "security_profile": 2}), retain=True)
    publish_cp(rec, "plain_1")
    qtbot.waitUntil(lambda: window.fleet.get("secure_1") is not None
                    and window.fleet.get("secure_1").security_profile == 2)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)
    texts = {window.proxy.index(r, 0).data(): window.proxy.index(r, SECURITY_COLUMN).data() for r in range(2)}
    assert texts == {"secure_1": "\N{LOCK} 2", "plain_1": ""}

    plain = tmp_path / "plain.json"
    assert window.save_setup(plain)
    saved = {e["id"]: e for e in json.loads(plain.read_text())["charge_points"]}
    assert saved["secure_1"]["security_profile"] == 2 and saved["secure_1"]["ca_file"] == "/etc/ssl/ca.pem"
    assert CP_PASSWORD not in plain.read_text() and "url-pass-77" not in plain.read_text()
    assert "basic_auth_password" not in saved["secure_1"]

    window.save_secrets_action.setChecked(True)
    full = tmp_path / "full.json"
    assert window.save_setup(full)
    saved = {e["id"]: e for e in json.loads(full.read_text())["charge_points"]}
    assert saved["secure_1"]["basic_auth_password"] == CP_PASSWORD
    assert saved["secure_1"]["central_system"] == "wss://cp:url-pass-77@127.0.0.1:9443/ocpp"
    assert stat.S_IMODE(full.stat().st_mode) == 0o600
