"""The car behind a connector as a battery: what it draws, and how its state of charge moves.

An `Ev` draws the least of its charging curve at its SoC and its on-board limits (AC:
current per phase on its own phases; DC: its maximum power); the meter then caps that with
the setpoint offered. The SoC follows the energy the meter books while the EV is attached,
times the efficiency, so it is exact whatever the power did in between. Its demand is
re-evaluated every `SOC_STEP` of SoC and exactly at the target (`seconds_to_next_step`):
there it stops drawing, which the connector shows as SuspendedEV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

from cp_simu.models import CUSTOM_EV, EvSettings

SOC_STEP = 1.0  # % of SoC between two re-evaluations of the demand (the curve's resolution)
FULL_TOLERANCE = 1e-6  # % below the target that counts as reached (a timer may fire a hair early)
# A custom EV without a curve tapers like this, as a share of its AC or DC maximum.
DEFAULT_TAPER: tuple[tuple[float, float], ...] = ((0.0, 1.0), (80.0, 1.0), (100.0, 0.1))

Curve = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class EvSpec:
    """What a car is: battery, limits, curve (W drawn from the station by SoC %), efficiency,
    and the SoC it arrives with and wants to reach."""

    name: str  # preset name, or "custom"
    capacity_kwh: float
    soc: float
    target_soc: float
    ac_max_current: float  # A per phase
    ac_phases: int
    dc_max_power: float  # W
    efficiency: float  # energy into the battery / energy drawn
    curve: Curve | None = None  # None: DEFAULT_TAPER of the AC or DC maximum

    def limit_w(self, soc: float, mode_max_w: float) -> float:
        """The most the car draws at `soc`, where its AC or DC hardware allows `mode_max_w`."""
        if self.curve is None:
            return mode_max_w * interpolate(DEFAULT_TAPER, soc)
        return min(mode_max_w, interpolate(self.curve, soc))

    @classmethod
    def from_settings(cls, settings: EvSettings) -> EvSpec:
        """The preset (or the custom base) with the settings' values over it."""
        base = PRESETS[settings.preset] if settings.preset else CUSTOM_BASE
        overrides = {k: v for k, v in asdict(settings).items() if k != "preset" and v is not None}
        if settings.curve is not None:
            overrides["curve"] = tuple(tuple(p) for p in settings.curve)
        return cls(**{**asdict(base), "curve": base.curve, **overrides, "name": settings.name})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["curve"] = None if self.curve is None else [list(p) for p in self.curve]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvSpec:
        curve = data.get("curve")
        return cls(**{**data, "curve": None if curve is None else tuple((float(s), float(w)) for s, w in curve)})


def interpolate(curve: Curve, soc: float) -> float:
    """Linear between points; flat before the first and after the last."""
    if soc <= curve[0][0]:
        return curve[0][1]
    for (s0, w0), (s1, w1) in pairwise(curve):
        if soc <= s1:
            return w0 + (w1 - w0) * (soc - s0) / (s1 - s0)
    return curve[-1][1]


PRESETS: dict[str, EvSpec] = {
    "city_car": EvSpec("city_car", 42.0, 20.0, 100.0, 16.0, 3, 50_000.0, 0.90,
                       ((0, 50_000), (60, 50_000), (80, 30_000), (95, 10_000), (100, 3_000))),
    "suv": EvSpec("suv", 95.0, 20.0, 100.0, 16.0, 3, 150_000.0, 0.92,
                  ((0, 150_000), (50, 150_000), (80, 90_000), (95, 30_000), (100, 8_000))),
    "van": EvSpec("van", 75.0, 20.0, 100.0, 16.0, 3, 80_000.0, 0.88,
                  ((0, 80_000), (70, 80_000), (90, 35_000), (100, 6_000))),
    "phev": EvSpec("phev", 14.0, 20.0, 100.0, 16.0, 1, 0.0, 0.88,
                   ((0, 7_400), (85, 7_400), (100, 1_500))),
    "dc_800v": EvSpec("dc_800v", 77.4, 20.0, 100.0, 16.0, 3, 230_000.0, 0.93,
                      ((0, 230_000), (50, 220_000), (80, 120_000), (95, 40_000), (100, 10_000))),
}
CUSTOM_BASE = EvSpec(CUSTOM_EV, 60.0, 20.0, 100.0, 16.0, 3, 100_000.0, 0.90)


class Ev:
    """One car's battery at a connector. `mark_wh` is the connector's meter register at which
    `soc` was last booked: the energy since then is the car's."""

    def __init__(self, spec: EvSpec, *, mark_wh: float, soc: float | None = None) -> None:
        self.spec = spec
        self.soc = spec.soc if soc is None else soc
        self.mark_wh = mark_wh

    def soc_at(self, energy_wh: float) -> float:
        """The SoC once the meter register reads `energy_wh`."""
        gained = max(0.0, energy_wh - self.mark_wh) * self.spec.efficiency / (self.spec.capacity_kwh * 10.0)
        return min(100.0, self.soc + gained)

    def book(self, energy_wh: float) -> None:
        self.soc, self.mark_wh = self.soc_at(energy_wh), energy_wh

    @property
    def full(self) -> bool:
        return self.soc >= self.spec.target_soc - FULL_TOLERANCE

    def demand_dc(self) -> float:
        """W the car wants from a DC station now."""
        return 0.0 if self.full else self.spec.limit_w(self.soc, self.spec.dc_max_power)

    def demand_ac(self, voltage: float, phases: int, power_factor: float = 1.0) -> tuple[float, float, float]:
        """A per phase the car wants (L1, L2, L3) where the station gives it `phases` phases."""
        n = min(self.spec.ac_phases, phases)
        if self.full or n <= 0:
            return (0.0, 0.0, 0.0)
        hardware_w = self.spec.ac_max_current * voltage * n * power_factor
        amps = self.spec.limit_w(self.soc, hardware_w) / (voltage * n * power_factor)
        return tuple(amps if i < n else 0.0 for i in range(3))  # type: ignore[return-value]

    def full_at_wh(self) -> float | None:
        """The meter register at which the car reaches its target (None: it has)."""
        if self.full:
            return None
        return self.mark_wh + (self.spec.target_soc - self.soc) * self.spec.capacity_kwh * 10.0 / self.spec.efficiency

    def seconds_to_next_step(self, energy_wh: float, power_w: float) -> float | None:
        """From the meter register `energy_wh`, the time at `power_w` until the demand is due
        again: the next SOC_STEP or the target; 0 once the target is reached but not yet
        booked; None while it draws nothing."""
        if self.full:
            return None
        soc = self.soc_at(energy_wh)
        if soc >= self.spec.target_soc - FULL_TOLERANCE:
            return 0.0
        if power_w <= 0:
            return None
        step = (math.floor(soc / SOC_STEP + FULL_TOLERANCE) + 1) * SOC_STEP
        goal = min(self.spec.target_soc, step)
        return max(0.0, goal - soc) * self.spec.capacity_kwh * 10.0 / self.spec.efficiency * 3600.0 / power_w

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "soc": self.soc, "mark_wh": self.mark_wh}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ev:
        return cls(EvSpec.from_dict(data["spec"]), mark_wh=float(data["mark_wh"]), soc=float(data["soc"]))


def car_demand(ev: Ev, *, dc: bool, voltage: float, phases: int, power_factor: float) -> Sequence[float]:
    """The EV's demand in the car input's shape: A per phase (AC), or W in the first (DC)."""
    if dc:
        return (ev.demand_dc(), 0.0, 0.0)
    return ev.demand_ac(voltage, phases, power_factor)
