"""End to end: CSMS-initiated operations, configuration, registration, metering, sharing."""

from __future__ import annotations

import time
from datetime import datetime

from cp_simu.config import load_config
from tests.chargepoint.conftest import ANY, Driver, T, call, messages, wait_message
from tests.procs import wait_until


def test_reset_with_a_transaction(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    for kind in ("Soft", "Hard"):
        tx = ui.start_session()["transaction_id"]
        boots = len(messages(csms, "BootNotification"))
        assert call(csms.api, "CP1", "Reset", {"type": kind}) == {"status": "Accepted"}
        stop = wait_message(csms, "StopTransaction", lambda p, tx=tx: p["transactionId"] == tx)
        assert stop["reason"] == f"{kind}Reset"
        wait_until(lambda b=boots: len(messages(csms, "BootNotification")) == b + 1, what="a new boot")
        ui.status("Accepted")
        assert ui.rec.last_json(T.cp_status("CP1"))["pid"] == cp.process.pid  # the process survives
        ui.connector("Finishing")
        ui.car(cable=0)
        ui.connector("Available")
    # each reset's StopTransaction reaches the CSMS before the BootNotification that follows it
    actions = [m["action"] for m in csms.messages(direction="in") if m["message_type"] == "call"]
    boots = [i for i, a in enumerate(actions) if a == "BootNotification"]
    stops = [i for i, a in enumerate(actions) if a == "StopTransaction"]
    assert len(boots) == 3 and boots[0] < stops[0] < boots[1] < stops[1] < boots[2]
    assert actions[boots[2] + 1] == "StatusNotification"


def test_change_availability(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2)
    ui.status("Accepted")
    ui.start_session(1)
    assert call(csms.api, "CP1", "ChangeAvailability", {"connectorId": 1, "type": "Inoperative"}) == \
        {"status": "Scheduled"}
    assert call(csms.api, "CP1", "ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}) == \
        {"status": "Accepted"}
    ui.connector("Unavailable", 2)
    assert call(csms.api, "CP1", "ChangeAvailability", {"connectorId": 7, "type": "Inoperative"}) == \
        {"status": "Rejected"}
    ui.tag("TAG1")  # the session ends: the scheduled change applies
    assert wait_message(csms, "StopTransaction")["reason"] == "Local"
    ui.connector("Unavailable", 1)
    wait_message(csms, "StatusNotification", lambda p: p["connectorId"] == 0 and p["status"] == "Unavailable")
    ui.car(2)
    ui.tag("TAG2", 2)
    time.sleep(0.3)
    assert len(messages(csms, "StartTransaction")) == 1
    # connector 0 is the whole charge point
    assert call(csms.api, "CP1", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}) == \
        {"status": "Accepted"}
    ui.connector("Finishing", 1)
    ui.connector("Preparing", 2)
    wait_message(csms, "StatusNotification", lambda p: p["connectorId"] == 0 and p["status"] == "Available")
    assert call(csms.api, "CP1", "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}) == \
        {"status": "Accepted"}
    ui.connector("Unavailable", 1)
    ui.connector("Unavailable", 2)


def test_configuration_persists_across_restart(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    change = {"key": "MeterValueSampleInterval", "value": "17"}
    assert call(csms.api, "CP1", "ChangeConfiguration", change) == {"status": "Accepted"}
    for key, value, status in (("NumberOfConnectors", "3", "Rejected"), ("Bogus", "1", "NotSupported"),
                               ("HeartbeatInterval", "x", "Rejected"),
                               ("WebSocketPingInterval", "12", "RebootRequired")):
        assert call(csms.api, "CP1", "ChangeConfiguration", {"key": key, "value": value}) == {"status": status}
    assert load_config(cp.directory / "config.ini").ocpp["MeterValueSampleInterval"] == "17"
    ui.start_session()
    ui.wait(T.connector_status("CP1", 1), lambda d: d["energy_wh"] > 2)
    ui.tag("TAG1")
    meter_stop = wait_message(csms, "StopTransaction")["meterStop"]
    cp.kill()
    ui.mark = len(ui.rec.messages)
    cp.start()
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
    # the energy register survived too
    assert ui.connector("Preparing")["energy_wh"] >= meter_stop >= 2
    answer = call(csms.api, "CP1", "GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope",
                                                                "NumberOfConnectors"]})
    assert answer["configurationKey"] == [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "17"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"}]
    assert answer["unknownKey"] == ["Nope"]
    every = call(csms.api, "CP1", "GetConfiguration", {})["configurationKey"]
    assert {k["key"] for k in every} >= {"HeartbeatInterval", "ConnectionTimeOut", "MeterValuesSampledData",
                                         "StopTxnSampledData", "SupportedFeatureProfiles"}
    assert call(csms.api, "CP1", "ClearCache") == {"status": "Accepted"}
    assert call(csms.api, "CP1", "DataTransfer", {"vendorId": "acme", "data": "x"})["status"] == \
        "UnknownVendorId"


def test_meter_values_sampled_aligned_and_in_stop(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered," \
                 "Power.Offered,Voltage"
    cp_factory(csms.url, broker.url, nb_phases=3, ocpp={
        "MeterValueSampleInterval": "1", "MeterValuesSampledData": measurands,
        "ClockAlignedDataInterval": "2", "MeterValuesAlignedData": "Energy.Active.Import.Register",
        "StopTxnSampledData": "Energy.Active.Import.Register,Power.Active.Import"})
    ui.status("Accepted")
    tx = ui.start_session()["transaction_id"]
    periodic = wait_until(lambda: [p for p in messages(csms, "MeterValues")
                                   if p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"],
                          what="periodic MeterValues")[0]
    assert periodic["transactionId"] == tx and periodic["connectorId"] == 1
    values = periodic["meterValue"][0]["sampledValue"]
    by = {(v["measurand"], v.get("phase")): v for v in values}
    assert by[("Power.Active.Import", None)] == {
        "value": str(3 * 16 * 230), "context": "Sample.Periodic", "format": "Raw",
        "measurand": "Power.Active.Import", "location": "Outlet", "unit": "W"}
    assert [by[("Current.Import", p)]["value"] for p in ("L1", "L2", "L3")] == ["16", "16", "16"]
    assert by[("Current.Offered", None)]["value"] == "32" and by[("Voltage", "L1-N")]["value"] == "230"
    assert by[("Power.Offered", None)]["value"] == str(32 * 230 * 3)
    assert by[("Energy.Active.Import.Register", None)]["unit"] == "Wh"
    wait_until(lambda: [p for p in messages(csms, "MeterValues")
                        if p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"],
               what="clock-aligned MeterValues")
    time.sleep(1.2)
    ui.tag("TAG1")
    stop = wait_message(csms, "StopTransaction")
    contexts = [mv["sampledValue"][0]["context"] for mv in stop["transactionData"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert "Sample.Periodic" in contexts
    assert {v["measurand"] for mv in stop["transactionData"] for v in mv["sampledValue"]} == {
        "Energy.Active.Import.Register", "Power.Active.Import"}
    registers = [int(v["value"]) for mv in stop["transactionData"] for v in mv["sampledValue"]
                 if v["measurand"] == "Energy.Active.Import.Register"]
    assert registers == sorted(registers) and registers[-1] == stop["meterStop"] > 0


def test_boot_pending_then_accepted(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory("--boot-status", "Pending", "--pending-boots", "1", "--boot-retry-interval", "1")
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Pending")
    ui.status("Accepted")
    first, second = (datetime.fromisoformat(m["time"].replace("Z", "+00:00"))
                     for m in csms.messages(action="BootNotification", direction="in"))
    assert (second - first).total_seconds() >= 0.9  # retried at the interval the CSMS gave
    actions = [m["action"] for m in csms.messages(direction="in") if m["message_type"] == "call"]
    assert actions[:2] == ["BootNotification", "BootNotification"]  # nothing else until Accepted
    assert wait_message(csms, "StatusNotification")


def test_an_accepted_triggered_boot_ends_pending_at_once(broker, csms_factory, recorder_factory,
                                                         cp_factory) -> None:
    csms = csms_factory("--boot-status", "Pending", "--pending-boots", "1", "--boot-retry-interval", "120",
                        "--heartbeat-interval", "1")
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Pending")
    ui.car()
    ui.tag("TAG1")  # refused while Pending: no Authorize
    time.sleep(0.3)
    assert ui.rec.last_json(T.connector_status("CP1", 1))["status"] == "Preparing" and not messages(csms, "Authorize")
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
    ui.status("Accepted", timeout=5)  # not after the 120 s the Pending answer asked for
    assert wait_message(csms, "StatusNotification", lambda p: p["connectorId"] == 1, timeout=5)
    wait_until(lambda: csms.messages(action="Heartbeat", direction="in"), 5,
               what="a Heartbeat at the interval of the accepted boot")
    ui.tag("TAG1")
    assert len(csms.messages(action="BootNotification", direction="in")) == 2
    assert ui.connector("Charging", transaction_id=ANY, timeout=5)["id_tag"] == "TAG1"


def test_unreachable_csms_then_heartbeats_only(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory("--heartbeat-interval", "1", start=False)
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Disconnected")
    ui.connector("Available")
    time.sleep(1)
    assert cp.process.alive()
    csms.start()
    ui.status("Accepted", timeout=15)
    assert load_config(cp.directory / "config.ini").ocpp["HeartbeatInterval"] == "1"
    wait_until(lambda: len(messages(csms, "StatusNotification")) == 2, what="initial statuses")
    # the boot's call statistics go out once, a moment after its last call
    ui.rec.wait_json(T.cp_stats("CP1"), lambda d: d["calls"].get("StatusNotification", {}).get("ok", {}).get("n") == 2)
    mark = len(csms.messages(direction="in"))
    ui.mark = len(ui.rec.messages)
    time.sleep(3.2)
    idle = [m["action"] for m in csms.messages(direction="in")[mark:] if m["message_type"] == "call"]
    assert set(idle) == {"Heartbeat"} and 2 <= len(idle) <= 4
    # an idle charge point publishes nothing but its frames (the live OCPP message log)
    assert not [m for m in ui.rec.messages[ui.mark:]
                if m.topic.startswith(T.cp("CP1")) and m.topic != T.cp_ocpp_log("CP1")]


def test_minimum_status_duration(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"MinimumStatusDuration": "1"})
    ui.status("Accepted")
    # connector 1's own first status (connector 0's may come first): it too must have lasted
    # MinimumStatusDuration before it is sent
    wait_until(lambda: [p for p in messages(csms, "StatusNotification") if p["connectorId"] == 1],
               what="connector 1's initial status")
    ui.car()
    ui.car(cable=0)  # Preparing lasted a moment only: never reported
    ui.connector("Available")
    ui.car()
    ui.connector("Preparing")
    wait_message(csms, "StatusNotification", lambda p: p["status"] == "Preparing", timeout=5)
    assert [p["status"] for p in messages(csms, "StatusNotification") if p["connectorId"] == 1] == \
        ["Available", "Preparing"]


def test_cp_wide_limit_is_shared(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, max_setpoint=32, max_setpoint_per_connector=32)
    ui.status("Accepted")
    assert ui.start_session(1)["setpoint"] == 32.0
    ui.start_session(2, tag="TAG2")
    ui.connector("Charging", 1, setpoint=16.0)
    ui.connector("Charging", 2, setpoint=16.0, consumption_l1=16.0)
    ui.car(1, cable=0)
    ui.connector("Charging", 2, setpoint=32.0)


def test_dc_charge_point(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, type="DC", nb_phases=1, voltage=400.0, max_setpoint=50000,
               max_setpoint_per_connector=50000,
               ocpp={"MeterValueSampleInterval": "1",
                     "MeterValuesSampledData": "Power.Active.Import,Current.Import,Voltage"})
    ui.status("Accepted")
    ui.car(cable=40000.0, ready=True, consumption_l1=30000.0)  # a DC cable's capacity is in W
    ui.tag("TAG1")
    charging = ui.connector("Charging", transaction_id=ANY)
    assert charging["power_w"] == 30000.0 and charging["setpoint"] == 40000.0
    values = wait_message(csms, "MeterValues")["meterValue"][0]["sampledValue"]
    assert {v["measurand"]: v["value"] for v in values} == {
        "Power.Active.Import": "30000", "Current.Import": "75", "Voltage": "400"}
    ui.car(consumption_l1=45000.0)
    ui.connector("Charging", setpoint=40000.0, power_w=40000.0)  # capped by the cable
