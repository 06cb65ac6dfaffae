"""The live terminal view of `ocpp-simu up`: the fleet as the retained MQTT statuses say.

On a terminal the screen is redrawn in place (plain ANSI, no curses); otherwise (a pipe, a
log file, CI) each change is printed as one line, so the output stays readable.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import click

from cp_simu.mqtt import Message, parse_json_message
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
    """Registration and connector states of every charge point on the broker, fed by MQTT
    messages: those `up` asked for (`ids`, whose boot the progress bar follows) first, then
    any other one (started by someone else, e.g. with mosquitto_pub or the supervisor)."""

    topics: Topics
    ids: list[str]
    header: Callable[[], str] = lambda: ""
    hints: list[str] = field(default_factory=list)  # what to do next, under the table
    registrations: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a CP is not Accepted
    central_systems: dict[str, str] = field(default_factory=dict)
    connectors: dict[str, dict[int, dict]] = field(default_factory=dict)
    last_error: str = ""
    started_at: float = field(default_factory=time.monotonic)
    booted_in: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _events: list[str] = field(default_factory=list)
    _reported: int = -1  # accepted count last printed (line mode)

    # -- input (MQTT thread) ----------------------------------------------
    def on_message(self, msg: Message) -> None:
        message = parse_json_message(self.topics, msg)
        if message is None:
            return
        parsed, data = message
        with self._lock:
            if parsed.kind is TopicKind.LAUNCHER_ERROR and isinstance(data, dict):
                self.last_error = str(data.get("error", ""))
                self._events.append(f"launcher error: {self.last_error}")
            elif parsed.kind is TopicKind.CP_STATUS and parsed.cp_id is not None:
                self._on_cp_status(parsed.cp_id, data)
            elif (parsed.kind is TopicKind.CONNECTOR_STATUS and parsed.cp_id is not None
                  and isinstance(data, dict) and (number := parsed.connector_number) is not None):
                slots = self.connectors.setdefault(parsed.cp_id, {})
                previous = slots.get(number, {}).get("status")
                slots[number] = data
                if previous != data.get("status"):
                    self._events.append(f"{parsed.cp_id} connector {parsed.connector} {data.get('status')}")

    def _on_cp_status(self, cp_id: str, data: object) -> None:
        if data is None:  # retained status cleared: the CP was removed
            for table in (self.registrations, self.reasons, self.central_systems, self.connectors):
                table.pop(cp_id, None)
            self._events.append(f"{cp_id} removed")
            return
        if not isinstance(data, dict):
            return
        status, reason = str(data.get("status", "?")), str(data.get("reason") or "")
        self.central_systems[cp_id] = str(data.get("central_system") or "")
        if (self.registrations.get(cp_id), self.reasons.get(cp_id, "")) != (status, reason):
            self.registrations[cp_id] = status
            self.reasons[cp_id] = reason
            self._events.append(f"{cp_id} {status}" + (f" ({reason})" if reason else ""))

    # -- derived ----------------------------------------------------------
    def shown(self) -> list[str]:
        """`ids` first, then every other charge point with a status, by id."""
        with self._lock:
            wanted = set(self.ids)
            return self.ids + sorted(i for i in self.registrations if i not in wanted)

    def running(self, cp_id: str) -> bool:
        with self._lock:
            return self.registrations.get(cp_id, "Dead") != "Dead"

    def csms_in_use(self) -> Counter[str]:
        """CSMS URL -> how many live charge points use it."""
        with self._lock:
            return Counter(url for cp_id, url in self.central_systems.items()
                           if url and self.registrations.get(cp_id, "Dead") != "Dead")

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
        shown = self.shown()
        rows = shutil.get_terminal_size((100, 30)).lines - 8 - len(self.hints)
        lines = [self.header(), self._progress()]
        with self._lock:
            counts = Counter(self.registrations.get(i, "unknown") for i in shown)
            lines.append("  ".join(f"{_paint(k, k)} {counts[k]}" for k in REGISTRATIONS if counts[k])
                         + (f"  waiting {counts['unknown']}" if counts["unknown"] else ""))
            lines.append("")
            lines.append(click.style(f"{'ID':<12}{'STATUS':<14}CONNECTORS / REASON", bold=True))
            for cp_id in shown[:max(rows, 1)]:
                state = self.registrations.get(cp_id, "…")
                reason = self.reasons.get(cp_id, "")
                detail = click.style(reason, fg=_COLORS.get(state)) if reason else self._connector_text(cp_id)
                lines.append(f"{cp_id:<12}{_paint(state, state, 14)}{detail}")
            if len(shown) > rows:
                lines.append(f"… and {len(shown) - rows} more")
            if self.last_error:
                lines.append(click.style(f"last launcher error: {self.last_error[:200]}", fg="red"))
        lines.extend(self.hints)
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
