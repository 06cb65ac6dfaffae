"""The charge point's call statistics and when they go out on its `stats` topic.

Round-trip times accumulate from the process start (cumulative histograms: a lost message
loses nothing). They are published at most every `interval` seconds and only after calls
were made since the last publication. An answered Heartbeat alone publishes nothing (it goes
out with the next publication), so an idle charge point sends nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chargepoint.core.timers import Timers
from cp_simu.latency import OK, CallLatencies
from cp_simu.models import StatsReport

TIMER = "stats"
BATCH_DELAY = 1.0  # s: calls made together (a boot, a session start) go out in one message
QUIET = frozenset({"Heartbeat"})  # what an idle charge point calls: only a failure of it is news


class CallStats:
    def __init__(self, timers: Timers, publish: Callable[[StatsReport], bool],
                 load: Callable[[], tuple[int, float]], interval: float, *,
                 clock: Callable[[], float] = time.time) -> None:
        """`publish` returns False when the message could not go out (MQTT down): it is retried
        an interval later. `load`: (sessions running, power delivered in W) now."""
        self.latencies = CallLatencies()
        self.interval = interval
        self._timers = timers
        self._publish = publish
        self._load = load
        self._clock = clock
        self.started = clock()
        self._last = -interval  # monotonic time of the last publication

    def record(self, action: str, outcome: str, seconds: float) -> None:
        self.latencies.record(action, outcome, seconds)
        if action not in QUIET or outcome != OK:
            self._arm()

    def _arm(self) -> None:
        if TIMER not in self._timers and self._timers.loop is not None:
            delay = max(BATCH_DELAY, self._last + self.interval - time.monotonic())
            self._timers.set(TIMER, delay, self.publish)

    def report(self) -> StatsReport:
        sessions, power_w = self._load()
        return StatsReport(time=self._clock(), started=self.started, calls=self.latencies,
                           sessions=sessions, power_w=power_w)

    def publish(self) -> None:
        self._last = time.monotonic()
        if not self._publish(self.report()):
            self._arm()
