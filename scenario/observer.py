"""What a scenario sees of its charge points: their statuses and their connectors' statuses
(MQTT), and every OCPP frame they exchanged, kept for the expectations to query.

Frames come from each charge point's own `ocpp.log` when its instance directory is on this
machine (a launcher the run started): the `ocpp_log` topic misses the frames of a charge point
whose MQTT connection is not up yet (a booting fleet's BootNotifications). With a launcher
found on the broker, the topic is all there is.

Only the charge points the scenario started are watched, from the moment it starts them: a
status retained by an earlier run of the same id on the broker never satisfies an expectation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cp_simu.mqtt import Message, MqttClient, parse_json_message
from cp_simu.topics import TopicKind, Topics

CALL, RESULT, ERROR = 2, 3, 4


@dataclass(frozen=True)
class Frame:
    """One OCPP frame a charge point logged: `direction` out (to the CSMS) or in."""

    cp_id: str
    direction: str
    message: list[Any]
    stamp: datetime  # the charge point's clock, as logged

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
    log_offset: int = 0  # how much of its ocpp.log was read


class Observer:
    """Fed by the MQTT client's thread, read by the runner's: every access under one lock."""

    def __init__(self, topics: Topics, instances: Path | None = None) -> None:
        """`instances`: the local directory holding the charge points' instance directories."""
        self.topics = topics
        self.instances = instances
        self._cps: dict[str, _Cp] = {}
        self._lock = threading.Lock()
        self.errors: list[tuple[str, str]] = []  # (topic, error) the launcher and our CPs reported

    def attach(self, mqtt: MqttClient) -> None:
        """Subscribe on `mqtt` (its only handler for these filters); to the ocpp_log topics only
        without log files to read."""
        filters = [self.topics.all_cp_statuses, self.topics.all_connector_statuses, self.topics.all_cp_errors,
                   self.topics.launcher_error]
        for topic_filter in filters + ([] if self.instances else [self.topics.all_ocpp_logs]):
            mqtt.subscribe(topic_filter, self.on_message)

    def watch(self, cp_ids: Iterable[str]) -> None:
        """Start (again) from nothing for these charge points: frames an earlier charge point of
        the same id logged are skipped."""
        with self._lock:
            for cp_id in cp_ids:
                self._cps[cp_id] = _Cp(log_offset=self._log_size(cp_id))

    def _log(self, cp_id: str) -> Path | None:
        return self.instances / cp_id / "ocpp.log" if self.instances else None

    def _log_size(self, cp_id: str) -> int:
        path = self._log(cp_id)
        try:
            return path.stat().st_size if path else 0
        except OSError:
            return 0

    def refresh(self, cp_ids: Iterable[str]) -> None:
        """Read what these charge points added to their ocpp.log since the last time."""
        for cp_id in cp_ids:
            path, cp = self._log(cp_id), self._cps.get(cp_id)
            if path is None or cp is None:
                continue
            size = self._log_size(cp_id)
            if size < cp.log_offset:  # rotated: what the old file still had is lost to us
                cp.log_offset = 0
            if size == cp.log_offset:
                continue
            try:
                with path.open("rb") as f:
                    f.seek(cp.log_offset)
                    chunk = f.read(size - cp.log_offset)
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1  # a line being written waits for the next time
            cp.log_offset += complete
            with self._lock:
                for line in chunk[:complete].splitlines():
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        self._record(cp, cp_id, record)

    # -- input (MQTT thread) ----------------------------------------------
    def on_message(self, msg: Message) -> None:
        message = parse_json_message(self.topics, msg)
        if message is None:
            return
        parsed, data = message
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
            elif parsed.kind is TopicKind.CONNECTOR_STATUS and (number := parsed.connector_number) is not None:
                cp.connectors[number] = data
            elif parsed.kind is TopicKind.CP_OCPP_LOG and self.instances is None:  # else: from the files
                self._record(cp, str(parsed.cp_id), data)

    @staticmethod
    def _record(cp: _Cp, cp_id: str, data: dict[str, Any]) -> None:
        message = data.get("message")
        if not (isinstance(message, list) and len(message) >= 3 and message[0] in (CALL, RESULT, ERROR)):
            return
        try:
            stamp = datetime.fromisoformat(str(data.get("time")))
        except ValueError:
            stamp = datetime.now(UTC)
        frame = Frame(cp_id, str(data.get("direction")), message, stamp)
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

    def calls(self, cp_id: str, action: str | None, direction: str = "out",
              since: datetime | None = None) -> list[Frame]:
        """Calls of `action` (any if None) the charge point made (`out`) or received (`in`)."""
        with self._lock:
            cp = self._cps.get(cp_id)
            return [f for f in (cp.calls if cp else []) if f.direction == direction
                    and (since is None or f.stamp >= since)
                    and (action is None or f.action == action)]

    def answer(self, call: Frame) -> Frame | None:
        """The CallResult or CallError that answered `call` (it travels the other way)."""
        with self._lock:
            cp = self._cps.get(call.cp_id)
            back = "in" if call.direction == "out" else "out"
            return cp.answers.get((back, call.unique_id)) if cp else None
