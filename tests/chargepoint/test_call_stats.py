"""Every call a charge point makes is timed and its outcome kept (ok, the CallError code,
timeout), in OCPP 1.6 and 2.0.1 alike, and published on its `stats` topic: against a CSMS
that answers StatusNotification late, Heartbeat with a CallError and Authorize never."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from cp_simu.config import SECTION_SIMULATION, update_section
from cp_simu.topics import Topics

T = Topics()
SLOW_STATUS = 0.3  # s the CSMS takes to answer a StatusNotification
CALL_TIMEOUT = 1.0  # s the charge point waits for an answer


class MoodyCsms:
    """Answers over raw OCPP-J frames: the boot at once, statuses late, heartbeats with a
    CallError, authorizations never; anything else at once with {}."""

    def __init__(self) -> None:
        self.connections: list[ServerConnection] = []

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        async for frame in ws:
            message = json.loads(frame)
            if message[0] != 2:
                continue
            unique_id, action = message[1], message[2]
            if action == "BootNotification":
                await ws.send(json.dumps([3, unique_id, {"status": "Accepted", "interval": 300,
                                                         "currentTime": "2030-01-01T00:00:00Z"}]))
            elif action == "StatusNotification":
                await asyncio.sleep(SLOW_STATUS)
                await ws.send(json.dumps([3, unique_id, {}]))
            elif action == "Heartbeat":
                await ws.send(json.dumps([4, unique_id, "InternalError", "the CSMS is moody", {}]))
            elif action != "Authorize":
                await ws.send(json.dumps([3, unique_id, {}]))

    async def trigger_heartbeat(self) -> None:
        await self.connections[-1].send(json.dumps([2, "t1", "TriggerMessage", {"requestedMessage": "Heartbeat"}]))


def outcome(stats: dict[str, Any], action: str, result: str) -> dict[str, Any]:
    return stats["calls"].get(action, {}).get(result, {"n": 0})


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_round_trip_times_and_outcomes_of_every_call(broker, cp_factory, recorder_factory, version: str) -> None:
    csms = MoodyCsms()
    subprotocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with serve(csms.handler, "127.0.0.1", 0, subprotocols=[subprotocol]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        rec = recorder_factory(broker.url)
        cp = cp_factory(f"ws://127.0.0.1:{port}", broker.url, ocpp_version=version, nb_connectors=2, start=False)
        update_section(cp.directory / "config.ini", SECTION_SIMULATION,
                       {"call_timeout": str(CALL_TIMEOUT), "stats_interval": "1"})
        cp.start()
        booted = await asyncio.to_thread(rec.wait_json, T.cp_stats("CP1"),
                                         lambda d: outcome(d, "StatusNotification", "ok")["n"] >= 2, 20)
        rec.publish(T.connector_id_tag("CP1", 1), json.dumps({"id": "TAG1"}))
        await asyncio.sleep(CALL_TIMEOUT / 3)  # the Heartbeat waits for the Authorize in flight
        await csms.trigger_heartbeat()
        stats = await asyncio.to_thread(
            rec.wait_json, T.cp_stats("CP1"), lambda d: outcome(d, "Heartbeat", "InternalError")["n"] == 1
            and outcome(d, "Authorize", "timeout")["n"] == 1, 10)
    boot, status = outcome(stats, "BootNotification", "ok"), outcome(stats, "StatusNotification", "ok")
    assert boot["n"] == 1 and boot["max"] < SLOW_STATUS * 1000 / 2
    assert status["n"] >= 2 and SLOW_STATUS * 1000 <= status["min"] <= status["max"] < SLOW_STATUS * 1000 * 2
    assert outcome(stats, "Heartbeat", "InternalError")["max"] < CALL_TIMEOUT * 1000 / 3, \
        "the wait for the previous call's answer was counted as round-trip time"
    assert outcome(stats, "Heartbeat", "ok")["n"] == 0
    assert CALL_TIMEOUT * 1000 <= outcome(stats, "Authorize", "timeout")["sum"] < CALL_TIMEOUT * 1000 + 500
    assert stats["sessions"] == 0 and stats["power_w"] == 0 and stats["scheme"] == "ms-sqrt2-v1"
    assert stats["started"] == booted["started"] and stats["time"] > booted["time"]
