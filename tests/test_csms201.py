"""The demo CSMS and OCPP 2.0.1: every message a charging station may send is answered, and
every CSMS-initiated call can be sent through the control API. A real 2.0.1 WebSocket client
talks to the real CSMS process; payloads are the smallest ones the official schemas accept."""

from __future__ import annotations

import asyncio
import json
from functools import cache
from pathlib import Path
from typing import Any

import ocpp.v201
from ocpp.messages import Call, CallResult
from ocpp.v201 import ChargePoint
from ocpp.v201.enums import Action

from cp_simu.csms.calls import call_raw
from tests.test_csms import Csms, client, csms, http  # noqa: F401  (csms: the CSMS process fixture)

SCHEMAS = Path(ocpp.v201.__file__).parent / "schemas"
FROM_STATION = [
    "Authorize", "BootNotification", "ClearedChargingLimit", "DataTransfer", "FirmwareStatusNotification",
    "Get15118EVCertificate", "GetCertificateStatus", "Heartbeat", "LogStatusNotification", "MeterValues",
    "NotifyChargingLimit", "NotifyCustomerInformation", "NotifyDisplayMessages", "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule", "NotifyEvent", "NotifyMonitoringReport", "NotifyReport",
    "PublishFirmwareStatusNotification", "ReportChargingProfiles", "ReservationStatusUpdate",
    "SecurityEventNotification", "SignCertificate", "StatusNotification", "TransactionEvent",
]
FROM_CSMS = [*sorted({a.value for a in Action} - set(FROM_STATION) - {"DataTransfer"}), "DataTransfer"]


@cache
def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def minimal(name: str) -> dict[str, Any]:
    """The smallest payload `<name>.json` accepts: required fields only, first enum values."""
    root = _schema(name)

    def build(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return build(root["definitions"][node["$ref"].rsplit("/", 1)[1]])
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            return {k: build(node["properties"][k]) for k in node.get("required", [])}
        if kind == "array":
            return [build(node["items"])] * max(node.get("minItems", 0), 1)
        if kind == "string":
            return "2024-01-01T00:00:00Z" if node.get("format") == "date-time" else "x"
        if kind in ("integer", "number"):
            return node.get("minimum", 1)
        return False

    return build(root)


class AnyCallStation(ChargePoint):
    """A station that answers every CSMS call with the smallest valid response."""

    received: list[tuple[str, dict[str, Any]]]

    async def route_message(self, raw_msg: str) -> None:
        message = json.loads(raw_msg)
        if message[0] != 2:
            await super().route_message(raw_msg)
            return
        call = Call(*message[1:])
        self.received.append((call.action, call.payload))
        await self._send(CallResult(call.unique_id, minimal(f"{call.action}Response")).to_json())


async def test_every_station_message_is_answered_and_kept(csms: Csms) -> None:  # noqa: F811
    async with client(ChargePoint, csms, "CS201_ALL") as cp:
        answers = {}
        for action in FROM_STATION:  # each answer is checked against the 2.0.1 response schema
            answers[action] = await call_raw(cp, action, minimal(f"{action}Request"), timeout=5)
        assert answers["BootNotification"]["status"] == "Accepted"
        assert answers["SignCertificate"]["status"] == "Rejected"
        assert answers["Authorize"]["idTokenInfo"]["status"] == "Accepted"

        await call_raw(cp, "NotifyReport", {"requestId": 1, "generatedAt": "2024-01-01T00:00:00Z", "seqNo": 0,
                                            "tbc": True, "reportData": [_report("OCPPCommCtrlr", "HeartbeatInterval",
                                                                                "300")]}, timeout=5)
        await call_raw(cp, "NotifyReport", {"requestId": 1, "generatedAt": "2024-01-01T00:00:00Z", "seqNo": 1,
                                            "reportData": [_report("EVSE", "AvailabilityState", "Occupied",
                                                                   evse={"id": 1})]}, timeout=5)
        await call_raw(cp, "FirmwareStatusNotification", {"status": "Installed", "requestId": 3}, timeout=5)
        await call_raw(cp, "ReservationStatusUpdate", {"reservationId": 5, "reservationUpdateStatus": "Expired"},
                       timeout=5)
        for seq_no, (event, offline, energy) in enumerate([("Started", False, 1000), ("Updated", True, 1500.5),
                                                           ("Ended", True, 2000)]):
            await call_raw(cp, "TransactionEvent", {
                "eventType": event, "timestamp": "2024-01-01T00:00:00Z", "triggerReason": "MeterValuePeriodic",
                "seqNo": seq_no, "offline": offline, "evse": {"id": 2, "connectorId": 1},
                "transactionInfo": {"transactionId": "TX-ALL", "chargingState": "Charging"}
                | ({"stoppedReason": "EVDisconnected"} if event == "Ended" else {}),
                "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [
                    {"value": energy / 1000, "context": "Sample.Periodic",
                     "unitOfMeasure": {"unit": "kWh"}}]}]}, timeout=5)

    status, body = await http("GET", f"{csms.api_url}/cps/CS201_ALL")
    assert status == 200
    cp_info = body["cp"]
    assert cp_info["device_model"] == {"OCPPCommCtrlr/HeartbeatInterval": "300", "EVSE@1/AvailabilityState": "Occupied"}
    assert cp_info["notifications"]["FirmwareStatusNotification"] == "Installed"
    assert cp_info["notifications"]["ReservationStatusUpdate:5"] == "Expired"
    tx = next(t for t in cp_info["transactions"] if t["transaction_id"] == "TX-ALL")
    assert [(e["seq_no"], e["event_type"], e["offline"]) for e in tx["events"]] == [
        (0, "Started", False), (1, "Updated", True), (2, "Ended", True)]
    assert (tx["meter_start"], tx["meter_stop"], tx["stop_reason"], tx["connector_id"]) == (
        1000, 2000, "EVDisconnected", 2)


async def test_control_api_sends_every_csms_initiated_call(csms: Csms) -> None:  # noqa: F811
    async with client(AnyCallStation, csms, "CS201_CTL") as cp:
        cp.received = []
        await call_raw(cp, "BootNotification", minimal("BootNotificationRequest"), timeout=5)
        for action in FROM_CSMS:
            payload = minimal(f"{action}Request")
            status, body = await http("POST", f"{csms.api_url}/cps/CS201_CTL/call/{action}", payload)
            assert (status, body["status"]) == (200, "ok"), (action, body)
            assert body["response"] == minimal(f"{action}Response")
        assert cp.received == [(a, minimal(f"{a}Request")) for a in FROM_CSMS]
        # A payload the 2.0.1 schema refuses never reaches the station.
        status, body = await http("POST", f"{csms.api_url}/cps/CS201_CTL/call/GetVariables", {"getVariableData": []})
        assert (status, body["error"]) == (400, "invalid_payload")
        await asyncio.sleep(0)
        assert len(cp.received) == len(FROM_CSMS)


def _report(component: str, variable: str, value: str, **extra: Any) -> dict[str, Any]:
    return {"component": {"name": component, **extra}, "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value}],
            "variableCharacteristics": {"dataType": "string", "supportsMonitoring": False}}


async def test_integers_written_with_a_decimal_point_are_integers_both_ways(csms: Csms) -> None:  # noqa: F811
    """As the 2.0.1 schemas' draft-06 says: `2.0` is an integer, handled as 2; `2.5` is not."""
    async with client(AnyCallStation, csms, "CS201_INT") as cp:
        cp.received = []
        await call_raw(cp, "BootNotification", minimal("BootNotificationRequest"), timeout=5)
        # station -> CSMS, sent unchecked: the CSMS's own validation decides
        await call_raw(cp, "StatusNotification", {"timestamp": "2024-01-01T00:00:00Z", "connectorStatus": "Occupied",
                                                  "evseId": 2.0, "connectorId": 1.0}, timeout=5, validate=False)
        await call_raw(cp, "TransactionEvent", {
            "eventType": "Started", "timestamp": "2024-01-01T00:00:00Z", "triggerReason": "Authorized",
            "seqNo": 0.0, "evse": {"id": 2.0, "connectorId": 1.0}, "transactionInfo": {"transactionId": "TX-INT"}},
            timeout=5, validate=False)

        request = {"evseId": 1.0, "duration": 120.0}  # sent as written, without validate=0
        status, body = await http("POST", f"{csms.api_url}/cps/CS201_INT/call/GetCompositeSchedule", request)
        assert (status, body["status"]) == (200, "ok"), body
        assert json.dumps(cp.received) == json.dumps([("GetCompositeSchedule", request)])
        status, body = await http("POST", f"{csms.api_url}/cps/CS201_INT/call/GetCompositeSchedule",
                                  {"evseId": 1, "duration": 120.5})
        assert (status, body["error"], body["error_code"]) == (400, "invalid_payload", "TypeConstraintViolation")
        assert len(cp.received) == 1

    status, body = await http("GET", f"{csms.api_url}/cps/CS201_INT")
    cp_info = body["cp"]
    assert cp_info["connectors"] == {"2/1": "Occupied"}  # not "2.0/1.0"
    (tx,) = cp_info["transactions"]
    assert json.dumps([tx["connector_id"], tx["events"][0]["seq_no"]]) == "[2, 0]"
