"""Setpoints: the per-connector OCPP limit and the charge-point-wide limit shared out.

The OCPP limit comes from a `LimitProvider` (smart charging plugs in here); without one,
each connector may draw its `max_setpoint_per_connector`. Units are the charge point's:
A per phase (AC) or W (DC).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class LimitProvider(Protocol):
    """Where a connector's OCPP limit comes from at wall-clock time `now`."""

    def limit(self, connector_id: int, now: float) -> float | None:
        """The limit for this connector, or None for no limit beyond the hardware's."""

    def next_change(self, now: float) -> float | None:
        """When some limit changes next (to re-evaluate setpoints then), or None."""


class NoLimits:
    """No smart charging: every connector may use its hardware maximum."""

    def limit(self, connector_id: int, now: float) -> float | None:
        return None

    def next_change(self, now: float) -> float | None:
        return None


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
