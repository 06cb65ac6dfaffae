"""Setpoints: the per-connector OCPP limit and the charge-point-wide limit shared out.

The OCPP limit comes from a `LimitProvider` (smart charging's `ProfileLimits`); where it
sets none, each connector may draw its `max_setpoint_per_connector`.
Units are the charge point's: A per phase (AC) or W (DC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chargepoint.model.smart_charging import SmartCharging, utc_from_timestamp


@dataclass(frozen=True)
class OcppLimit:
    """What OCPP allows a connector (0: the whole charge point) now, and until when."""

    value: float | None = None  # None: no limit beyond the hardware's
    phases: int | None = None  # phases the car may draw on (numberPhases), None: all of them
    until: float | None = None  # wall-clock time the limit may change next (one timer, no polling)


class LimitProvider(Protocol):
    def limit(self, connector_id: int, now: float) -> OcppLimit:
        """The OCPP limit of a connector (0: the charge point as a whole) at wall-clock `now`."""


class ProfileLimits:
    """Smart charging as the station's `LimitProvider`: the shim between the charge point's
    float wall clock and units (A per phase, or W for DC) and the profile store's aware
    datetimes and A/W limits."""

    def __init__(self, profiles: SmartCharging, *, dc: bool, voltage: float, phases: int,
                 transaction_start: Callable[[int], float | None]) -> None:
        self.profiles = profiles
        self.dc = dc
        self.voltage = voltage
        self.phases = 1 if dc else phases
        self._transaction_start = transaction_start

    def limit(self, connector_id: int, now: float) -> OcppLimit:
        found = self.profiles.limit_at(connector_id, utc_from_timestamp(now), self._anchor(connector_id),
                                       voltage=self.voltage, phases=self.phases)
        until = None if found.next_change is None else found.next_change.timestamp()
        if found.unlimited:
            return OcppLimit(until=until)
        phases = found.number_phases if found.number_phases < self.phases else None
        return OcppLimit(found.watts if self.dc else found.amps_per_phase, phases, until)

    def composite_schedule(self, connector_id: int, duration_s: int, unit: str | None, now: float,
                           hardware_max: float) -> dict[str, Any]:
        """GetCompositeSchedule from `now`; `hardware_max` (the setpoint unit) fills the
        periods no profile limits."""
        max_amps = hardware_max / self.voltage if self.dc else hardware_max
        return self.profiles.composite_schedule(
            connector_id, duration_s, unit, utc_from_timestamp(now), max_amps=max_amps,
            transaction_start=self._anchor(connector_id), voltage=self.voltage, phases=self.phases)

    def _anchor(self, connector_id: int) -> datetime | None:
        """When the connector's transaction started: Relative schedules count from there."""
        started = self._transaction_start(connector_id) if connector_id else None
        return None if started is None else utc_from_timestamp(started)


def share_limit(total: float, caps: Mapping[int, float]) -> dict[int, float]:
    """Split `total` among connectors fairly (water-filling): a connector never gets more
    than its cap, and what a capped connector leaves is shared among the others."""
    shares: dict[int, float] = {}
    remaining = max(0.0, total)
    pending = sorted(caps.items(), key=lambda item: item[1])
    while pending:
        fair = remaining / len(pending)
        connector, cap = pending[0]
        if cap <= fair:
            shares[connector] = max(0.0, cap)
            remaining -= shares[connector]
            pending.pop(0)
        else:
            for connector, _ in pending:
                shares[connector] = fair
            break
    return shares
