"""The connector's energy meter: what flows for a given setpoint and car demand.

Power is piecewise constant between two operating points, so the energy register is
integrated exactly whenever the operating point changes or is read: no sampling timer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class Readings:
    """One meter reading, in the units OCPP measurands use."""

    energy_wh: float
    power_w: float  # active power
    currents: tuple[float, ...]  # A, one per phase of the charge point
    voltage: float
    offered: float  # setpoint offered to the car: A per phase (AC) or W (DC)
    offered_power_w: float
    soc: float | None = None  # the car's state of charge (%), when the station knows it (DC)


class MeterModel:
    """AC: per-phase current = min(car demand, setpoint), P = V × I × power factor.
    DC: P = min(car demand in W, setpoint in W), I = P / V."""

    def __init__(self, *, dc: bool, phases: int, voltage: float, power_factor: float = 1.0,
                 energy_wh: float = 0.0, clock: Clock = time.time) -> None:
        self.dc = dc
        self.phases = 1 if dc else phases
        self.voltage = voltage
        self.power_factor = power_factor
        self._clock = clock
        self._energy_wh = energy_wh
        self._since = clock()
        self._currents: tuple[float, ...] = (0.0,) * self.phases
        self._power_w = 0.0
        self._offered = 0.0
        self._phases_in_use = self.phases
        self._until_wh: float | None = None

    def set_flow(self, setpoint: float, demand: Sequence[float], phases: int | None = None,
                 until_wh: float | None = None) -> None:
        """New operating point; the energy at the old power is booked up to now first.
        `phases` (AC): the first phases the car may draw on (smart charging's numberPhases).
        `until_wh`: the register at which the car stops drawing by itself (an EV reaching its
        target), exact however late the owner notices."""
        self._advance()
        setpoint = max(0.0, setpoint)
        self._offered = setpoint
        self._until_wh = until_wh
        if self.dc:
            self._power_w = min(demand[0] if demand else 0.0, setpoint)
            self._currents = (self._power_w / self.voltage,)
        else:
            self._phases_in_use = min(self.phases, phases or self.phases)
            wanted = list(demand[: self._phases_in_use]) + [0.0] * self.phases
            self._currents = tuple(min(max(0.0, d), setpoint) for d in wanted[: self.phases])
            self._power_w = sum(self.voltage * i for i in self._currents) * self.power_factor

    def _advance(self) -> None:
        now = self._clock()
        if now > self._since:
            added = self._power_w * (now - self._since) / 3600.0
            if self._until_wh is not None and self._energy_wh + added >= self._until_wh:
                added = max(0.0, self._until_wh - self._energy_wh)  # the car stopped there
                self._power_w, self._currents, self._until_wh = 0.0, (0.0,) * self.phases, None
            self._energy_wh += added
        self._since = now

    @property
    def energy_wh(self) -> float:
        self._advance()
        return self._energy_wh

    def set_register(self, energy_wh: float) -> None:
        """Restore the persisted register (Wh) after a restart."""
        self._advance()
        self._energy_wh = energy_wh

    @property
    def power_w(self) -> float:
        self._advance()
        return self._power_w

    def read(self) -> Readings:
        energy = self.energy_wh
        offered_power = self._offered if self.dc else self._offered * self.voltage * self._phases_in_use
        return Readings(energy, self._power_w, self._currents, self.voltage, self._offered, offered_power)


# No EV model here: a DC car plugs in at START_SOC and fills a BATTERY_WH battery with the
# energy of its session, so that the SoC a DC station reports rises plausibly.
START_SOC = 20.0  # %
BATTERY_WH = 60_000.0


def estimated_soc(session_energy_wh: float) -> float:
    """The car's state of charge (%) after `session_energy_wh` of this session."""
    return min(100.0, START_SOC + 100.0 * max(0.0, session_energy_wh) / BATTERY_WH)


@dataclass(frozen=True)
class Sample:
    """Readings taken at one moment for a reason (`context` uses the OCPP names:
    Sample.Periodic, Sample.Clock, Transaction.Begin, Transaction.End, Trigger)."""

    timestamp: float
    context: str
    measurands: tuple[str, ...]
    readings: Readings

    def to_dict(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp, "context": self.context, "measurands": list(self.measurands),
                "readings": asdict(self.readings)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        r = dict(data["readings"])
        r["currents"] = tuple(r["currents"])
        return cls(float(data["timestamp"]), str(data["context"]), tuple(data["measurands"]), Readings(**r))


PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True)
class Measured:
    """One value of a sample, as every OCPP version reports it (its own way)."""

    measurand: str
    value: float
    unit: str
    phase: str | None = None  # L1, L2, L3 (currents) or L1-N… (voltages); None: the total
    location: str = "Outlet"


def measured_values(sample: Sample, dc: bool) -> list[Measured]:
    """The values of the sample's measurands: per phase for currents and voltages (AC)."""
    r = sample.readings
    out: list[Measured] = []
    for measurand in sample.measurands:
        if measurand == "Energy.Active.Import.Register":
            out.append(Measured(measurand, round(r.energy_wh), "Wh"))
        elif measurand == "Power.Active.Import":
            out.append(Measured(measurand, r.power_w, "W"))
        elif measurand == "Power.Offered":
            out.append(Measured(measurand, r.offered_power_w, "W"))
        elif measurand == "SoC":
            if r.soc is not None:  # AC, or no session: the station does not know it
                out.append(Measured(measurand, round(r.soc), "Percent", location="EV"))
        elif measurand == "Current.Offered":
            out.append(Measured(measurand, r.offered / r.voltage if dc else r.offered, "A"))
        elif measurand in ("Current.Import", "Voltage"):
            current = measurand == "Current.Import"
            unit = "A" if current else "V"
            if dc:
                out.append(Measured(measurand, r.currents[0] if current else r.voltage, unit))
            else:
                for phase, amps in zip(PHASES, r.currents, strict=False):
                    out.append(Measured(measurand, amps if current else r.voltage, unit,
                                        phase if current else f"{phase}-N"))
    return out
