"""The real window against a real broker; the test plays the charge points and the launcher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus
from cp_simu.topics import Topics
from supervisor.bridge import ConnectionState
from supervisor.dialogs import PRESETS
from supervisor.palette import cp_colours
from supervisor.qt_models import LAUNCHER_COLUMN, STATE_COLUMN
from tests.conftest import MOSQUITTO
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until
from tests.supervisor.conftest import T, publish_cp, row_ids, wait_json


def test_retained_fleet_is_listed_coloured_counted_filtered_and_sorted(qtbot, broker, recorder_factory,
                                                                      make_window) -> None:
    rec = recorder_factory(broker.url)
    for cp_id, state in (("cp_b", "Accepted"), ("cp_a", "Pending"), ("cp_e", "Rejected"),
                         ("cp_c", "Disconnected"), ("cp_d", "Dead")):
        publish_cp(rec, cp_id, state)
    rec.publish(T.launcher_status, "Alive", retain=True)
    window = make_window(broker.url)

    qtbot.waitUntil(lambda: window.proxy.rowCount() == 5)
    assert row_ids(window) == ["cp_a", "cp_b", "cp_c", "cp_d", "cp_e"]  # sorted by id
    assert "5</b> charge points" in window.count_label.text() and "1 Dead" in window.count_label.text()
    qtbot.waitUntil(lambda: "alive" in window.launcher_indicator.text())
    assert "connected" in window.broker_indicator.text()
    assert window.table.isColumnHidden(LAUNCHER_COLUMN)  # one unnamed launcher: no Launcher column

    dead = window.proxy.index(3, STATE_COLUMN)
    assert dead.data() == "Dead"
    assert dead.data(Qt.ItemDataRole.BackgroundRole).color().name() == cp_colours("Dead")[0]

    window.table.sortByColumn(STATE_COLUMN, Qt.SortOrder.AscendingOrder)
    assert [window.proxy.index(r, STATE_COLUMN).data() for r in range(5)] == [
        "Accepted", "Dead", "Disconnected", "Pending", "Rejected"]

    qtbot.keyClicks(window.filter_edit, "dead")
    assert row_ids(window) == ["cp_d"] and "1</b> shown" in window.count_label.text()
    window.filter_edit.clear()

    # live changes: a state change recolours the row, an emptied status removes it
    publish_cp(rec, "cp_a", "Accepted")
    qtbot.waitUntil(lambda: window.fleet.get("cp_a").state == "Accepted")
    rec.publish(T.connector_status("cp_e", 1), "", retain=True)
    rec.publish(T.cp_status("cp_e"), "", retain=True)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 4)
    rec.publish(T.launcher_status, "Dead", retain=True)
    qtbot.waitUntil(lambda: "dead" in window.launcher_indicator.text())


def test_connector_card_shows_status_and_sends_contract_inputs(qtbot, broker, recorder_factory,
                                                             make_window) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "ac1", connectors=("Available", "Available"), nb_phases=3)
    publish_cp(rec, "dc1", type="DC", nb_phases=1, voltage=400, max_setpoint=150000,
               max_setpoint_per_connector=150000)
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.select("ac1"))
    panel = window.panel
    qtbot.waitUntil(lambda: sorted(panel.cards) == [1, 2])
    assert panel.fields["Max"].text() == "32 A" and panel.fields["Phases"].text() == "3"
    card = panel.cards[2]
    assert len(card.consumption) == 3

    card.cable.setValue(32)
    assert wait_json(qtbot, rec, T.connector_car("ac1", 2)) == {"cable": 32.0}
    card.ready.setChecked(False)
    wait_json(qtbot, rec, T.connector_car("ac1", 2), lambda d: d == {"ready": False})
    card.consumption[1].setValue(10)
    wait_json(qtbot, rec, T.connector_car("ac1", 2), lambda d: d == {"consumption_l2": 10.0})
    assert not card.present_button.isEnabled()
    qtbot.keyClicks(card.id_tag_edit, "TAG-42")
    qtbot.mouseClick(card.present_button, Qt.MouseButton.LeftButton)
    assert wait_json(qtbot, rec, T.connector_id_tag("ac1", 2)) == {"id": "TAG-42"}
    qtbot.mouseClick(card.fault_button, Qt.MouseButton.LeftButton)
    assert wait_json(qtbot, rec, T.connector_faulted("ac1", 2)) == {"faulted": True}

    # the CP's answer is shown, and does not echo back as an input
    sent_before = len(rec.on_topic(T.connector_car("ac1", 2)))
    rec.publish(T.connector_status("ac1", 2), ConnectorStatus(
        status="Charging", setpoint=16, ocpp_setpoint=32, max_setpoint=32, consumption_l1=16,
        consumption_l2=16, consumption_l3=16, car_cable_capacity=20, car_consumption_l1=16,
        energy_wh=1500, transaction_id=9, id_tag="TAG-42").to_json(), retain=True)
    qtbot.waitUntil(lambda: card.status_badge.text() == "Charging")
    assert "transaction 9" in card.transaction_label.text()
    assert "L1 <b>16.0 A</b>" in card.consumption_label.text() and "11.04 kW" in card.consumption_label.text()
    assert card.cable.value() == 20 and card.energy_label.text() == "1.500 kWh"
    assert not card.fault_button.isChecked()
    qtbot.wait(200)
    assert len(rec.on_topic(T.connector_car("ac1", 2))) == sent_before
    # a 2.0.1 station: the status it sent (Occupied) and its string transaction id
    rec.publish(T.connector_status("ac1", 2), ConnectorStatus(
        status="SuspendedEV", ocpp_status="Occupied", transaction_id="7c0e-41ab").to_json(), retain=True)
    qtbot.waitUntil(lambda: card.status_badge.text() == "SuspendedEV")
    assert "OCPP Occupied" in card.transaction_label.text() and "transaction 7c0e-41ab" in card.transaction_label.text()

    # DC: kW on screen, W on the wire, one consumption value
    assert window.select("dc1")
    qtbot.waitUntil(lambda: panel.cp_id == "dc1" and 1 in panel.cards)
    dc_card = panel.cards[1]
    assert len(dc_card.consumption) == 1 and panel.fields["Max"].text() == "150 kW"
    dc_card.cable.setValue(50)
    assert wait_json(qtbot, rec, T.connector_car("dc1", 1)) == {"cable": 50000.0}


def test_remove_follows_the_reference_protocol_without_blocking(qtbot, broker, recorder_factory,
                                                              make_window) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "victim", connectors=("Available", "Charging"))
    publish_cp(rec, "keeper")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)
    assert window.select("victim")
    window.remove_action.trigger()

    kill = wait_json(qtbot, rec, T.launcher_cmd)
    assert kill == {"type": "kill", "charge_points": [{"id": "victim"}]}
    assert window.fleet.get("victim") is not None  # nothing cleared while it may still run
    publish_cp(rec, "victim", "Dead", connectors=("Available", "Charging"))  # the launcher killed it

    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    assert row_ids(window) == ["keeper"]
    cleared = [m.topic for m in rec.messages if m.payload == b""]
    assert cleared == [T.connector_status("victim", 1), T.connector_status("victim", 2), T.cp_status("victim")]
    assert window.panel.cp_id != "victim"  # the list moved on to a neighbour


def test_errors_from_error_topics_are_shown(qtbot, broker, recorder_factory, make_window) -> None:
    rec = recorder_factory(broker.url)
    window = make_window(broker.url)
    report = {"topic": T.connector_car("cp9", 1), "error": "cable: expected a number, got string",
              "payload": '{"cable": "32"}'}
    rec.publish(T.cp_error("cp9"), json.dumps(report))
    qtbot.waitUntil(lambda: "cable: expected a number" in window.log_view.toPlainText())
    assert "[cp9]" in window.log_view.toPlainText()
    assert "cable: expected a number" in window.statusBar().currentMessage()
    rec.publish(T.cp_status("cp9"), "{not json", retain=True)
    qtbot.waitUntil(lambda: "malformed message on cp_simu/cps/cp9/status" in window.log_view.toPlainText())


def test_add_dialog_validates_before_sending(qtbot, broker, recorder_factory, make_window) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "busy")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    window.add_action.trigger()
    dialog = window.add_dialog
    assert dialog is not None and dialog.isVisible()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)

    dialog.cp_id.setText("bad id!")
    assert not ok.isEnabled() and "id" in dialog.error.text()
    dialog.cp_id.setText("busy")
    assert not ok.isEnabled() and "already running" in dialog.error.text()
    dialog.cp_id.setText("fast_dc")
    dialog.csms.setText("http://nope")
    assert not ok.isEnabled() and "central_system" in dialog.error.text()
    dialog.csms.setText("ws://127.0.0.1:9000/")
    dialog.preset.setCurrentIndex(next(i for i, p in enumerate(PRESETS) if p.name.startswith("DC 300")))
    assert dialog.type.currentText() == "DC" and not dialog.phases.isEnabled()
    dialog.per_connector.setValue(400)
    assert not ok.isEnabled() and "max_setpoint_per_connector" in dialog.error.text()
    dialog.per_connector.setValue(150)
    assert ok.isEnabled(), dialog.error.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)

    start = wait_json(qtbot, rec, T.launcher_cmd)
    (entry,) = start["charge_points"]
    assert start["type"] == "start"
    assert {k: entry[k] for k in ("id", "type", "nb_phases", "nb_connectors", "max_setpoint",
                                  "max_setpoint_per_connector", "voltage")} == {
        "id": "fast_dc", "type": "DC", "nb_phases": 1, "nb_connectors": 2, "max_setpoint": 300000.0,
        "max_setpoint_per_connector": 150000.0, "voltage": 800.0}
    # the new CP gets selected when it shows up
    publish_cp(rec, "fast_dc", "Disconnected", type="DC", nb_phases=1)
    qtbot.waitUntil(lambda: window.current_id() == "fast_dc")


def test_save_then_load_replaces_the_fleet_the_reference_way(qtbot, broker, recorder_factory, make_window,
                                                            tmp_path: Path) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "old_1", connectors=("Available", "Available"), max_setpoint=32, max_setpoint_per_connector=16)
    publish_cp(rec, "old_2", "Dead")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)
    path = tmp_path / "fleet.json"
    window.ask_path = lambda save: path  # type: ignore[method-assign]
    window.save_action.trigger()
    saved = json.loads(path.read_text())
    assert [e["id"] for e in saved["charge_points"]] == ["old_1", "old_2"]
    assert saved["charge_points"][0]["max_setpoint_per_connector"] == 16

    new = tmp_path / "new.json"
    new.write_text(json.dumps({"charge_points": [{"id": "new_1", "central_system": "ws://127.0.0.1:9000/"}]}))
    window.ask_path = lambda save: new  # type: ignore[method-assign]
    window.load_action.trigger()
    assert wait_json(qtbot, rec, T.launcher_cmd) == {"type": "kill", "charge_points": [{"id": "old_1"}]}
    publish_cp(rec, "old_1", "Dead", connectors=("Available", "Available"))
    start = wait_json(qtbot, rec, T.launcher_cmd, lambda d: d["type"] == "start")
    assert [e["id"] for e in start["charge_points"]] == ["new_1"]
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 0)
    assert {m.topic for m in rec.messages if m.payload == b""} == {
        T.connector_status("old_1", 1), T.connector_status("old_1", 2), T.cp_status("old_1"),
        T.connector_status("old_2", 1), T.cp_status("old_2")}

    new.write_text('{"charge_points": [{"id": "x", "nb_phases": 7}]}')
    window.load_action.trigger()
    qtbot.waitUntil(lambda: "nb_phases: must be <= 3" in window.log_view.toPlainText())


def test_connects_in_the_background_and_resyncs_after_a_broker_restart(qtbot, tmp_path: Path, make_window,
                                                                       recorder_factory) -> None:
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    conf = tmp_path / "m.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")

    def mosquitto(n: int):
        return managed([MOSQUITTO, "-c", str(conf)], log=tmp_path / f"m{n}.log")

    window = make_window(url, connect=False)
    window.connect_broker()  # nothing listens yet: must return at once and keep the GUI alive
    assert window.bridge.state == ConnectionState.CONNECTING
    assert window.connect_button.text() == "Disconnect"
    qtbot.wait(300)
    with mosquitto(1):
        wait_until(lambda: port_open(port), 10, what="mosquitto")
        publish_cp(recorder_factory(url, client_id="before"), "before_restart")
        qtbot.waitUntil(lambda: row_ids(window) == ["before_restart"], timeout=15_000)
    qtbot.waitUntil(lambda: window.bridge.state == ConnectionState.RECONNECTING, timeout=10_000)
    assert "reconnecting" in window.broker_indicator.text()
    assert row_ids(window) == ["before_restart"]  # kept while offline

    with mosquitto(2):  # a fresh broker: the old retained status is gone, a new CP is there
        wait_until(lambda: port_open(port), 10, what="mosquitto")
        publish_cp(recorder_factory(url, client_id="after"), "after_restart")
        qtbot.waitUntil(lambda: window.bridge.connected, timeout=15_000)
        qtbot.waitUntil(lambda: row_ids(window) == ["after_restart"], timeout=10_000)
        window.connect_button.click()
        assert window.bridge.state == ConnectionState.DISCONNECTED and window.connect_button.text() == "Connect"
        assert row_ids(window) == []


def test_ocpp_message_view_and_keyboard_shortcuts(qtbot, broker, recorder_factory, make_window) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "chatty")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.select("chatty"))

    window.messages_action.trigger()
    dialog = window.log_dialogs["chatty"]
    qtbot.waitUntil(lambda: T.cp_ocpp_log("chatty") in window.bridge.watched)
    window.messages_action.trigger()  # again: the same window, raised
    assert window.log_dialogs == {"chatty": dialog} and dialog.isVisible()
    qtbot.wait(200)  # the subscription reaches the broker
    rec.publish(T.cp_ocpp_log("chatty"), json.dumps(
        {"time": "2026-01-01T10:00:00.000Z", "direction": "in", "message": [2, "7", "Reset", {"type": "Soft"}]}))
    qtbot.waitUntil(lambda: dialog.model.rowCount() == 1)
    assert [dialog.proxy.index(0, c).data() for c in range(5)] == ["10:00:00.000", "◀", "Call", "Reset", "type=Soft"]
    dialog.table.selectRow(0)
    assert json.loads(dialog.detail.toPlainText()) == [2, "7", "Reset", {"type": "Soft"}]
    dialog.close()
    qtbot.waitUntil(lambda: "chatty" not in window.log_dialogs)
    assert T.cp_ocpp_log("chatty") not in window.bridge.watched

    with qtbot.waitActive(window):
        window.activateWindow()
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert wait_json(qtbot, rec, T.launcher_cmd) == {"type": "kill", "charge_points": [{"id": "chatty"}]}
    qtbot.keyClick(window.table, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert wait_json(qtbot, rec, T.cp_cmd("chatty")) == {"type": "ocpp_config"}
    config = window.config_dialogs["chatty"]
    assert config.isVisible() and T.cp_ocpp_config("chatty") in window.bridge.watched
    config.close()
    qtbot.waitUntil(lambda: "chatty" not in window.config_dialogs)
    assert T.cp_ocpp_config("chatty") not in window.bridge.watched


def test_root_prefix_is_configurable(qtbot, broker, recorder_factory, make_window) -> None:
    rec = recorder_factory(broker.url, "#")
    other = Topics("lab/sim")
    publish_cp(rec, "default_root_cp")
    rec.publish(other.cp_status("lab_cp"), CpStatus.for_definition(
        ChargePointDefinition(id="lab_cp"), 1, "Accepted").to_json(), retain=True)
    rec.publish(other.connector_status("lab_cp", 1), ConnectorStatus().to_json(), retain=True)
    window = make_window(broker.url, root="lab/sim")
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 1)
    qtbot.wait(200)
    assert row_ids(window) == ["lab_cp"]
    assert window.select("lab_cp")
    window.kill_action.trigger()
    assert wait_json(qtbot, rec, other.launcher_cmd) == {"type": "kill", "charge_points": [{"id": "lab_cp"}]}
    window.panel.cards[1].cable.setValue(16)
    assert wait_json(qtbot, rec, other.connector_car("lab_cp", 1)) == {"cable": 16.0}


def test_why_a_charge_point_is_disconnected_is_shown(qtbot, tmp_path: Path, broker, make_window) -> None:
    """A real charge point whose CSMS refuses connections: the panel and the list's tooltip say so."""
    window = make_window(broker.url)
    args = ocpp_simu("chargepoint", "--workdir", str(tmp_path / "cp"), "--broker", broker.url, "--id", "lonely",
                     "--central-system", f"ws://127.0.0.1:{free_port()}/")
    with managed(args, log=tmp_path / "cp.out"):
        qtbot.waitUntil(lambda: window.fleet.get("lonely") is not None
                        and window.fleet.get("lonely").reason == "connection refused", timeout=15_000)
        assert window.select("lonely")
        assert window.panel.reason.isVisible() and window.panel.reason.text() == "connection refused"
        tip = window.proxy.index(row_ids(window).index("lonely"), STATE_COLUMN).data(Qt.ItemDataRole.ToolTipRole)
        assert "Disconnected (connection refused)" in tip


def test_the_panel_shows_the_security_profile_and_the_certificates_held(qtbot, broker, recorder_factory,
                                                                       make_window) -> None:
    """The CP status's additive `security_profile` and `certificates` (as a charge point with a
    signed client certificate publishes them) appear in the panel; a CP without them shows none."""
    rec = recorder_factory(broker.url)
    held = [{"type": "ChargePointCertificate", "subject": "CN=secure_cp,O=Demo CPO", "serial": "5a1f",
             "valid_until": "2027-11-27T00:00:00Z"},
            {"type": "CentralSystemRootCertificate", "subject": "CN=Demo CA", "serial": "01",
             "valid_until": "2036-11-27T00:00:00Z"}]
    rec.publish(T.cp_status("secure_cp"), CpStatus.for_definition(
        ChargePointDefinition(id="secure_cp"), 77, "Accepted", security_profile=3.0,
        certificates=held).to_json(), retain=True)
    rec.publish(T.connector_status("secure_cp", 1), ConnectorStatus().to_json(), retain=True)
    publish_cp(rec, "plain_cp")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.proxy.rowCount() == 2)

    assert window.select("secure_cp")
    assert window.panel.fields["Security"].text() == "profile 3"
    assert window.panel.certificates.isVisible()
    shown = window.panel.certificate_list.text().splitlines()
    assert shown == ["ChargePointCertificate: CN=secure_cp,O=Demo CPO (serial 5a1f, valid until 2027-11-27T00:00:00Z)",
                     "CentralSystemRootCertificate: CN=Demo CA (serial 01, valid until 2036-11-27T00:00:00Z)"]

    assert window.select("plain_cp")
    assert window.panel.fields["Security"].text() == "—"
    assert not window.panel.certificates.isVisible()
