"""One record of a charge point's `ocpp_log` topic, read as an OCPP-J frame (no Qt: it is
parsed on the MQTT thread, and the message table only displays it).

A record is `{"time", "direction": "out" | "in", "message": <the frame as sent>}`; anything
else (another CP's dialect, a frame that is not OCPP-J) is kept as text rather than dropped,
so the user still sees what crossed the wire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4
KINDS = {CALL: "Call", CALL_RESULT: "Result", CALL_ERROR: "Error"}
ARROWS = {"in": "◀", "out": "▶", "received": "◀", "sent": "▶", "rx": "◀", "tx": "▶"}
SUMMARY_LENGTH = 160
VALUE_LENGTH = 40


@dataclass(frozen=True)
class OcppFrame:
    time: str
    direction: str  # "out" (sent by the CP), "in" (received), or what the record said
    message: object  # the frame as logged; None when the record carries none
    text: str  # the record as received
    kind: str = ""  # Call / Result / Error, "" when the message is not an OCPP-J frame
    unique_id: str = ""
    action: str = ""  # a Call's action; a result's is known only from its call (see CallPairing)
    body: object = None  # the Call / Result payload, or the Error's [code, description, details]

    @classmethod
    def parse(cls, payload: bytes) -> OcppFrame:
        text = payload.decode("utf-8", "replace")
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return cls("", "", None, text)
        if not isinstance(data, dict):
            return cls("", "", None, text)
        when = str(data.get("time") or data.get("timestamp") or "")
        direction = str(data.get("direction") or "")
        message = data.get("message", data.get("msg", data.get("frame")))
        frame = message
        if isinstance(message, str):  # a frame logged as its text (a malformed one, say)
            try:
                frame = json.loads(message)
            except (ValueError, RecursionError):
                frame = None
        if not (isinstance(frame, list) and len(frame) >= 3 and frame[0] in KINDS):
            return cls(when, direction, message, text)
        kind, unique_id = frame[0], str(frame[1])
        if kind == CALL:
            body = frame[3] if len(frame) > 3 else {}
            return cls(when, direction, message, text, KINDS[kind], unique_id, str(frame[2]), body)
        body = frame[2] if kind == CALL_RESULT else frame[2:]
        return cls(when, direction, message, text, KINDS[kind], unique_id, "", body)

    @property
    def arrow(self) -> str:
        return ARROWS.get(self.direction.lower(), self.direction)

    @property
    def clock(self) -> str:
        """The time of day of an ISO timestamp (`10:00:00.123`), or the time as given."""
        _date, sep, rest = self.time.partition("T")
        return rest.rstrip("Z") if sep else self.time

    @property
    def summary(self) -> str:
        """What the frame says in one short line: `connectorId=1 status=Charging`, an error's
        code and description."""
        if self.kind == "Error" and isinstance(self.body, list):
            code, description = [*self.body, "", ""][:2]
            return _cut(f"{code}: {description}" if description else str(code), SUMMARY_LENGTH)
        if isinstance(self.body, dict):
            return _cut(" ".join(f"{k}={_short(v)}" for k, v in self.body.items()), SUMMARY_LENGTH)
        shown = self.body if self.kind else self.message
        if shown is None:
            return _cut(self.text, SUMMARY_LENGTH)
        return _cut(shown if isinstance(shown, str) else json.dumps(shown), SUMMARY_LENGTH)

    def pretty(self) -> str:
        """The whole frame, indented, for the detail pane."""
        if self.message is None:
            return self.text
        if isinstance(self.message, str):
            return self.message
        return json.dumps(self.message, indent=2, ensure_ascii=False)


class CallPairing:
    """Names each result after the call it answers: a result sent by the CP answers a call it
    received, and the other way round. Bounded: unanswered calls are forgotten oldest first."""

    def __init__(self, limit: int = 2000) -> None:
        self._limit = limit
        self._calls: dict[tuple[str, str], str] = {}

    def action(self, frame: OcppFrame) -> str:
        if frame.kind == "Call":
            self._calls[(frame.direction, frame.unique_id)] = frame.action
            if len(self._calls) > self._limit:
                del self._calls[next(iter(self._calls))]
            return frame.action
        if frame.kind in ("Result", "Error"):
            caller = {"in": "out", "out": "in"}.get(frame.direction, "")
            return self._calls.pop((caller, frame.unique_id), "")
        return ""


def _short(value: object) -> str:
    if isinstance(value, dict):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    return _cut(value if isinstance(value, str) else json.dumps(value), VALUE_LENGTH)


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"
