"""Charging profiles in OCPP wire shape, for the unit and the end-to-end tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chargepoint.model.smart_charging import format_datetime

Period = tuple[int, float] | tuple[int, float, int]  # (startPeriod, limit[, numberPhases])


def charging_profile(pid: int = 1, purpose: str = "TxDefaultProfile", kind: str = "Absolute", stack: int = 0,
                     periods: list[Period] | None = None, unit: str = "A", start: datetime | None = None,
                     **extra: Any) -> dict[str, Any]:
    """A `csChargingProfiles` object; `duration` and `minChargingRate` go into the schedule,
    any other keyword (validFrom, recurrencyKind, transactionId…) into the profile."""
    schedule: dict[str, Any] = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        {"startPeriod": p[0], "limit": p[1]} | ({"numberPhases": p[2]} if len(p) > 2 else {})
        for p in (periods or [(0, 10.0)])]}
    if start is not None:
        schedule["startSchedule"] = format_datetime(start)
    for key in ("duration", "minChargingRate"):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
            "chargingProfileKind": kind, "chargingSchedule": schedule, **extra}
