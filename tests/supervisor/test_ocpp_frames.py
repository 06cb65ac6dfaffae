"""Reading `ocpp_log` records as the message table shows them (no Qt)."""

from __future__ import annotations

import json

from supervisor.ocpp_frames import CallPairing, OcppFrame


def record(direction: str, message: object, time: str = "2026-03-01T08:15:02.250Z") -> bytes:
    return json.dumps({"time": time, "direction": direction, "message": message}).encode()


def test_calls_results_and_errors() -> None:
    call = OcppFrame.parse(record("out", [2, "19", "StatusNotification",
                                          {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}]))
    assert (call.clock, call.arrow, call.kind, call.action) == ("08:15:02.250", "▶", "Call", "StatusNotification")
    assert call.summary == "connectorId=1 errorCode=NoError status=Charging"
    meter = OcppFrame.parse(record("out", [2, "20", "MeterValues", {"connectorId": 1, "meterValue": [
        {"timestamp": "x", "sampledValue": [{"value": "16.5"}]}], "transactionId": 7}]))
    assert meter.summary == "connectorId=1 meterValue=[1] transactionId=7"
    error = OcppFrame.parse(record("in", [4, "21", "NotImplemented", "Requested Action is not known", {}]))
    assert (error.kind, error.summary) == ("Error", "NotImplemented: Requested Action is not known")
    assert json.loads(error.pretty()) == [4, "21", "NotImplemented", "Requested Action is not known", {}]


def test_results_are_named_after_the_call_they_answer() -> None:
    pairing = CallPairing(limit=3)
    sent = OcppFrame.parse(record("out", [2, "a1", "Heartbeat", {}]))
    received = OcppFrame.parse(record("in", [2, "a1", "Reset", {"type": "Soft"}]))  # same id, other side
    assert pairing.action(sent) == "Heartbeat" and pairing.action(received) == "Reset"
    assert pairing.action(OcppFrame.parse(record("out", [3, "a1", {"status": "Accepted"}]))) == "Reset"
    assert pairing.action(OcppFrame.parse(record("in", [3, "a1", {"currentTime": "t"}]))) == "Heartbeat"
    assert pairing.action(OcppFrame.parse(record("in", [3, "a1", {}]))) == ""  # answered already
    for n in range(5):  # unanswered calls are forgotten oldest first
        pairing.action(OcppFrame.parse(record("out", [2, f"x{n}", "DataTransfer", {}])))
    assert pairing.action(OcppFrame.parse(record("in", [3, "x0", {}]))) == ""
    assert pairing.action(OcppFrame.parse(record("in", [3, "x4", {}]))) == "DataTransfer"


def test_what_is_not_an_ocpp_frame_is_kept_as_text() -> None:
    for payload in (b"not json", b"[1, 2]", record("in", "garbage["), record("in", [9, "x"])):
        frame = OcppFrame.parse(payload)
        assert frame.kind == "" and frame.action == ""
        assert frame.summary and frame.pretty()
    assert OcppFrame.parse(b"not json").summary == "not json"
    text_frame = OcppFrame.parse(record("in", '[2,"5","Reset",{"type":"Hard"}]'))  # logged as its text
    assert (text_frame.kind, text_frame.action, text_frame.summary) == ("Call", "Reset", "type=Hard")
