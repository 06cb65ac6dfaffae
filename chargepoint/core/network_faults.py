"""Faults injected on a charge point's OCPP link (the `network` command), so offline
behaviour can be tested without touching the CSMS.

- drop: the connection is cut at once (no WebSocket close: the TCP connection is aborted)
  and the link stays down for `duration` seconds; the charge point queues what it must
  deliver and reconnects as soon as the link is back.
- refuse: every connection attempt fails as refused for `duration` seconds (the current
  connection is left alone; combine with drop to keep a charge point out).
- latency: every frame the charge point sends leaves `latency_ms` later, so each round
  trip (its calls and the CSMS's) takes that much longer, for `duration` seconds.
- restore: all of it ends now.
A fault without `duration` lasts until restore. The object only keeps the deadlines; the
session adapter asks it before connecting and before sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from cp_simu.models import NetworkAction, NetworkFault


class NetworkFaults:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._down_until = 0.0
        self._refuse_until = 0.0
        self._latency_until = 0.0
        self._latency = 0.0  # s
        self._changed: asyncio.Event | None = None  # made in the loop that waits on it
        self.drop_listeners: list[Callable[[], None]] = []  # cut the connection now
        self.listeners: list[Callable[[], None]] = []  # what `describe` says changed

    def apply(self, fault: NetworkFault) -> None:
        until = math.inf if fault.duration is None else self._clock() + fault.duration
        if fault.action is NetworkAction.DROP:
            self._down_until = until
        elif fault.action is NetworkAction.REFUSE:
            self._refuse_until = until
        elif fault.action is NetworkAction.LATENCY:
            self._latency_until, self._latency = until, fault.latency_ms / 1000.0
        else:
            self._down_until = self._refuse_until = self._latency_until = 0.0
        if self._changed is not None:
            self._changed.set()
        if fault.action is NetworkAction.DROP:
            for listener in self.drop_listeners:
                listener()
        for listener in self.listeners:
            listener()

    # -- what is in force now -------------------------------------------------------------
    def down_for(self) -> float:
        """Seconds the link stays down (0: it is up)."""
        return max(0.0, self._down_until - self._clock())

    def refusing(self) -> bool:
        return self._refuse_until > self._clock()

    def latency(self) -> float:
        """Seconds added to every frame sent now."""
        return self._latency if self._latency_until > self._clock() else 0.0

    def next_change(self) -> float | None:
        """Seconds until a timed fault ends (what `describe` says changes then), None if none will."""
        now = self._clock()
        ends = [t - now for t in (self._down_until, self._refuse_until, self._latency_until) if now < t < math.inf]
        return min(ends) if ends else None

    def describe(self) -> str:
        """The faults in force, for the CP status's `network` ("" when none)."""
        parts = [name for name, active in (("drop", self.down_for() > 0), ("refuse", self.refusing())) if active]
        if self.latency():
            parts.append(f"latency {self._latency * 1000:g} ms")
        return ", ".join(parts)

    # -- waiting --------------------------------------------------------------------------
    async def wait_up(self) -> None:
        """Until the link is back (its time is over, or restore)."""
        while (left := self.down_for()) > 0:
            await self.pause(left)

    async def pause(self, delay: float) -> None:
        """Sleep `delay` seconds, or less if the faults change (restore: reconnect now)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), None if math.isinf(delay) else delay)
