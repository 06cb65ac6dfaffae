"""OCPP 2.0.1 meter readings in messages a spec-strict CSMS checks: TriggerMessage(MeterValues)
and TriggerMessage(TransactionEvent) during a transaction (F06), the Transaction.Begin
reading of Started whatever the TxStartPoint, and chargingState changes reported only when
they happen. End to end against the demo CSMS; every frame is schema-checked (`cp_factory`)."""

from __future__ import annotations

import time

from tests.chargepoint.conftest import ANY, Driver, call, messages, wait_message
from tests.chargepoint.test_ocpp201 import V201, events, set_variable
from tests.procs import wait_until

CAR = {"cable": 32.0, "ready": True, "consumption_l1": 10.5, "consumption_l2": 10.5, "consumption_l3": 10.5}
ALIGNED = "Energy.Active.Import.Register,Current.Import"
STARTED = "Energy.Active.Import.Register,Voltage"
UPDATED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import"


def measurands(payload: dict) -> set[str]:
    return {v["measurand"] for mv in payload["meterValue"] for v in mv["sampledValue"]}


def contexts(payload: dict) -> list[str]:
    return [v["context"] for mv in payload.get("meterValue", []) for v in mv["sampledValue"]]


def current_l1(payload: dict) -> float:
    return next(v["value"] for mv in payload["meterValue"] for v in mv["sampledValue"]
                if v["measurand"] == "Current.Import" and v.get("phase") == "L1")


def start(ui: Driver, n: int = 1, tag: str = "TAG1") -> str:
    ui.car(n, **CAR)
    ui.connector("Preparing", n)
    ui.tag(tag, n)
    return ui.connector("Charging", n, transaction_id=ANY, consumption_l1=10.5)["transaction_id"]


def test_triggered_meter_values_during_a_transaction(
        broker, csms, recorder_factory, cp_factory) -> None:
    """F06: MeterValues (AlignedDataMeasurands, context Trigger) for the EVSE asked, or every
    EVSE, even while a transaction runs."""
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, ocpp={
        "AlignedDataCtrlr/Measurands": ALIGNED, "SampledDataCtrlr/TxUpdatedMeasurands": UPDATED}, **V201)
    ui.status("Accepted")
    start(ui)
    before = len(events(csms))
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "MeterValues", "evse": {"id": 1}}) == {
        "status": "Accepted"}
    triggered = wait_message(csms, "MeterValues")
    assert triggered["evseId"] == 1 and set(contexts(triggered)) == {"Trigger"}
    assert measurands(triggered) == set(ALIGNED.split(",")) and current_l1(triggered) == 10.5
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "MeterValues"}) == {"status": "Accepted"}
    wait_until(lambda: len(messages(csms, "MeterValues")) == 3, what="MeterValues for every EVSE")
    assert sorted(p["evseId"] for p in messages(csms, "MeterValues")[1:]) == [1, 2]
    time.sleep(0.5)
    assert len(messages(csms, "MeterValues")) == 3
    assert not [e for e in events(csms)[before:] if e["triggerReason"] == "Trigger"]  # no TransactionEvent


def test_triggered_transaction_event_carries_the_updated_measurands(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"SampledDataCtrlr/TxUpdatedMeasurands": UPDATED}, **V201)
    ui.status("Accepted")
    tx_id = start(ui)
    assert call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "TransactionEvent",
                                                     "evse": {"id": 1}}) == {"status": "Accepted"}
    event = wait_message(csms, "TransactionEvent", lambda p: p["triggerReason"] == "Trigger")
    assert event["eventType"] == "Updated" and event["transactionInfo"]["transactionId"] == tx_id
    assert event["transactionInfo"]["chargingState"] == "Charging"
    assert set(contexts(event)) == {"Trigger"} and measurands(event) == set(UPDATED.split(","))
    assert current_l1(event) == 10.5


def test_started_carries_the_started_measurands(
        broker, csms, recorder_factory, cp_factory) -> None:
    """TxStartedMeasurands in Started (TxStartPoint PowerPathClosed: car and tag)."""
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"SampledDataCtrlr/TxStartedMeasurands": STARTED}, **V201)
    ui.status("Accepted")
    start(ui)
    started = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started")
    assert contexts(started) == ["Transaction.Begin"] * len(contexts(started)) and contexts(started)
    assert measurands(started) == {"Energy.Active.Import.Register", "Voltage"}


def test_started_at_plug_in_carries_the_begin_reading(broker, csms, recorder_factory, cp_factory) -> None:
    """TxStartPoint EVConnected: Started (at plug-in) has the Transaction.Begin reading, the
    Updated event of the authorization does not repeat it."""
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, **V201)
    ui.status("Accepted")
    set_variable(csms, "TxCtrlr", "TxStartPoint", "EVConnected")
    ui.car(**CAR)
    early = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Started")
    assert early["triggerReason"] == "CablePluggedIn" and early["seqNo"] == 0
    assert set(contexts(early)) == {"Transaction.Begin"}
    assert measurands(early) == {"Energy.Active.Import.Register"}  # TxStartedMeasurands by default
    second = early["transactionInfo"]["transactionId"]
    time.sleep(0.3)
    ui.tag("TAG1")
    assert ui.connector("Charging", transaction_id=ANY)["transaction_id"] == second
    joined = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Updated"
                          and p["triggerReason"] == "Authorized")
    assert "Transaction.Begin" not in contexts(joined)
    ui.car(cable=0)
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended"
                         and p["transactionInfo"]["transactionId"] == second)
    assert contexts(ended)[0] == "Transaction.Begin" and contexts(ended)[-1] == "Transaction.End"
    assert ended["meterValue"][0]["timestamp"] == early["meterValue"][0]["timestamp"]  # the same reading
    begins = [e for e in events(csms) if e["transactionInfo"]["transactionId"] == second
              and "Transaction.Begin" in contexts(e) and e["eventType"] != "Ended"]
    assert begins == [early]


def test_a_new_session_with_the_car_still_plugged_reports_no_false_state_change(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, **V201)
    ui.status("Accepted")
    first = start(ui)
    ui.tag("TAG1")  # the same tag ends it; the car stays
    ui.connector("Finishing")
    wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    ui.tag("TAG1")  # a new session, the car still plugged
    second = ui.connector("Charging", transaction_id=ANY, consumption_l1=10.5)["transaction_id"]
    assert second != first
    time.sleep(0.5)
    ui.car(**{**CAR, "ready": False})  # a real change: the car pauses
    suspended = wait_message(csms, "TransactionEvent", lambda p: p["transactionInfo"]["transactionId"] == second
                             and p["triggerReason"] == "ChargingStateChanged")
    assert suspended["transactionInfo"]["chargingState"] == "SuspendedEV"
    sent = [e for e in events(csms) if e["transactionInfo"]["transactionId"] == second]
    assert sent[0]["eventType"] == "Started" and sent[0]["transactionInfo"]["chargingState"] == "Charging"
    changes = [e["transactionInfo"]["chargingState"] for e in sent if e["triggerReason"] == "ChargingStateChanged"]
    assert changes == ["SuspendedEV"]
