"""The validators built ahead of time (the fork server's warm-up) check calls as the live path does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from ocpp.exceptions import FormatViolationError
from ocpp.messages import Call, CallResult, validate_payload

from chargepoint.core.validators import warm_validators


def schedule(limit: float) -> dict[str, Any]:
    return {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}


def profile(limit: float) -> dict[str, Any]:
    return {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": schedule(limit)}


MESSAGES: list[Callable[[float], Call | CallResult]] = [
    lambda limit: Call("1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile(limit)}),
    lambda limit: Call("2", "RemoteStartTransaction", {"idTag": "T", "chargingProfile": profile(limit)}),
    lambda limit: CallResult("3", {"status": "Accepted", "connectorId": 1, "chargingSchedule": schedule(limit)},
                             "GetCompositeSchedule"),
]


@pytest.mark.parametrize("message", MESSAGES)
def test_warmed_validators_accept_fractional_limits_and_still_check_them(message) -> None:
    warm_validators()
    for limit in (16.5, 10.0, 13.5, 32):
        asyncio.run(validate_payload(message(limit), "1.6"))
    with pytest.raises(FormatViolationError):  # not a multiple of 0.1
        asyncio.run(validate_payload(message(16.55), "1.6"))
