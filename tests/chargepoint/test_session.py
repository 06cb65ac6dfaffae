"""End to end against the demo CSMS and Mosquitto: boot, MQTT contract, sessions, stop reasons."""

from __future__ import annotations

import json
import time

import pytest

from cp_simu.process import read_marker
from supervisor.ocpp_frames import OcppFrame
from tests.chargepoint.conftest import ANY, Driver, T, call, messages, wait_message
from tests.conftest import MOSQUITTO
from tests.procs import managed, wait_until


def test_boot_and_statuses(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, vendor="ACME", model="Sim-1", serial="SN-42", nb_connectors=2)
    status = ui.status("Accepted")
    assert status["pid"] == cp.process.pid == read_marker(cp.directory)[0]
    assert {k: status[k] for k in ("vendor", "model", "serial", "ocpp_version", "nb_connectors",
                                   "type", "nb_phases")} == {
        "vendor": "ACME", "model": "Sim-1", "serial": "SN-42", "ocpp_version": "1.6", "nb_connectors": 2,
        "type": "AC", "nb_phases": 3}
    (boot,) = messages(csms, "BootNotification")
    assert boot["chargePointVendor"] == "ACME" and boot["chargePointSerialNumber"] == "SN-42"
    wait_until(lambda: {p["connectorId"] for p in messages(csms, "StatusNotification")} == {0, 1, 2},
               what="StatusNotification for connectors 0, 1 and 2")
    for n in (1, 2):
        assert ui.connector("Available", n)["max_setpoint"] == 32.0
    for name in ("config.ini", "state.json", "queue.jsonl", "ocpp.log", "chargepoint.log", "process.json"):
        assert (cp.directory / name).exists(), name


def test_plug_and_tag_start_then_unplug_stops(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    wait_message(csms, "StatusNotification", lambda p: p["connectorId"] == 1)  # announced after registration
    ui.car()
    ui.connector("Preparing")
    ui.tag("TAG1")  # how fast it reacts is measured by bench/latency.py, not asserted here
    start = wait_message(csms, "StartTransaction")
    assert start["idTag"] == "TAG1" and start["connectorId"] == 1 and start["meterStart"] == 0
    assert [p["idTag"] for p in messages(csms, "Authorize")] == ["TAG1"]
    charging = ui.connector("Charging", transaction_id=ANY)
    assert charging["id_tag"] == "TAG1" and charging["setpoint"] == 32.0
    assert charging["consumption_l1"] == 16.0 and charging["power_w"] == 3 * 16 * 230
    assert ui.wait(T.connector_status("CP1", 1), lambda d: d["energy_wh"] > 1.0)["status"] == "Charging"
    ui.car(cable=0)
    stop = wait_message(csms, "StopTransaction")
    assert stop["reason"] == "EVDisconnected" and stop["transactionId"] == charging["transaction_id"]
    assert stop["meterStop"] >= 1 and "idTag" not in stop
    assert ui.connector("Available")["transaction_id"] is None
    wait_until(lambda: [p["status"] for p in messages(csms, "StatusNotification") if p["connectorId"] == 1]
               == ["Available", "Preparing", "Charging", "Available"], 15, what="the statuses at the CSMS")


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_no_status_overtakes_the_stop_that_caused_it(broker, csms, recorder_factory, cp_factory, version) -> None:
    """Both cars leave at the same moment: each connector's Available reaches the CSMS after
    its own StopTransaction (2.0.1: TransactionEvent Ended), though the second stop waits
    behind the first."""
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, ocpp_version=version)
    ui.status("Accepted")
    connector_of = {}
    for n in (1, 2):
        ui.car(n, cable=32.0, consumption_l1=10.5, consumption_l2=10.5, consumption_l3=10.5)
        ui.tag(f"TAG{n}", n)
        connector_of[ui.connector("Charging", n, transaction_id=ANY)["transaction_id"]] = n
    since = len(csms.messages(cp_id="CP1"))
    for n in (1, 2):
        ui.publish(T.connector_car("CP1", n), {"cable": 0})

    def arrivals() -> list[tuple[str, int]]:
        """("stop", connector) and ("Available", connector), in the order the CSMS got them."""
        seen = []
        for m in csms.messages(cp_id="CP1")[since:]:
            p = m.get("payload") or {}
            if m.get("message_type") != "call":
                continue
            if m["action"] == "StopTransaction" or (m["action"] == "TransactionEvent" and p["eventType"] == "Ended"):
                seen.append(("stop", connector_of[p.get("transactionId") or p["transactionInfo"]["transactionId"]]))
            elif m["action"] == "StatusNotification" and (p.get("status") or p.get("connectorStatus")) == "Available":
                seen.append(("Available", p.get("connectorId") if version == "1.6" else p["evseId"]))
        return seen

    wait_until(lambda: len(arrivals()) >= 4, 15, what="both stops and both Available at the CSMS")
    seen = arrivals()
    for n in (1, 2):
        assert seen.index(("stop", n)) < seen.index(("Available", n)), seen


def test_tag_first_then_timeout(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"ConnectionTimeOut": "1"})
    ui.status("Accepted")
    ui.tag("TAG1")
    assert ui.connector("Preparing")["id_tag"] == "TAG1"
    ui.connector("Available", timeout=5)  # ConnectionTimeOut: the car never came
    ui.car()
    ui.connector("Preparing")
    time.sleep(0.3)
    assert not messages(csms, "StartTransaction")
    ui.tag("TAG2")
    assert wait_message(csms, "StartTransaction")["idTag"] == "TAG2"
    ui.connector("Charging")


def test_stop_reasons_local_fault_remote_unlock(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    # the same tag again: Local, then Finishing until the car leaves
    ui.start_session()
    ui.tag("TAG1")
    assert wait_message(csms, "StopTransaction")["reason"] == "Local"
    ui.connector("Finishing")
    # a second, different tag does not stop someone else's session
    ui.tag("TAG1")
    ui.connector("Charging", transaction_id=ANY)
    ui.tag("OTHER")
    wait_until(lambda: "OTHER" in [p["idTag"] for p in messages(csms, "Authorize")], what="Authorize OTHER")
    time.sleep(0.3)
    assert len(messages(csms, "StopTransaction")) == 1
    # fault: Other, Faulted with an error code
    ui.fault(True)
    assert wait_message(csms, "StopTransaction", lambda p: p["reason"] == "Other")
    assert ui.connector("Faulted")["error_code"] == "OtherError"
    assert wait_message(csms, "StatusNotification", lambda p: p["status"] == "Faulted")["errorCode"] == \
        "OtherError"
    ui.fault(False)
    ui.connector("Finishing")
    # remote stop: Remote
    tx = ui.start_session(tag="TAG3")["transaction_id"]
    assert call(csms.api, "CP1", "RemoteStopTransaction", {"transactionId": tx + 100})["status"] == "Rejected"
    assert call(csms.api, "CP1", "RemoteStopTransaction", {"transactionId": tx})["status"] == "Accepted"
    assert wait_message(csms, "StopTransaction", lambda p: p["reason"] == "Remote")["transactionId"] == tx
    # unlock: UnlockCommand
    ui.start_session(tag="TAG4")
    assert call(csms.api, "CP1", "UnlockConnector", {"connectorId": 1})["status"] == "Unlocked"
    assert call(csms.api, "CP1", "UnlockConnector", {"connectorId": 5})["status"] == "NotSupported"
    assert wait_message(csms, "StopTransaction", lambda p: p["reason"] == "UnlockCommand")
    assert [p["reason"] for p in messages(csms, "StopTransaction")] == ["Local", "Other", "Remote",
                                                                        "UnlockCommand"]
    assert cp.process.alive()


def test_remote_start_selection_and_authorization(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, ocpp={"AuthorizeRemoteTxRequests": "false"})
    ui.status("Accepted")
    ui.car(2)
    ui.connector("Preparing", 2)
    # no connector given: the CP picks the one where a car waits
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "REMOTE1"})["status"] == "Accepted"
    start = wait_message(csms, "StartTransaction")
    assert start["connectorId"] == 2 and start["idTag"] == "REMOTE1"
    assert not messages(csms, "Authorize")  # AuthorizeRemoteTxRequests = false
    assert call(csms.api, "CP1", "RemoteStartTransaction",
                {"idTag": "REMOTE2", "connectorId": 2})["status"] == "Rejected"  # busy
    assert call(csms.api, "CP1", "ChangeConfiguration",
                {"key": "AuthorizeRemoteTxRequests", "value": "true"})["status"] == "Accepted"
    ui.mark = len(ui.rec.messages)
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "REMOTE3"})["status"] == "Accepted"
    assert wait_message(csms, "Authorize")["idTag"] == "REMOTE3"
    assert ui.connector("Preparing", 1)["id_tag"] == "REMOTE3"
    ui.car(1)
    assert wait_message(csms, "StartTransaction", lambda p: p["connectorId"] == 1)["idTag"] == "REMOTE3"


def test_refused_tags(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.car()
    # not authorized before the start: the CSMS's StartTransaction answer stops it
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "BAD1", "connectorId": 1})["status"] == \
        "Accepted"
    assert wait_message(csms, "StopTransaction")["reason"] == "DeAuthorized"
    ui.connector("Finishing")
    # a refused tag presented locally never starts anything
    ui.car(cable=0)
    ui.car()
    ui.tag("BAD2")
    wait_until(lambda: "BAD2" in [p["idTag"] for p in messages(csms, "Authorize")], what="Authorize BAD2")
    time.sleep(0.3)
    assert len(messages(csms, "StartTransaction")) == 1
    assert ui.rec.last_json(T.connector_status("CP1", 1))["status"] == "Preparing"


@pytest.mark.parametrize("payload", ["not json", '{"cable": "big"}', '{"ready": 1}', "[1, 2]"])
def test_malformed_input_goes_to_the_error_topic(broker, csms, recorder_factory, cp_factory,
                                                 payload: str) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    for topic in (T.connector_car("CP1", 1), T.connector_car("CP1", 0), T.connector_car("CP1", 99),
                  T.connector_car("CP1", "²")):
        ui.publish(topic, payload)
    ui.publish(T.connector_id_tag("CP1", 1), '{"id": 5}')
    ui.publish(T.connector_faulted("CP1", 1), '{"faulted": "yes"}')
    ui.publish(T.connector_faulted("CP1", "１"), '{"faulted": true}')  # a full-width 1 is no connector 1
    ui.publish(T.cp_cmd("CP1"), '{"type": "explode"}')
    ui.publish(T.cp_cmd("CP1"), '{"type": "auto", "seed": NaN}')
    wait_until(lambda: len(ui.rec.on_topic(T.cp_error("CP1"))) >= 9, what="nine error reports")
    errors = [json.loads(m.payload) for m in ui.rec.on_topic(T.cp_error("CP1"))]
    assert {e["topic"] for e in errors} == {
        T.connector_car("CP1", 1), T.connector_car("CP1", 0), T.connector_car("CP1", 99), T.connector_car("CP1", "²"),
        T.connector_id_tag("CP1", 1), T.connector_faulted("CP1", 1), T.connector_faulted("CP1", "１"), T.cp_cmd("CP1")}
    assert any(e["error"].startswith("seed: expected an integer") for e in errors), errors
    assert all(e["error"] and isinstance(e["payload"], str) for e in errors)
    ui.start_session()  # still working
    assert cp.process.alive()


def test_retained_commands_and_inputs_are_refused_not_acted_on_at_every_start(any_broker, csms, recorder_factory,
                                                                               cp_factory) -> None:
    """Inputs act once, when sent: a stray retained `close` would close the charge point at
    every start, a retained `faulted` fault it again after every restart."""
    ui = Driver(recorder_factory(any_broker.url))
    ui.rec.publish(T.cp_cmd("CP1"), '{"type": "close"}', retain=True)
    ui.rec.publish(T.connector_faulted("CP1", 1), '{"faulted": true}', retain=True)
    cp = cp_factory(csms.url, any_broker.url)
    ui.status("Accepted")
    wait_until(lambda: len(ui.rec.on_topic(T.cp_error("CP1"))) >= 2, 10, what="both refusals")
    errors = [json.loads(m.payload) for m in ui.rec.on_topic(T.cp_error("CP1"))]
    assert {e["topic"] for e in errors} == {T.cp_cmd("CP1"), T.connector_faulted("CP1", 1)}, errors
    assert all("publishing an empty retained message" in e["error"] for e in errors)
    ui.start_session()  # neither closed nor faulted
    assert cp.process.alive()
    ui.publish(T.cp_cmd("CP1"), '{"type": "close"}')  # sent live, it acts
    ui.status("Dead")


def test_an_id_tag_too_long_for_ocpp_16_is_refused_on_the_error_topic(broker, csms, recorder_factory,
                                                                        cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.car()
    ui.tag("T" * 21)
    error = ui.wait(T.cp_error("CP1"), lambda e: e["topic"] == T.connector_id_tag("CP1", 1))
    assert "20" in error["error"] and "OCPP 1.6" in error["error"]
    ui.tag("T" * 20)  # the longest a 1.6 id tag can be
    assert ui.connector("Charging", transaction_id=ANY)["id_tag"] == "T" * 20
    assert [p["idTag"] for p in messages(csms, "Authorize")] == ["T" * 20]


def test_a_simulated_fault_survives_a_kill_and_restart(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.fault(True)
    ui.connector("Faulted", error_code="OtherError")
    cp.kill()
    ui.from_now()
    cp.start()
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
    assert ui.rec.last_json(T.connector_status("CP1", 1))["status"] == "Faulted"
    faulted = [p for p in messages(csms, "StatusNotification") if p["connectorId"] == 1 and p["status"] == "Faulted"]
    wait_until(lambda: len([p for p in messages(csms, "StatusNotification")
                            if p["connectorId"] == 1 and p["status"] == "Faulted"]) == 2,
               what="the fault reported again after the restart")
    assert faulted[0]["errorCode"] == "OtherError"
    ui.fault(False)
    ui.connector("Available", error_code="NoError")


def test_close_command_sigterm_and_sigkill(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.publish(T.cp_cmd("CP1"), {"type": "ocpp_config"})
    dump = ui.wait(T.cp_ocpp_config("CP1"), lambda d: True)
    assert dump["HeartbeatInterval"] == "300" and dump["NumberOfConnectors"] == "1"
    ui.publish(T.cp_cmd("CP1"), {"type": "close"})
    assert cp.process.wait(10) == 0
    assert ui.status("Dead")["pid"] == cp.process.pid
    events = [json.loads(line) for line in csms.log.read_text().splitlines()]
    assert [e.get("code") for e in events if e.get("event") == "disconnected"] == [1000]
    for how in (15, 9):  # SIGTERM: the same clean close; SIGKILL: the MQTT will says Dead
        ui.mark = len(ui.rec.messages)
        cp.start()
        ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
        ui.mark = len(ui.rec.messages)
        cp.process.signal(how)
        assert cp.process.wait(10) == (0 if how == 15 else -9)
        assert ui.status("Dead", timeout=30)["pid"] == cp.process.pid


def test_suspended_ev_and_evse(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"StopTransactionOnInvalidId": "false"})
    ui.status("Accepted")
    ui.start_session()
    ui.car(ready=False)
    assert ui.connector("SuspendedEV")["power_w"] == 0
    ui.car(ready=True)
    ui.connector("Charging")
    ui.tag("TAG1")
    ui.car(cable=0)
    ui.car()
    ui.connector("Preparing")
    # the CSMS refuses the tag in its StartTransaction answer: no energy, the session stays open
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "BAD1"})["status"] == "Accepted"
    assert ui.connector("SuspendedEVSE", transaction_id=ANY)["setpoint"] == 0
    statuses = wait_until(lambda: (found := [p["status"] for p in messages(csms, "StatusNotification")
                                             if p["connectorId"] == 1])[-1] == "SuspendedEVSE" and found,
                          what="SuspendedEVSE at the CSMS")
    assert statuses[-2:] == ["Preparing", "SuspendedEVSE"] and "SuspendedEV" in statuses  # never Charging


def test_statuses_come_back_after_a_broker_restart(broker, csms, recorder_factory, cp_factory) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("restarts a Mosquitto broker")
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.car()
    ui.connector("Preparing")
    conf = broker.process.log_path.parent / f"mosquitto-{broker.port}.conf"
    broker.process.stop()
    with managed([MOSQUITTO, "-c", str(conf)], log=conf.with_suffix(".log2")):  # no persistence: all gone
        ui.mark = 0
        ui.rec.messages.clear()
        ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted", timeout=30)
        assert ui.rec.last_json(T.connector_status("CP1", 1))["status"] == "Preparing"
        assert cp.process.alive()


def test_local_pre_authorize_uses_the_cache(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"LocalPreAuthorize": "true"})
    ui.status("Accepted")
    ui.start_session()
    ui.tag("TAG1")
    ui.car(cable=0)
    ui.connector("Available")
    ui.start_session()  # TAG1 is cached as Accepted: no second Authorize
    assert len(messages(csms, "StartTransaction")) == 2
    assert [p["idTag"] for p in messages(csms, "Authorize")] == ["TAG1"]


def test_every_frame_is_published_on_ocpp_log(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    wait_message(csms, "StatusNotification", lambda p: p["connectorId"] == 1)  # nothing else sent meanwhile
    assert call(csms.api, "CP1", "GetLocalListVersion") == {"listVersion": 0}
    topic = T.cp_ocpp_log("CP1")
    log_file = cp.directory / "ocpp.log"

    def settled() -> list | None:
        """Every frame logged so far also published (late StatusNotification answers included)."""
        published = ui.rec.on_topic(topic)
        lines = log_file.read_text().splitlines()
        texts = [m.text for m in published]
        answered = any(b"listVersion" in m.payload and b'"out"' in m.payload for m in published)
        return published if answered and texts == lines[len(lines) - len(texts):] else None

    published = wait_until(settled, what="the GetLocalListVersion frames on ocpp_log, as in ocpp.log")
    # one message per frame since MQTT connected: the ocpp.log lines, in order, not retained
    assert not any(m.retain for m in published)
    frames = [(m, json.loads(m.payload)) for m in published]
    request = next(f for _, f in frames if f["direction"] == "in" and f["message"][2:] == ["GetLocalListVersion", {}])
    answer_message, answer = next((m, f) for m, f in frames
                                  if f["direction"] == "out" and f["message"][:2] == [3, request["message"][1]])
    assert answer["message"] == [3, request["message"][1], {"listVersion": 0}]
    # what the supervisor's OCPP message table shows: the answer to GetLocalListVersion, sent
    shown = OcppFrame.parse(answer_message.payload)
    assert (shown.direction, shown.kind, shown.unique_id, shown.summary) == (
        "out", "Result", request["message"][1], "listVersion=0")
