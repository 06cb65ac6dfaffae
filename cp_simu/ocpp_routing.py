"""Which calls an OCPP endpoint can route, and the OCPP-J error for those it cannot.

OCPP-J answers an action the endpoint does not know with `NotImplemented` and one it knows
but does not support with `NotSupported`; the `ocpp` library (2.1.0) swaps the two. The charge
point (`chargepoint.core.call_routing`) and the demo CSMS both answer through `unroutable`.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from typing import Any

from ocpp.exceptions import NotImplementedError, NotSupportedError, OCPPError
from ocpp.messages import Call

from cp_simu.schema_drafts import use_declared_drafts

log = logging.getLogger(__name__)

VERSIONS = {"1.6": "ocpp.v16.enums", "2.0.1": "ocpp.v201.enums"}  # imported only when asked for


@cache
def actions(version: str) -> tuple[str, ...]:
    """Every action of an OCPP version (empty for an unknown one); imports only that version."""
    module = VERSIONS.get(version)
    return () if module is None else tuple(a.value for a in importlib.import_module(module).Action)


def unroutable(action: str, version: str, route_map: dict[str, dict[str, Any]]) -> OCPPError | None:
    """The CallError for a call of `action` this endpoint has no handler for, else None."""
    if action not in actions(version):
        return NotImplementedError(description=f"{action} is not an OCPP {version} action")
    if "_on_action" not in route_map.get(action, {}):
        return NotSupportedError(description=f"{action} is not supported here")
    return None


class OcppJRouting:
    """Mixin before `ocpp.ChargePoint`: a call without a handler gets OCPP-J's error code."""

    # set by ocpp.ChargePoint
    route_map: dict[str, dict[str, Any]]
    _ocpp_version: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        use_declared_drafts()  # 2.0.1 integers written 120.0 are integers (their schemas' draft)
        super().__init__(*args, **kwargs)

    async def _handle_call(self, msg: Call) -> Any:
        error = unroutable(msg.action, self._ocpp_version, self.route_map)
        if error is None:
            return await super()._handle_call(msg)  # type: ignore[misc]
        log.info("%s refused (%s): %s", msg.action, error.code, error.description)
        await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]
        return None
