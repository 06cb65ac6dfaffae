"""Charge point starts waiting for their turn: a start command's `"ramp": N` spreads its
charge points at N per second (a controlled connection storm) instead of all at once.

A plain object on the launcher's main thread: `add` queues a command's accepted entries, `due`
hands out those whose time has come (one batch per call, so the launcher forks them
together), `cancel` drops entries a kill command names before they ran, `wait` says how
long the launcher may sleep before the next one is due.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cp_simu.models import ChargePointDefinition


@dataclass(frozen=True)
class PendingStart:
    definition: ChargePointDefinition
    fresh: bool  # start (new instance directory) or restart (keep it)
    raw: bytes | str  # the command, for error reports
    step: float = 0.0  # seconds from this start to the next one of its ramp


class Pacer:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._now: list[PendingStart] = []  # no ramp: all at once
        self._ramp: deque[PendingStart] = deque()
        self._next = 0.0  # when the head of the ramp is due

    def add(self, definitions: list[ChargePointDefinition], *, fresh: bool, raw: bytes | str,
            rate: float | None, group: int = 1) -> None:
        """Due now (rate None) or one every 1/rate s from now; by `group`s (the members of one
        packed process start together, a group every group/rate s). A second ramped command is
        queued after the first: the launcher's rate stays what was asked."""
        if rate is None:
            self._now += [PendingStart(d, fresh, raw) for d in definitions]
            return
        if not self._ramp:
            self._next = self._clock()
        group = max(1, group)
        for i, d in enumerate(definitions):  # the last of a group waits for the next group
            last = (i + 1) % group == 0 or i + 1 == len(definitions)
            self._ramp.append(PendingStart(d, fresh, raw, group / rate if last else 0.0))

    def due(self) -> list[PendingStart]:
        """What may start now. A launcher held up (a slow fork server) does not make up for
        the lost time with a burst: a ramp resumes at its rate, one catch-up start at most."""
        now = self._clock()
        batch, self._now = self._now, []
        while self._ramp and self._next <= now:
            pending = self._ramp.popleft()
            batch.append(pending)
            self._next = max(self._next + pending.step, now - pending.step / 2)
        return batch

    def wait(self, longest: float) -> float:
        """Seconds until the next start is due, at most `longest`."""
        if self._now:
            return 0.0
        if not self._ramp:
            return longest
        return min(longest, max(0.0, self._next - self._clock()))

    def cancel(self, ids: Iterable[str]) -> list[str]:
        """Drop the waiting starts of `ids`; the ids that were waiting."""
        wanted = set(ids)
        dropped = [p.definition.id for p in (*self._now, *self._ramp) if p.definition.id in wanted]
        self._now = [p for p in self._now if p.definition.id not in wanted]
        self._ramp = deque(p for p in self._ramp if p.definition.id not in wanted)
        return dropped

    def __contains__(self, cp_id: str) -> bool:
        return any(p.definition.id == cp_id for p in (*self._now, *self._ramp))

    def __len__(self) -> int:
        return len(self._now) + len(self._ramp)
