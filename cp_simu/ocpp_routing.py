"""Which calls an OCPP endpoint can route, and the OCPP-J error for those it cannot.

OCPP-J answers an action the endpoint does not know with `NotImplemented` and one it knows
but does not support with `NotSupported`; the `ocpp` library (2.1.0) swaps the two. The charge
point (`chargepoint.core.call_routing`) and the demo CSMS both answer through `OcppJRouting`.
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


class OcppJRouting:
    """Mixin before `ocpp.ChargePoint`: a call without a handler gets OCPP-J's error code,
    and 2.0.1 messages are checked under their schemas' draft (`cp_simu.schema_drafts`)
    from the first session on, whatever the process imported before."""

    # set by ocpp.ChargePoint
    route_map: dict[str, dict[str, Any]]
    _ocpp_version: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        use_declared_drafts()
        super().__init__(*args, **kwargs)

    def _unsupported(self, action: str) -> OCPPError | None:
        """The CallError for a call of `action` this endpoint does not carry out, else None."""
        if action not in actions(self._ocpp_version):
            return NotImplementedError(description=f"{action} is not an OCPP {self._ocpp_version} action")
        if "_on_action" not in self.route_map.get(action, {}):
            return NotSupportedError(description=f"{action} is not supported here")
        return None

    async def _handle_call(self, msg: Call) -> Any:
        error = self._unsupported(msg.action)
        if error is None:
            return await super()._handle_call(msg)  # type: ignore[misc]
        log.info("%s refused (%s): %s", msg.action, error.code, error.description)
        await self._send(msg.create_call_error(error).to_json())  # type: ignore[attr-defined]
        return None
