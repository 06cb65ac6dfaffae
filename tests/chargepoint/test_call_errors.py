"""Calls the charge point cannot carry out get the CallError OCPP-J prescribes, on a session
that goes on: NotImplemented for an unknown action, NotSupported for a known but unsupported
one (one INFO line each), InternalError when handling fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from tests.chargepoint.conftest import call, call_error
from tests.procs import PYTHON, managed, wait_until


class RawCsms:
    """A CSMS speaking raw OCPP-J frames: accepts the boot, answers every other call with {}
    and lets the test send any frame, even one no library would build."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []
        self.registered = asyncio.Event()
        self._answers: dict[str, asyncio.Future[list[Any]]] = {}

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for frame in ws:
            message = json.loads(frame)
            if message[0] == 2:
                answer = {"status": "Accepted", "currentTime": "2030-01-01T00:00:00Z", "interval": 300} \
                    if message[2] == "BootNotification" else {}
                await ws.send(json.dumps([3, message[1], answer]))
                if message[2] == "StatusNotification":
                    self.registered.set()
            elif message[1] in self._answers:
                self._answers.pop(message[1]).set_result(message)

    async def send(self, unique_id: str, action: str, payload: dict[str, Any]) -> list[Any]:
        answer = self._answers[unique_id] = asyncio.get_running_loop().create_future()
        await self.connections[-1].send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(answer, 10)


async def test_unknown_and_unsupported_actions_get_their_own_error_codes(broker, cp_factory) -> None:
    csms = RawCsms()
    async with serve(csms.handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        cp = cp_factory(f"ws://127.0.0.1:{port}", broker.url)
        await asyncio.wait_for(csms.registered.wait(), 20)
        unknown = await csms.send("u1", "OpenThePodBayDoors", {})
        assert unknown[:3] == [4, "u1", "NotImplemented"]
        # known to OCPP 1.6, but a call the CSMS receives: no charge point supports it
        known = await csms.send("u2", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,
                                                           "timestamp": "2030-01-01T00:00:00Z"})
        assert known[:3] == [4, "u2", "NotSupported"]
        still_there = await csms.send("u3", "GetConfiguration", {"key": ["HeartbeatInterval"]})
        assert still_there[:2] == [3, "u3"]
        assert len(csms.connections) == 1
    log = (cp.directory / "chargepoint.log").read_text()
    assert "Traceback" not in log and " ERROR " not in log
    refusals = [line for line in log.splitlines() if "refused" in line]
    assert len(refusals) == 2 and all(" INFO " in line for line in refusals), refusals


def test_a_feature_left_out_is_refused_with_one_info_line(broker, csms, recorder_factory, cp_factory) -> None:
    cp = cp_factory(csms.url, broker.url, "CORE", ocpp={"SupportedFeatureProfiles": "Core"})
    rec = recorder_factory(broker.url)
    rec.wait_json("cp_simu/cps/CORE/status", lambda d: d["status"] == "Accepted")
    for _ in range(3):
        assert call_error(csms.api, "CORE", "TriggerMessage", {"requestedMessage": "Heartbeat"}) == "NotSupported"
    log = (cp.directory / "chargepoint.log").read_text()
    assert "Traceback" not in log
    refusals = [line for line in log.splitlines() if "TriggerMessage refused" in line]
    assert len(refusals) == 3 and all(" INFO " in line and "RemoteTrigger" in line for line in refusals)


# The validator cache the fork server's warm-up used to leave: SetChargingProfile's schema
# parsed with floats, while its payloads are parsed as Decimal (`Decimal % float` fails).
POISONED = """
import sys
from ocpp.messages import MessageType, get_validator
get_validator(MessageType.Call, "SetChargingProfile", "1.6")
from chargepoint.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_call_whose_handling_fails_is_answered_internal_error_on_the_same_session(
        broker, csms, recorder_factory, cp_factory, tmp_path: Path) -> None:
    cp = cp_factory(csms.url, broker.url, start=False)
    rec = recorder_factory(broker.url)
    args = [PYTHON, "-c", POISONED, "--workdir", str(cp.directory), "--broker", broker.url]
    with managed(args, log=tmp_path / "poisoned.out") as process:
        rec.wait_json("cp_simu/cps/CP1/status", lambda d: d["status"] == "Accepted", timeout=20)
        profile = {"connectorId": 1, "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": {
                "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}]}}}
        assert call_error(csms.api, "CP1", "SetChargingProfile", profile) == "InternalError"
        assert call(csms.api, "CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]})["configurationKey"]
        wait_until(lambda: "could not be handled" in (cp.directory / "chargepoint.log").read_text(), 5,
                   what="the failure in the log")
        assert len(csms.messages("BootNotification", cp_id="CP1", direction="in")) == 1, "the CP reconnected"
        assert process.alive()
