"""The `ocpp` library's JSON-schema validators, built ahead of time the way calls use them.

The library builds one validator per message type on first use and caches it under a key
that ignores how the schema's numbers were parsed. The few OCPP 1.6 messages that carry
charging limits (SetChargingProfile, RemoteStartTransaction, the GetCompositeSchedule
answer) are validated with schemas and payloads parsed as `Decimal`; a validator built for
them with the default `float` parser, once cached, makes every such call fail with
`Decimal % float`. So validators are only ever built through `validate_payload`, the
function calls go through, which picks the parser itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import ocpp.messages
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallResult, validate_payload

from cp_simu.ocpp_routing import VERSIONS, actions
from cp_simu.schema_drafts import use_declared_drafts


def warm_validators(versions: Iterable[str] = tuple(VERSIONS)) -> None:
    """Build and cache the validator of every request and answer of these OCPP versions.

    Runs in the calling thread (the library's asynchronous validation is switched off), so
    it is safe in a process about to fork; not from a running event loop. The 2.0.1 ones are
    built for the draft their schemas declare (`cp_simu.schema_drafts`), as sessions use them."""
    use_declared_drafts()
    ocpp.messages.ASYNC_VALIDATION = False
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_validate_empty_payloads(tuple(versions)))
    finally:
        loop.close()


async def _validate_empty_payloads(versions: tuple[str, ...]) -> None:
    for version in versions:
        for action in actions(version):
            for message in (Call("warm-up", action, {}), CallResult("warm-up", {}, action)):
                with contextlib.suppress(OCPPError):  # required fields missing, or no schema
                    await validate_payload(message, version)
