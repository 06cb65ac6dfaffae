"""What a scenario sees of its charge points on MQTT: their statuses, their connectors'
statuses and every OCPP frame of their `ocpp_log` topic, kept for the expectations to query.

Only the charge points the scenario started are watched, from the moment it starts them: a
status retained by an earlier run of the same id on the broker never satisfies an expectation.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import TopicKind, Topics

CALL, RESULT, ERROR = 2, 3, 4


@dataclass(frozen=True)
class Frame:
    """One OCPP frame a charge point logged: `direction` out (to the CSMS) or in."""

    cp_id: str
    direction: str
    message: list[Any]
    stamp: datetime | None  # the charge point's clock, as logged
    seen: float  # time.monotonic() when the scenario received it

    @property
    def type(self) -> int:
        return self.message[0]

    @property
    def unique_id(self) -> str:
        return str(self.message[1])

    @property
    def action(self) -> str:
        return str(self.message[2]) if self.type == CALL else ""

    @property
    def payload(self) -> Any:
        return self.message[3] if self.type == CALL else self.message[2] if self.type == RESULT else None


@dataclass
class _Cp:
    status: dict[str, Any] | None = None
    connectors: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[Frame] = field(default_factory=list)
    answers: dict[tuple[str, str], Frame] = field(default_factory=dict)  # (direction, unique id)


class Observer:
    """Fed by the MQTT client's thread, read by the runner's: every access under one lock."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics
        self._cps: dict[str, _Cp] = {}
        self._lock = threading.Lock()
        self.errors: list[tuple[str, str]] = []  # (topic, error) the launcher and our CPs reported

    def attach(self, mqtt: MqttClient) -> None:
        for topic_filter in (self.topics.all_cp_statuses, self.topics.all_connector_statuses,
                             self.topics.all_ocpp_logs, self.topics.all_cp_errors,
                             self.topics.launcher_error):
            mqtt.subscribe(topic_filter, self.on_message)

    def watch(self, cp_ids: Iterable[str]) -> None:
        """Start (again) from nothing for these charge points."""
        with self._lock:
            for cp_id in cp_ids:
                self._cps[cp_id] = _Cp()

    # -- input (MQTT thread) ----------------------------------------------
    def on_message(self, msg: Message) -> None:
        parsed = self.topics.parse(msg.topic)
        if parsed is None:
            return
        try:
            data = json.loads(msg.payload) if msg.payload else None
        except ValueError:
            return
        with self._lock:
            if parsed.kind in (TopicKind.LAUNCHER_ERROR, TopicKind.CP_ERROR):
                if parsed.kind is TopicKind.LAUNCHER_ERROR or parsed.cp_id in self._cps:
                    error = data.get("error", "") if isinstance(data, dict) else str(data)
                    self.errors.append((msg.topic, str(error)))
                return
            cp = self._cps.get(parsed.cp_id or "")
            if cp is None or not isinstance(data, dict):
                return
            if parsed.kind is TopicKind.CP_STATUS:
                cp.status = data
            elif parsed.kind is TopicKind.CONNECTOR_STATUS and (parsed.connector or "").isdigit():
                cp.connectors[int(parsed.connector or 0)] = data
            elif parsed.kind is TopicKind.CP_OCPP_LOG:
                self._record(cp, str(parsed.cp_id), data)

    @staticmethod
    def _record(cp: _Cp, cp_id: str, data: dict[str, Any]) -> None:
        message = data.get("message")
        if not (isinstance(message, list) and len(message) >= 3 and message[0] in (CALL, RESULT, ERROR)):
            return
        try:
            stamp: datetime | None = datetime.fromisoformat(str(data.get("time")))
        except ValueError:
            stamp = None
        frame = Frame(cp_id, str(data.get("direction")), message, stamp, time.monotonic())
        if frame.type == CALL:
            cp.calls.append(frame)
        else:
            cp.answers[(frame.direction, frame.unique_id)] = frame

    # -- queries (runner thread) ------------------------------------------
    def status(self, cp_id: str, connector: int | None = None) -> str | None:
        """The registration status (Accepted, Disconnected, Dead…), or a connector's status."""
        with self._lock:
            cp = self._cps.get(cp_id)
            if cp is None:
                return None
            data = cp.status if connector is None else cp.connectors.get(connector)
            return str(data.get("status")) if data else None

    def calls(self, cp_id: str, action: str | None, direction: str = "out", since: float = 0.0) -> list[Frame]:
        """Calls of `action` (any if None) the charge point made (`out`) or received (`in`)."""
        with self._lock:
            cp = self._cps.get(cp_id)
            return [f for f in (cp.calls if cp else []) if f.direction == direction and f.seen >= since
                    and (action is None or f.action == action)]

    def answer(self, call: Frame) -> Frame | None:
        """The CallResult or CallError that answered `call` (it travels the other way)."""
        with self._lock:
            cp = self._cps.get(call.cp_id)
            back = "in" if call.direction == "out" else "out"
            return cp.answers.get((back, call.unique_id)) if cp else None
