"""The live terminal view of `ocpp-simu up`: the fleet as the retained MQTT statuses say.

On a terminal the screen is redrawn in place (plain ANSI, no curses); otherwise (a pipe, a
log file, CI) each change is printed as one line, so the output stays readable.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import click

from cp_simu.mqtt import Message
from cp_simu.topics import TopicKind, Topics

REGISTRATIONS = ("Accepted", "Pending", "Rejected", "Disconnected", "Dead")
_COLORS = {"Accepted": "green", "Available": "green", "Charging": "cyan", "Pending": "yellow",
           "Disconnected": "yellow", "Preparing": "yellow", "SuspendedEV": "blue", "SuspendedEVSE": "blue",
           "Finishing": "blue", "Reserved": "magenta", "Rejected": "red", "Dead": "red", "Faulted": "red",
           "Unavailable": "red"}


def _paint(text: str, state: str, width: int = 0) -> str:
    return click.style(text.ljust(width), fg=_COLORS.get(state))


@dataclass
class FleetView:
    """Registration and connector states of the charge points `ids`, fed by MQTT messages."""

    topics: Topics
    ids: list[str]
    header: Callable[[], str] = lambda: ""
    registrations: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a CP is not Accepted
    connectors: dict[str, dict[int, dict]] = field(default_factory=dict)
    last_error: str = ""
    started_at: float = field(default_factory=time.monotonic)
    booted_in: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _events: list[str] = field(default_factory=list)
    _reported: int = -1  # accepted count last printed (line mode)

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
            if parsed.kind is TopicKind.LAUNCHER_ERROR and isinstance(data, dict):
                self.last_error = str(data.get("error", ""))
                self._events.append(f"launcher error: {self.last_error}")
            elif parsed.kind is TopicKind.CP_STATUS and parsed.cp_id in self.ids and isinstance(data, dict):
                status, reason = str(data.get("status", "?")), str(data.get("reason") or "")
                if (self.registrations.get(parsed.cp_id), self.reasons.get(parsed.cp_id, "")) != (status, reason):
                    self.registrations[parsed.cp_id] = status
                    self.reasons[parsed.cp_id] = reason
                    self._events.append(f"{parsed.cp_id} {status}" + (f" ({reason})" if reason else ""))
            elif (parsed.kind is TopicKind.CONNECTOR_STATUS and parsed.cp_id in self.ids
                  and isinstance(data, dict) and str(parsed.connector).isdigit()):
                slots = self.connectors.setdefault(parsed.cp_id, {})
                previous = slots.get(int(str(parsed.connector)), {}).get("status")
                slots[int(str(parsed.connector))] = data
                if previous != data.get("status"):
                    self._events.append(f"{parsed.cp_id} connector {parsed.connector} {data.get('status')}")

    # -- derived ----------------------------------------------------------
    def accepted(self) -> int:
        with self._lock:
            return sum(1 for i in self.ids if self.registrations.get(i) == "Accepted")

    def _progress(self) -> str:
        accepted, total = self.accepted(), len(self.ids)
        now = time.monotonic()
        if accepted == total and self.booted_in is None:
            self.booted_in = now - self.started_at
        if self.booted_in is not None:
            return f"{accepted}/{total} Accepted (all registered in {self.booted_in:.1f} s)"
        width = 30
        done = width * accepted // max(total, 1)
        return f"[{'#' * done}{'.' * (width - done)}] {accepted}/{total} Accepted ({now - self.started_at:.1f} s)"

    def _connector_text(self, cp_id: str) -> str:
        parts = []
        for n, c in sorted(self.connectors.get(cp_id, {}).items()):
            state = str(c.get("status", "?"))
            text = f"{n}:{state}"
            power = c.get("power_w")
            if state == "Charging" and isinstance(power, int | float):
                text += f" {power / 1000:.1f}kW"
            parts.append(_paint(text, state))
        return "  ".join(parts)

    # -- output -----------------------------------------------------------
    def render(self) -> list[str]:
        """The screen, as lines (without the clearing escapes)."""
        rows = shutil.get_terminal_size((100, 30)).lines - 8
        lines = [self.header(), self._progress()]
        with self._lock:
            counts = Counter(self.registrations.get(i, "unknown") for i in self.ids)
            lines.append("  ".join(f"{_paint(k, k)} {counts[k]}" for k in REGISTRATIONS if counts[k])
                         + (f"  waiting {counts['unknown']}" if counts["unknown"] else ""))
            lines.append("")
            lines.append(click.style(f"{'ID':<12}{'STATUS':<14}CONNECTORS / REASON", bold=True))
            for cp_id in self.ids[:max(rows, 1)]:
                state = self.registrations.get(cp_id, "…")
                reason = self.reasons.get(cp_id, "")
                detail = click.style(reason, fg=_COLORS.get(state)) if reason else self._connector_text(cp_id)
                lines.append(f"{cp_id:<12}{_paint(state, state, 14)}{detail}")
            if len(self.ids) > rows:
                lines.append(f"… and {len(self.ids) - rows} more")
            if self.last_error:
                lines.append(click.style(f"last launcher error: {self.last_error[:200]}", fg="red"))
        lines.append("Ctrl+C stops everything `up` started.")
        return lines

    def draw(self, tty: bool) -> None:
        """Redraw the screen in place (tty), else print what changed since the last call."""
        if tty:
            body = "".join(f"{line}\x1b[K\n" for line in self.render())
            click.echo(f"\x1b[H{body}\x1b[J", nl=False)
            return
        with self._lock:
            events, self._events = self._events, []
        for event in events:
            click.echo(event)
        accepted = self.accepted()
        if accepted != self._reported:
            self._reported = accepted
            click.echo(self._progress(), nl=True)
