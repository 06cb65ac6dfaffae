"""Every OCPP frame and connection event, as a readable stdout line and a JSON line.

Logging happens at the frame level (see `JournaledConnection`) rather than in handlers, so
what is recorded is exactly what crossed the wire, including CallErrors produced by the ocpp
library and the answers to CSMS-initiated calls.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from cp_simu import redact

from .model import utc_now

MESSAGE_TYPES = {2: "call", 3: "call_result", 4: "call_error"}
SUMMARY_CHARS = 160
_MAX_PENDING = 1000


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Journal:
    """Writes records to stdout (one human line), to an optional JSON-lines file, and keeps
    the most recent ones in memory for the control API."""

    def __init__(self, path: Path | None = None, *, out: TextIO | None = None,
                 keep: int = 10_000, quiet: bool = False) -> None:
        """`quiet` (the CSMS's --fast): no line per message on stdout, and the file flushed by
        `flush()` (which its owner calls periodically) instead of after every record."""
        self._out: TextIO | None = None if quiet else out if out is not None else sys.stdout
        self._flush_each = not quiet
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, record: dict[str, Any], line: Callable[[], str]) -> None:
        """`line`: the stdout line, made only when there is a stdout to print it on."""
        self.recent.append(record)
        if self._out is not None:
            stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
            try:
                print(f"{stamp} {line()}", file=self._out, flush=True)
            except (BrokenPipeError, ValueError):  # stdout piped into `head` and closed
                self._out = None
        if self._file is not None:
            self._file.write(_compact(record) + "\n")
            if self._flush_each:
                self._file.flush()

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def event(self, event: str, cp_id: str | None, **fields: Any) -> None:
        """A connection event: connected, disconnected, refused, replaced."""
        record = {"time": utc_now(), "event": event, "cp_id": cp_id, **fields}
        extras = (f"{k}={v}" for k, v in fields.items() if v is not None)
        self._write(record, lambda: f"[{cp_id or '-'}] ** {event} {' '.join(extras)}".rstrip())

    def message(self, cp_id: str, ocpp_version: str, direction: str, message_type: str,
                action: str | None, unique_id: str | None, payload: Any) -> None:
        record = {
            "time": utc_now(), "cp_id": cp_id, "ocpp_version": ocpp_version, "direction": direction,
            "message_type": message_type, "action": action, "unique_id": unique_id, "payload": payload,
        }

        def line() -> str:
            summary = _compact(payload)
            if len(summary) > SUMMARY_CHARS:
                summary = summary[: SUMMARY_CHARS - 3] + "..."
            arrow = "<-" if direction == "in" else "->"
            return f"[{cp_id}] {arrow} {message_type:<11} {action or '?'} {summary}"

        self._write(record, line)

    def messages(self, cp_id: str | None = None, action: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """The last `limit` OCPP message records, optionally for one CP / action."""
        picked: Iterable[dict[str, Any]] = (
            r for r in self.recent
            if "message_type" in r and (cp_id is None or r["cp_id"] == cp_id)
            and (action is None or r["action"] == action)
        )
        found = list(picked)
        return found[-limit:] if limit > 0 else []


class _WebSocket(Protocol):
    async def recv(self) -> str | bytes: ...
    async def send(self, message: str) -> None: ...


class JournaledConnection:
    """The `recv()`/`send()` object handed to the ocpp library; journals every frame.

    Results carry no action on the wire, so the action of each call still waiting for its
    answer is remembered per direction, keyed by unique id.
    """

    def __init__(self, ws: _WebSocket, journal: Journal, cp_id: str, ocpp_version: str) -> None:
        self._ws = ws
        self._journal = journal
        self._cp_id = cp_id
        self._version = ocpp_version
        self._pending: dict[str, dict[str, str]] = {"in": {}, "out": {}}

    async def recv(self) -> str | bytes:
        frame = await self._ws.recv()
        self._log("in", frame)
        return frame

    async def send(self, message: str) -> None:
        self._log("out", message)
        await self._ws.send(message)

    def _log(self, direction: str, frame: str | bytes) -> None:
        text = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        try:
            msg = json.loads(text)
            message_type = MESSAGE_TYPES[msg[0]]
            unique_id = msg[1]
            if not isinstance(unique_id, str):
                raise TypeError
        except (ValueError, TypeError, KeyError, IndexError):
            self._journal.message(self._cp_id, self._version, direction, "invalid", None, None,
                                  {"raw": text[:2000]})
            return
        if message_type == "call":
            action = msg[2] if len(msg) > 2 else None
            payload = msg[3] if len(msg) > 3 else None
            pending = self._pending[direction]
            pending[unique_id] = str(action)
            if len(pending) > _MAX_PENDING:  # calls never answered must not grow it forever
                pending.pop(next(iter(pending)))
        else:
            # The answer travels the other way from the call it answers.
            action = self._pending["out" if direction == "in" else "in"].pop(unique_id, None)
            if message_type == "call_result":
                payload = msg[2] if len(msg) > 2 else None
            else:
                payload = {"errorCode": msg[2] if len(msg) > 2 else None,
                           "errorDescription": msg[3] if len(msg) > 3 else None,
                           "errorDetails": msg[4] if len(msg) > 4 else None}
        self._journal.message(self._cp_id, self._version, direction, message_type, action,
                              unique_id, redact.ocpp_message(payload))  # a password it sets stays out
