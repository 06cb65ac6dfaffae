"""Delivery of queued transaction messages: order, id mapping, attempts and retry interval."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ocpp.exceptions import InternalError
from ocpp.v16 import call_result

from chargepoint.core import session as session_module
from chargepoint.core.message_log import MessageLog
from chargepoint.core.ocpp_config import OcppConfiguration
from chargepoint.core.offline_queue import OfflineQueue
from chargepoint.model.authorization import IdTagInfo
from chargepoint.ocpp16.adapter import Ocpp16Adapter
from chargepoint.ocpp16.config_keys import REGISTRY


class FakeCsms:
    """Answers StartTransaction after two CallErrors, never MeterValues, always the rest."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.failures = {"StartTransaction": 2, "MeterValues": 99}

    async def call(self, request: Any, suppress: bool = True) -> Any:
        action = type(request).__name__
        self.sent.append((action, dict(vars(request))))
        if self.failures.get(action, 0) > 0:
            self.failures[action] -= 1
            raise InternalError("try again")
        if action == "StartTransaction":
            return call_result.StartTransaction(transaction_id=42, id_tag_info={"status": "Accepted"})
        return getattr(call_result, action)()


async def test_attempts_retry_interval_and_id_mapping(tmp_path: Path, monkeypatch) -> None:
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(session_module.asyncio, "sleep", fake_sleep)
    confirmed: list[tuple[int, Any, IdTagInfo]] = []
    station = SimpleNamespace(
        config=OcppConfiguration(REGISTRY, {"TransactionMessageAttempts": "3",
                                            "TransactionMessageRetryInterval": "5"}),
        queue=OfflineQueue(tmp_path / "queue.jsonl"), message_log=MessageLog(tmp_path / "ocpp.log"),
        transaction_confirmed=lambda ref, tx, info: confirmed.append((ref, tx, info)),
        remember_tag=lambda tag, info: None, security=SimpleNamespace(event_listeners=[]))
    station.queue.append("StartTransaction", {"connector_id": 1, "id_tag": "T", "meter_start": 0,
                                              "timestamp": "2024-01-01T00:00:00Z"}, ref=1)
    station.queue.append("MeterValues", {"connector_id": 1, "meter_value": [], "transaction_id": None}, ref=1)
    station.queue.append("StopTransaction", {"meter_stop": 9, "timestamp": "2024-01-01T00:01:00Z",
                                             "transaction_id": None, "reason": "Local"}, ref=1)
    csms = FakeCsms()
    adapter = Ocpp16Adapter(station)  # type: ignore[arg-type]
    task = asyncio.create_task(adapter._deliver(csms))  # type: ignore[arg-type]
    for _ in range(100):
        await real_sleep(0)
        if not len(station.queue):
            break
    task.cancel()
    assert [a for a, _ in csms.sent] == ["StartTransaction"] * 3 + ["MeterValues"] * 3 + ["StopTransaction"]
    assert delays == [5, 10, 5, 10]  # RetryInterval x attempt number; the third failure gives up
    assert confirmed == [(1, 42, IdTagInfo("Accepted"))]
    assert csms.sent[3][1]["transaction_id"] == 42 and csms.sent[-1][1]["transaction_id"] == 42
    assert len(station.queue) == 0
