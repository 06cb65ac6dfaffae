"""CSMS-initiated calls with wire payloads (camelCase dicts) instead of library dataclasses.

The control API must send exactly what the user wrote and return exactly what the charge
point answered. The library's `ChargePoint.call()` goes through snake_case dataclasses, which
is lossy for some keys and hides the raw answer, so this module sends a `Call` itself while
still using the library's schema validation and its one-call-at-a-time lock.

2.0.1 messages are validated under the draft their schemas declare, as the station's session
(`cp_simu.ocpp_routing.OcppJRouting`) set up: a call with `"duration": 120.0` is sent as
written, a station's `"evseId": 1.0` is handled as 1.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, validate_payload
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

_ACTIONS = {
    "1.6": {a.value.lower(): a.value for a in Action16},
    "2.0.1": {a.value.lower(): a.value for a in Action201},
}

# Put into a ChargePoint's response queue when its connection ends, to wake a waiting call.
CLOSED = object()


class CallFailed(Exception):
    """A control-API call that did not produce a CallResult; knows its HTTP answer."""

    http_status = 502
    error = "call_failed"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"status": "error", "error": self.error, "message": str(self), **self.details}


class UnknownAction(CallFailed):
    http_status, error = 400, "unknown_action"


class InvalidPayload(CallFailed):
    http_status, error = 400, "invalid_payload"


class CpDisconnected(CallFailed):
    error = "disconnected"


class CallTimeout(CallFailed):
    error = "timeout"


class CallErrorReceived(CallFailed):
    error = "call_error"


class InvalidResponse(CallFailed):
    error = "invalid_response"


def canonical_action(ocpp_version: str, action: str) -> str:
    """The spelling used on the wire (`remotestarttransaction` -> `RemoteStartTransaction`)."""
    try:
        return _ACTIONS[ocpp_version][action.lower()]
    except KeyError:
        raise UnknownAction(f"{action!r} is not an OCPP {ocpp_version} action") from None


def _cause(error: OCPPError) -> str:
    """The useful first paragraph of a validation error (the library appends the whole schema)."""
    details = error.details if isinstance(error.details, dict) else {}
    cause = str(details.get("cause") or error.description).split("\n\n", 1)[0]
    return cause if len(cause) <= 500 else cause[:497] + "..."


async def call_raw(cp: ChargePoint, action: str, payload: dict[str, Any], *,
                   timeout: float, validate: bool = True) -> dict[str, Any]:
    """Send `action` with `payload` to the CP and return its answer payload as on the wire."""
    version: str = cp._ocpp_version  # type: ignore[attr-defined]
    action = canonical_action(version, action)
    call = Call(str(uuid.uuid4()), action, payload)
    if validate:
        try:
            # Validate a copy: the library may swap floats for Decimals in what it checks.
            await validate_payload(Call(call.unique_id, action, json.loads(json.dumps(payload))),
                                   version)
        except OCPPError as e:
            raise InvalidPayload(f"{action} payload rejected by the OCPP {version} schema: {_cause(e)}",
                                 error_code=e.code) from None
    if getattr(cp, "closed", False):
        raise CpDisconnected(f"{cp.id} is not connected")

    loop = asyncio.get_running_loop()
    async with cp._call_lock:
        try:
            await cp._send(call.to_json())
        except Exception as e:  # websockets.ConnectionClosed and friends
            raise CpDisconnected(f"{cp.id} disconnected: {e}") from None
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                answer = await asyncio.wait_for(cp._response_queue.get(), remaining)
            except TimeoutError:
                raise CallTimeout(f"no answer from {cp.id} to {action} within {timeout:g}s") from None
            if answer is CLOSED:
                cp._response_queue.put_nowait(CLOSED)  # keep waking later callers
                raise CpDisconnected(f"{cp.id} disconnected before answering {action}")
            if answer.unique_id == call.unique_id:
                break
            # A late answer to an earlier call that timed out: not ours, drop it.

    if isinstance(answer, CallError):
        raise CallErrorReceived(
            f"{cp.id} answered {action} with CallError {answer.error_code}",
            error_code=answer.error_code, error_description=answer.error_description,
            error_details=answer.error_details,
        )
    assert isinstance(answer, CallResult)
    if validate:
        try:
            await validate_payload(CallResult(answer.unique_id, json.loads(json.dumps(answer.payload)),
                                              action), version)
        except OCPPError as e:
            raise InvalidResponse(f"{cp.id} answered {action} with an invalid payload: {_cause(e)}",
                                  response=answer.payload) from None
    return answer.payload
