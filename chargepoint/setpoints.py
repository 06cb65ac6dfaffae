"""Smart charging applied to the connectors: each connector's OCPP limit, then the CP-wide
limit (the hardware's, capped by a ChargePointMaxProfile) shared among the connectors that
draw energy, with one timer per connector at its limit's next change."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from chargepoint.model.setpoint import OcppLimit, ProfileLimits, share_limit

if TYPE_CHECKING:
    from chargepoint.station import Station


class Setpoints:
    def __init__(self, station: Station) -> None:
        self.station = station
        d = station.definition
        self.limits = ProfileLimits(station.smart_charging, dc=d.is_dc, voltage=d.voltage, phases=d.nb_phases,
                                    transaction_start=self._transaction_start)

    def rebalance(self) -> set[int]:
        """The connectors whose limit or setpoint changed."""
        station = self.station
        now = station.clock()
        connectors = station.connectors
        before = {n: (c.ocpp_limit, c.ocpp_phases, c.setpoint) for n, c in connectors.items()}
        for n, connector in connectors.items():
            limit = self._ocpp_limit(n, now)
            connector.ocpp_limit = connector.max_setpoint if limit.value is None else min(
                limit.value, connector.max_setpoint)
            connector.ocpp_phases = limit.phases
        whole = self._ocpp_limit(0, now).value
        hardware = station.definition.max_setpoint
        total = hardware if whole is None else min(whole, hardware)
        caps = {n: cap for n, c in connectors.items() if (cap := c.cap) is not None}
        shares = share_limit(total, caps)
        changed = set()
        for n, connector in connectors.items():
            connector.apply_share(shares.get(n, math.inf))
            if (connector.ocpp_limit, connector.ocpp_phases, connector.setpoint) != before[n]:
                changed.add(n)
                tx = connector.transaction
                if tx is not None and before[n][2] > 0 and connector.setpoint != before[n][2]:
                    station.adapter.charging_rate_changed(tx)
        return changed

    def _ocpp_limit(self, connector_id: int, now: float) -> OcppLimit:
        """The connector's OCPP limit now, with one timer armed at its next change (an update)."""
        limit = self.limits.limit(connector_id, now)
        timers = self.station.timers
        if limit.until is None:
            timers.cancel(f"limit{connector_id}")
        else:
            timers.set(f"limit{connector_id}", max(0.0, limit.until - now), self.station.schedule_update,
                       key=limit.until)
        return limit

    def _transaction_start(self, connector_id: int) -> float | None:
        connector = self.station.connectors.get(connector_id)
        tx = connector.transaction if connector is not None else None
        return None if tx is None else tx.started_at
