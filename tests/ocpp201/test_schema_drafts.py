"""The library's validation of 2.0.1 messages under their schemas' draft (draft-06): every
message accepts integers written `1.0` and hands them on as ints; 1.6 (draft-04) is unchanged."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from jsonschema import Draft4Validator
from ocpp.exceptions import TypeConstraintViolationError
from ocpp.messages import Call, CallResult, MessageType, get_validator, validate_payload

from cp_simu.schema_drafts import use_declared_drafts
from tests.test_csms201 import FROM_CSMS, FROM_STATION, _schema, minimal

use_declared_drafts()  # as every session does when it is made

MESSAGES = [(kind, action) for action in sorted(set(FROM_CSMS) | set(FROM_STATION)) for kind in ("Request", "Response")]


def as_floats(value: Any) -> Any:
    """Every int of a payload written as a float (`1` -> `1.0`), as Java / C# / JS peers may."""
    if isinstance(value, dict):
        return {k: as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    return float(value) if type(value) is int else value


@pytest.mark.parametrize(("kind", "action"), MESSAGES)
def test_every_message_takes_integral_floats_and_hands_on_ints(kind: str, action: str) -> None:
    payload = as_floats(minimal(action + kind))
    message = Call("1", action, payload) if kind == "Request" else CallResult("1", payload, action)
    asyncio.run(validate_payload(message, "2.0.1"))
    strict = Draft4Validator(_schema(action + kind))  # what the library alone would accept
    assert [e.message for e in strict.iter_errors(message.payload)] == []


def test_only_integral_floats_pass_and_1_6_is_left_alone() -> None:
    with pytest.raises(TypeConstraintViolationError, match=r"120\.5 is not of type 'integer'"):
        asyncio.run(validate_payload(Call("1", "GetCompositeSchedule", {"evseId": 1, "duration": 120.5}), "2.0.1"))
    with pytest.raises(TypeConstraintViolationError, match=r"0\.0 is not of type 'integer'"):
        asyncio.run(validate_payload(Call("1", "GetCompositeSchedule", {"connectorId": 0.0, "duration": 60}), "1.6"))
    assert isinstance(get_validator(MessageType.Call, "GetCompositeSchedule", "1.6"), Draft4Validator)


def test_a_payload_draft_4_accepts_is_left_as_it_is() -> None:
    payload = {"evseId": 1, "chargingProfile": {
        "id": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}]}]}}
    message = Call("1", "SetChargingProfile", json.loads(json.dumps(payload)))
    asyncio.run(validate_payload(message, "2.0.1"))
    assert json.dumps(message.payload) == json.dumps(payload)  # a decimal's 16.0 stays a float
