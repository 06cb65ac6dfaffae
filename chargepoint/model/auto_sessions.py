"""Automatic sessions: a seeded generator of the inputs a busy charge point receives.

A plain object (no socket, no clock): it only plans. Arrivals follow a Poisson process
(the rate, scaled by a time-of-day profile through thinning); each arrival takes a
connector the plan has free (else the driver goes away), and brings a session: a mode
(plug first, tag first, remote start), an id tag from the pool (or an invalid one), a car
(an EV preset, its SoC and the energy it wants), how long the tag takes and how long the car
stays. The sessions become timed inputs (plug, id_tag, remote_start, unplug), handed out in
time order. Every draw comes from one `random.Random(seed)` in a fixed order and nothing
depends on what the charge point or the CSMS did, so the same seed and settings always give
the same sequence of inputs.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cp_simu.models import AutoSettings

CABLE_CURRENT = 32.0  # A: an AC car's cable (a car drawing more brings a thicker one)
GAP = 2.0  # s a connector stays free between one car leaving and the next arriving
PRECISION = 3  # times are planned to the millisecond

# The capacity (kWh) of an EV preset, None when unknown: turns an energy need into a target SoC.
CapacityOf = Callable[[str], float | None]


class InputKind(StrEnum):
    PLUG = "plug"
    ID_TAG = "id_tag"
    REMOTE_START = "remote_start"  # the CSMS is to start it: whoever drives the CSMS acts
    UNPLUG = "unplug"


@dataclass(frozen=True)
class AutoInput:
    """One planned input: `at` seconds after the generator started."""

    seq: int
    at: float
    connector: int
    kind: InputKind
    session: int
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "connector": self.connector, "kind": self.kind.value,
                "session": self.session, "payload": dict(self.payload)}


@dataclass(frozen=True)
class _Planned:
    at: float
    order: int
    connector: int
    kind: InputKind
    session: int
    payload: Mapping[str, Any]

    def __lt__(self, other: _Planned) -> bool:
        return (self.at, self.order) < (other.at, other.order)


class AutoSessions:
    """The endless, seeded input plan of one charge point (`next()` gives them in order)."""

    def __init__(self, settings: AutoSettings, seed: int, *, nb_connectors: int, dc: bool, phases: int,
                 capacity_of: CapacityOf = lambda _preset: None) -> None:
        self.settings = settings
        self.seed = seed
        self._rng = random.Random(seed)
        self._connectors = list(range(1, nb_connectors + 1))
        self._dc = dc
        self._phases = phases
        self._capacity_of = capacity_of
        self._free_at = dict.fromkeys(self._connectors, 0.0)
        self._planned: list[_Planned] = []
        self._order = itertools.count()
        self._seq = itertools.count(1)
        self._sessions = itertools.count(1)
        profile = settings.profile or (1.0,)
        self._profile = profile
        self._peak = settings.rate * max(profile) / 3600.0  # arrivals per second at the busiest time
        self._arrival = self._after(0.0)
        self.balked = 0  # arrivals that found every connector taken

    def __iter__(self) -> Iterator[AutoInput]:
        return self

    def __next__(self) -> AutoInput:
        while not self._planned or self._arrival <= self._planned[0].at:
            self._arrive(self._arrival)
            self._arrival = self._after(self._arrival)
        p = heapq.heappop(self._planned)
        return AutoInput(next(self._seq), p.at, p.connector, p.kind, p.session, p.payload)

    def until(self, horizon: float) -> list[AutoInput]:
        """The inputs of a fresh plan that come before `horizon` seconds (for logs and tests)."""
        return list(itertools.takewhile(lambda item: item.at < horizon, self))

    # -- arrivals ---------------------------------------------------------
    def rate_at(self, t: float) -> float:
        """Arrivals per second at `t` (the rate scaled by the profile's slot)."""
        s = self.settings
        position = (t + s.profile_offset) % s.profile_period
        slot = min(len(self._profile) - 1, int(position * len(self._profile) / s.profile_period))
        return s.rate * self._profile[slot] / 3600.0

    def _after(self, t: float) -> float:
        """The next arrival after `t`: candidates at the peak rate, each kept with the
        probability rate(t) / peak (thinning)."""
        while True:
            t += self._rng.expovariate(self._peak)
            if self._rng.random() * self._peak <= self.rate_at(t):
                return t

    def _arrive(self, t: float) -> None:
        free = [n for n in self._connectors if self._free_at[n] <= t]
        if not free:
            self.balked += 1
            return
        connector = self._rng.choice(free)
        s = self.settings
        rng = self._rng
        mode = _weighted(rng, s.mix)
        invalid = rng.random() < s.invalid_share
        tag = rng.choice(s.invalid_tags if invalid else s.id_tags)
        dwell = rng.uniform(*s.dwell)
        delay = rng.uniform(*s.tag_delay)
        car = self._car(rng)
        session = next(self._sessions)
        plan: list[tuple[float, InputKind, Mapping[str, Any]]]
        if mode == "tag_first":
            plan = [(t, InputKind.ID_TAG, {"id": tag}), (t + delay, InputKind.PLUG, car),
                    (t + delay + dwell, InputKind.UNPLUG, {"cable": 0.0})]
        else:
            second = InputKind.ID_TAG if mode == "plug_first" else InputKind.REMOTE_START
            plan = [(t, InputKind.PLUG, car), (t + delay, second, {"id": tag}),
                    (t + max(dwell, delay + 1.0), InputKind.UNPLUG, {"cable": 0.0})]
        for at, kind, payload in plan:
            heapq.heappush(self._planned, _Planned(round(at, PRECISION), next(self._order), connector, kind,
                                                   session, payload))
        self._free_at[connector] = plan[-1][0] + GAP

    def _car(self, rng: random.Random) -> dict[str, Any]:
        """The car's input: its cable and draw, and its EV (preset, SoC, target from the energy need)."""
        s = self.settings
        if self._dc:
            car: dict[str, Any] = {"cable": s.car_power, "ready": True, "consumption_l1": s.car_power}
        else:
            car = {"cable": max(CABLE_CURRENT, s.car_current), "ready": True,
                   **{f"consumption_l{p}": s.car_current if p <= self._phases else 0.0 for p in (1, 2, 3)}}
        soc = round(rng.uniform(*s.soc), 1)
        energy = round(rng.uniform(*s.energy_kwh), 2)
        preset = _weighted(rng, s.ev) if s.ev else None
        if preset is not None:
            capacity = self._capacity_of(preset)
            ev: dict[str, Any] = {"preset": preset, "soc": soc}
            if capacity:
                ev["target_soc"] = round(min(100.0, soc + 100.0 * energy / capacity), 1)
            car["ev"] = ev
        return car


def _weighted(rng: random.Random, weights: Mapping[str, float]) -> str:
    """One name, chosen with the given weights (in the mapping's order: deterministic)."""
    return rng.choices(list(weights), list(weights.values()))[0]
