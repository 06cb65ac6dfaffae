"""Bounded time series of what the connector statuses said, and of the fleet's power, for
the charts (no Qt: testable alone).

Every connector status the supervisor receives is one reading; the history keeps them for
every connector (not only the one on screen), so a chart shows the past as soon as a charge
point is selected. Memory stays bounded with any fleet: a connector keeps at most CAPACITY
points, and a reading less than SPACING_S after the point before the newest replaces the
newest (a status a second leaves a point every ~2 s, and the last one is always current), in
float32 rows that grow on demand: an idle connector costs a few hundred bytes, a charging one
at most CAPACITY x 7 x 4 bytes (about 34 kB, 40 minutes or more of history).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

import numpy as np

from cp_simu.models import ConnectorStatus
from supervisor.fleet_model import ConnectorEvent, CpEntry, CpStatusEvent, Event, Fleet

CAPACITY = 1200
SPACING_S = 3.0
FLEET_CAPACITY = 1800
FIRST_ROWS = 8

# What one reading holds, after its time: power in kW, current per phase in A (DC: 0),
# state of charge in % (NaN: the CP has no EV model), energy meter in kWh.
FIELDS = ("power_kw", "current_l1", "current_l2", "current_l3", "soc", "energy_kwh")
POWER, L1, L2, L3, SOC, ENERGY = range(1, len(FIELDS) + 1)  # columns of Series.rows()


class Series:
    """A ring of rows `(t, *values)`, t in seconds since the history's epoch."""

    def __init__(self, width: int, capacity: int, spacing: float) -> None:
        self._capacity = capacity
        self._spacing = spacing
        self._data = np.empty((min(FIRST_ROWS, capacity), width + 1), dtype=np.float32)
        self._start = 0  # index of the oldest row
        self._count = 0
        self._times = (-math.inf, -math.inf)  # of the point before the newest, and of the newest
        self.revision = 0  # bumped on every change, so a chart redraws only when needed

    def __len__(self) -> int:
        return self._count

    def add(self, t: float, values: Iterable[float]) -> None:
        row = (t, *values)
        before, newest = self._times
        if t - before < self._spacing:
            self._data[self._index(self._count - 1)] = row  # too close: the newest point moves on
            self._times = (before, t)
            self.revision += 1
            return
        self._times = (newest, t)
        if self._count < len(self._data):
            self._data[self._index(self._count)] = row
            self._count += 1
        elif len(self._data) < self._capacity:
            grown = np.empty((min(2 * len(self._data), self._capacity), self._data.shape[1]), dtype=np.float32)
            grown[:self._count] = self.rows()
            self._data, self._start = grown, 0
            self._data[self._count] = row
            self._count += 1
        else:  # full: the oldest row makes room
            self._data[self._start] = row
            self._start = (self._start + 1) % self._capacity
        self.revision += 1

    def rows(self) -> np.ndarray:
        """A copy, oldest first: shape (len, 1 + width)."""
        end = self._start + self._count
        if end <= len(self._data):
            return self._data[self._start:end].copy()
        return np.concatenate((self._data[self._start:], self._data[:end - len(self._data)]))

    def _index(self, i: int) -> int:
        return (self._start + i) % len(self._data)


def reading(entry: CpEntry, status: ConnectorStatus) -> tuple[float, ...]:
    """The FIELDS of one connector status: what its card shows, as numbers."""
    soc = math.nan if status.soc is None else status.soc
    phases = 0 if entry.is_dc else entry.nb_phases
    return (entry.connector_power_w(status) / 1000,
            status.consumption_l1 if phases else 0.0,
            status.consumption_l2 if phases > 1 else 0.0,
            status.consumption_l3 if phases > 2 else 0.0,
            soc, status.energy_wh / 1000)


class History:
    """Readings per connector and the fleet's power over time, fed by the window's batches."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.epoch = clock()
        self.connectors: dict[str, dict[int, Series]] = {}  # cp id -> connector -> readings
        self.fleet_power = Series(2, FLEET_CAPACITY, 0.0)  # kW, connectors drawing power

    def now(self) -> float:
        return self._clock() - self.epoch

    def record(self, batch: Iterable[Event], fleet: Fleet) -> None:
        """One point per connector status of the batch; a CP whose status is cleared is forgotten."""
        t = self.now()
        for event in batch:
            if isinstance(event, ConnectorEvent) and event.status is not None:
                entry = fleet.get(event.cp_id)
                if entry is not None:
                    self.series(event.cp_id, event.number).add(t, reading(entry, event.status))
            elif isinstance(event, CpStatusEvent) and event.status is None:
                self.forget(event.cp_id)

    def sample_fleet(self, fleet: Fleet) -> None:
        """Total measured power of the live CPs and how many connectors draw power, now."""
        power, drawing = 0.0, 0
        for entry in fleet.cps.values():
            if entry.alive:
                for status in entry.connectors.values():
                    watts = entry.connector_power_w(status)
                    power += watts
                    drawing += watts > 0
        self.fleet_power.add(self.now(), (power / 1000, drawing))

    def series(self, cp_id: str, number: int) -> Series:
        of_cp = self.connectors.setdefault(cp_id, {})
        series = of_cp.get(number)
        if series is None:
            series = of_cp[number] = Series(len(FIELDS), CAPACITY, SPACING_S)
        return series

    def forget(self, cp_id: str) -> None:
        self.connectors.pop(cp_id, None)

    def clear(self) -> None:
        self.connectors.clear()
        self.fleet_power = Series(2, FLEET_CAPACITY, 0.0)
