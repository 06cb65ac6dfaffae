"""OCPP 2.0.1 stations end to end against the demo CSMS and a real broker: registration,
transactions (TransactionEvent with contiguous seqNo, stop reasons), smart charging really
limiting the current, the offline queue across a SIGKILL. Every frame the station sent is
checked against the library's 2.0.1 schemas when the test ends (`cp_factory`)."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta

from tests.chargepoint.conftest import ANY, CAR, Driver, T, call, messages, wait_message
from tests.ocpp16_ext.servers import serve_http
from tests.procs import PYTHON, wait_until

V201 = {"ocpp_version": "2.0.1"}
PERIODIC = {"MeterValueSampleInterval": "1", "MeterValuesSampledData": "Energy.Active.Import.Register,Current.Import"}


def events(csms, cp: str = "CP1") -> list[dict]:
    return messages(csms, "TransactionEvent", cp)


def current_l1(event: dict) -> float:
    return next(v["value"] for mv in event["meterValue"] for v in mv["sampledValue"]
                if v.get("measurand") == "Current.Import" and v.get("phase") == "L1")


def test_session_with_authorize_and_unplug(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp=PERIODIC, **V201)
    assert ui.status("Accepted")["ocpp_version"] == "2.0.1"
    boot = wait_message(csms, "BootNotification")
    assert boot["reason"] == "PowerUp" and boot["chargingStation"]["vendorName"] == "Open OCPP"
    wait_message(csms, "StatusNotification", lambda p: p == {**p, "evseId": 1, "connectorId": 1,
                                                              "connectorStatus": "Available"})
    ui.car()
    assert ui.connector("Preparing")["ocpp_status"] == "Occupied"
    ui.tag("TAG1")
    charging = ui.connector("Charging", transaction_id=ANY)
    tx_id = charging["transaction_id"]
    assert isinstance(tx_id, str) and charging["ocpp_status"] == "Occupied"
    assert [p["idToken"] for p in messages(csms, "Authorize")] == [{"idToken": "TAG1", "type": "ISO14443"}]
    wait_until(lambda: len(events(csms)) >= 3, what="periodic Updated events")
    ui.car(cable=0)
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ui.connector("Available")["transaction_id"] is None
    sent = events(csms)
    started = sent[0]
    assert started["eventType"] == "Started" and started["triggerReason"] == "Authorized"
    assert started["idToken"] == {"idToken": "TAG1", "type": "ISO14443"}
    assert started["evse"] == {"id": 1, "connectorId": 1}
    assert started["transactionInfo"]["chargingState"] == "Charging"
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))
    assert {e["transactionInfo"]["transactionId"] for e in sent} == {tx_id}
    assert [e["eventType"] for e in sent[1:-1]] == ["Updated"] * (len(sent) - 2)
    periodic = [e for e in sent if e["triggerReason"] == "MeterValuePeriodic"]
    assert periodic and all(current_l1(e) == 16.0 for e in periodic)
    assert all(not e.get("offline") for e in sent)
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    assert ended["triggerReason"] == "EVCommunicationLost"
    contexts = [v["context"] for mv in ended["meterValue"] for v in mv["sampledValue"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    wait_until(lambda: [p["connectorStatus"] for p in messages(csms, "StatusNotification")] == [
        "Available", "Occupied", "Available"], what="StatusNotification Available, Occupied, Available")


def test_a_station_imports_only_its_own_version() -> None:
    """2.0.1 must not make 1.6 charge points heavier, nor the reverse."""
    probe = ("import sys, pathlib, tempfile; from chargepoint.cli import prepare_instance;"
             "from chargepoint.station import Station;"
             "options = {'cp_id': 'X', 'central_system': 'ws://127.0.0.1:9/', 'ocpp_version': sys.argv[1]};"
             "Station(prepare_instance(pathlib.Path(tempfile.mkdtemp()) / 'cp', options, 'mqtt://127.0.0.1:9'));"
             "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith(('ocpp.v', 'chargepoint.ocpp'))}))")
    for version, loaded in (("1.6", "['ocpp16', 'v16']"), ("2.0.1", "['ocpp201', 'v201']")):
        result = subprocess.run([PYTHON, "-c", probe, version], capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == loaded, result.stderr


def test_tag_stop_then_remote_start_and_stop(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, **V201)
    ui.status("Accepted")
    ui.publish(T.connector_id_tag("CP1", 1), {"id": "TAG1", "type": "Bogus"})
    error = ui.wait(T.cp_error("CP1"), lambda d: True)
    assert "type" in error["error"] and "ISO15693" in error["error"]
    ui.car()
    ui.publish(T.connector_id_tag("CP1", 1), {"id": "TAG1", "type": "ISO15693"})
    first = ui.connector("Charging", transaction_id=ANY)["transaction_id"]
    assert messages(csms, "Authorize")[0]["idToken"] == {"idToken": "TAG1", "type": "ISO15693"}
    started = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started")
    assert started["idToken"] == {"idToken": "TAG1", "type": "ISO15693"}
    ui.tag("TAG1")  # the session's own tag ends it
    ui.connector("Finishing")
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"] == {**ended["transactionInfo"], "transactionId": first,
                                        "stoppedReason": "Local", "chargingState": "EVConnected"}
    assert ended["triggerReason"] == "StopAuthorized" and ended["idToken"] == {"idToken": "TAG1", "type": "ISO15693"}
    ui.car(cable=0)
    ui.connector("Available")
    ui.car()
    set_variable(csms, "AuthCtrlr", "AuthorizeRemoteStart", "true")  # the remote start's idToken is checked
    answer = call(csms.api, "CP1", "RequestStartTransaction",
                  {"idToken": {"idToken": "APP1", "type": "Central"}, "remoteStartId": 77, "evseId": 1})
    assert answer["status"] == "Accepted"
    started = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started"
                           and p["transactionInfo"]["transactionId"] != first)
    assert started["triggerReason"] == "RemoteStart" and started["transactionInfo"]["remoteStartId"] == 77
    assert started["idToken"] == {"idToken": "APP1", "type": "Central"} and started["seqNo"] == 0
    assert messages(csms, "Authorize")[-1]["idToken"] == {"idToken": "APP1", "type": "Central"}
    second = started["transactionInfo"]["transactionId"]
    ui.connector("Charging", transaction_id=second)
    assert call(csms.api, "CP1", "UnlockConnector", {"evseId": 1, "connectorId": 1}) == {
        "status": "OngoingAuthorizedTransaction"}
    assert call(csms.api, "CP1", "RequestStopTransaction", {"transactionId": "nope"})["status"] == "Rejected"
    assert call(csms.api, "CP1", "RequestStopTransaction", {"transactionId": second})["status"] == "Accepted"
    stopped = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended"
                           and p["transactionInfo"]["transactionId"] == second)
    assert stopped["transactionInfo"]["stoppedReason"] == "Remote" and stopped["triggerReason"] == "RemoteStop"
    assert [e["seqNo"] for e in events(csms) if e["transactionInfo"]["transactionId"] == second] == [0, 1]


def test_tx_default_profile_caps_the_current(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp=PERIODIC, **V201)
    ui.status("Accepted")
    ui.start_session()
    profile = {"id": 5, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Absolute",
               "chargingSchedule": [{"id": 1, "chargingRateUnit": "A", "startSchedule": "2020-01-01T00:00:00Z",
                                     "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}]}
    assert call(csms.api, "CP1", "SetChargingProfile", {"evseId": 0, "chargingProfile": profile}) == {
        "status": "Accepted"}
    capped = ui.connector("Charging", setpoint=10.0)
    assert capped["consumption_l1"] == 10.0 and capped["ocpp_setpoint"] == 10.0
    changed = wait_message(csms, "TransactionEvent", lambda p: p["triggerReason"] == "ChargingRateChanged")
    assert changed["eventType"] == "Updated" and changed["transactionInfo"]["chargingState"] == "Charging"
    mark = len(events(csms))
    wait_until(lambda: any(current_l1(e) == 10.0 for e in events(csms)[mark:] if "meterValue" in e),
               what="a TransactionEvent measuring 10 A")
    composite = call(csms.api, "CP1", "GetCompositeSchedule", {"duration": 60, "evseId": 1})
    assert composite["status"] == "Accepted"
    assert composite["schedule"]["chargingSchedulePeriod"][0]["limit"] == 10.0
    assert call(csms.api, "CP1", "GetChargingProfiles",
                {"requestId": 3, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}}) == {
        "status": "Accepted"}
    report = wait_message(csms, "ReportChargingProfiles")
    assert report["requestId"] == 3 and report["evseId"] == 0 and report["chargingProfile"][0]["id"] == 5
    assert call(csms.api, "CP1", "ClearChargingProfile", {"chargingProfileId": 5}) == {"status": "Accepted"}
    ui.connector("Charging", setpoint=32.0)


def test_csms_down_kill_and_restart_deliver_the_queue(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, ocpp=PERIODIC, **V201)
    ui.status("Accepted")
    tx_id = ui.start_session()["transaction_id"]
    wait_until(lambda: len(events(csms)) >= 2, what="an Updated event online")
    online = len(events(csms))
    csms.stop()
    ui.status("Disconnected")
    def queued() -> int:
        return (cp.directory / "queue.jsonl").read_text().count('"op":"add"')

    wait_until(lambda: queued() >= 3, 20, what="periodic Updated events piling up in the queue")
    cp.kill()
    csms.start()
    cp.start()
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended", timeout=20)
    assert ended["transactionInfo"]["stoppedReason"] == "PowerLoss" and ended["offline"] is True
    received = events(csms)
    # The call in flight when the CSMS went away may come again (its answer was lost): OCPP
    # delivery is at least once, the CSMS recognises the repeat by its seqNo.
    sent = [e for i, e in enumerate(received) if i == 0 or e != received[i - 1]]
    assert [e["seqNo"] for e in sent] == list(range(len(sent)))  # in order, no gap, no other repeat
    assert {e["transactionInfo"]["transactionId"] for e in sent} == {tx_id}
    queued_offline = [e for e in sent if e.get("offline")]
    assert len(queued_offline) >= 3 and queued_offline == sent[-len(queued_offline):]
    assert len(sent) - len(queued_offline) >= online - 1
    stamps = [e["timestamp"] for e in sent]
    assert stamps == sorted(stamps)
    boots = messages(csms, "BootNotification")
    assert [b["reason"] for b in boots] == ["PowerUp", "PowerUp"]
    time.sleep(1)
    assert len(events(csms)) == len(received)  # nothing delivered again


def test_reservation_availability_and_trigger(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, **V201)
    ui.status("Accepted")
    expiry = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    assert call(csms.api, "CP1", "ReserveNow", {"id": 9, "expiryDateTime": expiry, "evseId": 2,
                                                 "idToken": {"idToken": "RES1", "type": "ISO14443"}}) == {
        "status": "Accepted"}
    assert ui.connector("Reserved", 2)["ocpp_status"] == "Reserved"
    update = wait_message(csms, "ReservationStatusUpdate", timeout=10)
    assert update == {"reservationId": 9, "reservationUpdateStatus": "Expired"}
    ui.connector("Available", 2)
    assert call(csms.api, "CP1", "ChangeAvailability",
                {"operationalStatus": "Inoperative", "evse": {"id": 1}}) == {"status": "Accepted"}
    assert ui.connector("Unavailable", 1)["ocpp_status"] == "Unavailable"
    event = wait_message(csms, "NotifyEvent", lambda p: p["eventData"][0]["actualValue"] == "Unavailable")
    assert event["eventData"][0]["variable"] == {"name": "AvailabilityState"}
    assert event["eventData"][0]["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    ui.start_session(2)
    assert call(csms.api, "CP1", "ChangeAvailability", {"operationalStatus": "Inoperative"}) == {
        "status": "Scheduled"}
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                     "evse": {"id": 2}}) == {"status": "Accepted"}
    wait_message(csms, "TransactionEvent", lambda p: p["triggerReason"] == "Trigger")
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                     "evse": {"id": 1}}) == {"status": "Rejected"}
    ui.car(2, cable=0)
    ui.connector("Unavailable", 2)  # the scheduled change, once the session ended
    ui.publish(T.connector_car("CP1", 1), CAR)
    assert call(csms.api, "CP1", "DataTransfer", {"vendorId": "acme"})["status"] == "UnknownVendorId"


def test_firmware_log_and_meter_values_outside_transactions(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"AlignedDataCtrlr/Interval": "1"}, **V201)
    ui.status("Accepted")
    aligned = wait_message(csms, "MeterValues")  # clock-aligned, no transaction
    assert aligned["evseId"] == 1
    assert aligned["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"
    with serve_http({"/fw/simu-cs-4.2.0.bin": b"image"}) as (base, http):
        retrieve = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        assert call(csms.api, "CP1", "UpdateFirmware", {"requestId": 41, "firmware": {
            "location": f"{base}/fw/simu-cs-4.2.0.bin", "retrieveDateTime": retrieve}}) == {"status": "Accepted"}
        wait_until(lambda: len(messages(csms, "BootNotification")) == 2, what="the FirmwareUpdate boot")
        name = call(csms.api, "CP1", "GetLog", {"logType": "DiagnosticsLog", "requestId": 7,
                                                 "log": {"remoteLocation": f"{base}/upload"}})
        assert name["status"] == "Accepted" and name["filename"].endswith(".zip")
        wait_until(lambda: [p["status"] for p in messages(csms, "LogStatusNotification")] == [
            "Uploading", "Uploaded"], what="LogStatusNotification Uploading, Uploaded")
    firmware = messages(csms, "FirmwareStatusNotification")
    assert [p["status"] for p in firmware] == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert {p["requestId"] for p in firmware} == {41}
    boot = messages(csms, "BootNotification")[-1]
    assert boot["reason"] == "FirmwareUpdate" and boot["chargingStation"]["firmwareVersion"] == "4.2.0"
    assert {p["requestId"] for p in messages(csms, "LogStatusNotification")} == {7}
    assert name["filename"] in http.received["/upload"][0]
    assert ui.wait(T.cp_status("CP1"), lambda d: d["firmware_version"] == "4.2.0")["status"] == "Accepted"


def test_reset_immediate_on_idle_and_per_evse(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, **V201)
    ui.status("Accepted")
    first = ui.start_session(1)["transaction_id"]
    second = ui.start_session(2)["transaction_id"]
    assert call(csms.api, "CP1", "Reset", {"type": "Immediate", "evseId": 2}) == {"status": "Accepted"}
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["transactionId"] == second
    assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset" and ended["triggerReason"] == "ResetCommand"
    assert len(messages(csms, "BootNotification")) == 1  # one EVSE reset: no reboot
    assert call(csms.api, "CP1", "Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    time.sleep(1)
    assert len(messages(csms, "BootNotification")) == 1  # a transaction still runs
    ui.car(1, cable=0)
    wait_until(lambda: len(messages(csms, "BootNotification")) == 2, what="the reboot once idle")
    assert messages(csms, "BootNotification")[-1]["reason"] == "RemoteReset"
    stops = [e for e in events(csms) if e["eventType"] == "Ended"]
    assert [e["transactionInfo"]["transactionId"] for e in stops] == [second, first]
    assert stops[-1]["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def set_variable(csms, component: str, variable: str, value: str) -> None:
    answer = call(csms.api, "CP1", "SetVariables", {"setVariableData": [
        {"component": {"name": component}, "variable": {"name": variable}, "attributeValue": value}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted", answer


def test_start_points_ev_connected_and_authorized(broker, csms, recorder_factory, cp_factory) -> None:
    """TxStartPoint set by the CSMS: the car alone, or the id token alone, begins the transaction."""
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, **V201)
    ui.status("Accepted")
    set_variable(csms, "TxCtrlr", "TxStartPoint", "EVConnected")
    ui.car()
    started = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started")
    assert started["triggerReason"] == "CablePluggedIn" and "idToken" not in started
    assert started["transactionInfo"]["chargingState"] == "EVConnected"
    tx_id = started["transactionInfo"]["transactionId"]
    ui.car(cable=0)  # gone before any authorization
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"] == {"transactionId": tx_id, "stoppedReason": "EVDisconnected",
                                        "chargingState": "Idle"}
    assert ui.connector("Available")["transaction_id"] is None
    ui.car()
    second = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started"
                          and p["transactionInfo"]["transactionId"] != tx_id)["transactionInfo"]["transactionId"]
    answer = call(csms.api, "CP1", "RequestStartTransaction",
                  {"idToken": {"idToken": "TAG1", "type": "Central"}, "remoteStartId": 5, "evseId": 1})
    assert answer == {"status": "Accepted", "transactionId": second}  # it joins the running transaction
    assert ui.connector("Charging", transaction_id=ANY)["transaction_id"] == second  # the same transaction
    joined = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Updated"
                          and p["transactionInfo"].get("remoteStartId") == 5)
    assert joined["triggerReason"] == "RemoteStart" and joined["transactionInfo"]["chargingState"] == "Charging"
    assert joined["idToken"] == {"idToken": "TAG1", "type": "Central"}
    assert joined["transactionInfo"]["chargingState"] == "Charging"
    ui.car(cable=0)
    wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended"
                 and p["transactionInfo"]["transactionId"] == second)
    set_variable(csms, "TxCtrlr", "TxStartPoint", "Authorized")
    ui.tag("TAG2")  # no car comes within EVConnectionTimeOut (3 s)
    third = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started"
                         and p["transactionInfo"]["transactionId"] not in (tx_id, second))
    assert third["triggerReason"] == "Authorized" and third["idToken"]["idToken"] == "TAG2"
    lapsed = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended"
                          and p["transactionInfo"]["transactionId"] == third["transactionInfo"]["transactionId"])
    assert lapsed["transactionInfo"]["stoppedReason"] == "Timeout" and lapsed["triggerReason"] == "EVConnectTimeout"
    for tx in (tx_id, second, third["transactionInfo"]["transactionId"]):
        numbers = [e["seqNo"] for e in events(csms) if e["transactionInfo"]["transactionId"] == tx]
        assert numbers == list(range(len(numbers))), (tx, numbers)


def test_statuses_after_a_short_and_a_long_offline_period(broker, csms_factory, recorder_factory, cp_factory) -> None:
    """OCPPCommCtrlr OfflineThreshold: after a shorter outage only the statuses that changed go out."""
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, ocpp={"OCPPCommCtrlr/OfflineThreshold": "60"}, **V201)
    ui.status("Accepted")
    wait_until(lambda: len(messages(csms, "StatusNotification")) == 2, what="both EVSEs' statuses")
    csms.stop()
    ui.status("Disconnected")
    ui.car(2)  # EVSE 2 changes while offline
    ui.connector("Preparing", 2)
    csms.start()
    ui.status("Accepted", timeout=15)
    wait_until(lambda: len(messages(csms, "StatusNotification")) == 3, what="the changed status")
    time.sleep(1)
    assert [(p["evseId"], p["connectorStatus"]) for p in messages(csms, "StatusNotification")][2:] == [
        (2, "Occupied")]
    set_variable(csms, "OCPPCommCtrlr", "OfflineThreshold", "0")
    csms.stop()
    ui.status("Disconnected")
    csms.start()
    ui.status("Accepted", timeout=15)
    wait_until(lambda: len(messages(csms, "StatusNotification")) == 5, what="every status again")
    assert {(p["evseId"], p["connectorStatus"]) for p in messages(csms, "StatusNotification")[3:]} == {
        (1, "Available"), (2, "Occupied")}
