"""How a charge point answers the CSMS's calls it cannot carry out, whatever the OCPP version.

`CallRouting` goes before `ocpp.ChargePoint` in a version's session class and corrects the
library where OCPP-J says otherwise:
- an action the charge point does not know is answered `NotImplemented`, one it knows but
  does not support (no handler, or a feature the station does not offer) `NotSupported`
  (the library swaps the two), with one INFO line in the log (`cp_simu.ocpp_routing`,
  shared with the demo CSMS);
- a call the library cannot check or answer (an exception outside the handler: schema
  validation, serialising the answer) is answered `InternalError` instead of ending the
  session with it; an invalid call gets the library's error code and one WARNING line.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from ocpp.exceptions import InternalError, NotSupportedError, OCPPError
from ocpp.messages import Call, MessageType
from websockets.exceptions import ConnectionClosed

from cp_simu.ocpp_routing import OcppJRouting

log = logging.getLogger(__name__)
T = TypeVar("T")


class CallRouting(OcppJRouting):
    """Mixin for an `ocpp.ChargePoint` subclass; `refusal` tells which known actions it refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unanswered: str | None = None  # id of the call being handled, until its answer is sent
        self._decisions: dict[str, object] = {}  # call id -> what its @after is to carry out

    def _decide(self, call_unique_id: str, answer: T, carry_out: bool = True) -> T:
        """The `@on` answer; the `@after` of the same call acts only if `carry_out`."""
        if carry_out:
            self._decisions[call_unique_id] = answer
        return answer

    def _decided(self, call_unique_id: str) -> Any | None:
        """What the `@on` of this call decided to carry out, or None."""
        return self._decisions.pop(call_unique_id, None)

    def refusal(self, action: str) -> str | None:
        """Why the station does not support this action it has a handler for, or None."""
        return None

    async def _handle_call(self, msg: Call) -> Any:
        self._unanswered = msg.unique_id
        try:
            return await super()._handle_call(msg)
        except ConnectionClosed:
            raise
        except OCPPError as error:
            log.warning("%s %s refused (%s): %s", msg.action, msg.unique_id, error.code, error.description)
            await self._answer_once(msg, error)
        except Exception as exc:
            log.error("%s %s could not be handled", msg.action, msg.unique_id, exc_info=exc)
            await self._answer_once(msg, InternalError(description=f"{type(exc).__name__}: {exc}"))
        finally:
            self._unanswered = None
        return None

    def _unsupported(self, action: str) -> OCPPError | None:
        error = super()._unsupported(action)
        if error is not None:
            return error
        reason = self.refusal(action)
        return None if reason is None else NotSupportedError(description=reason)

    async def _answer_once(self, msg: Call, error: OCPPError) -> None:
        """The CallError, unless the call was answered before it failed (in its `@after`)."""
        if self._unanswered == msg.unique_id:
            await self._send(msg.create_call_error(error).to_json())

    async def _send(self, message: str) -> None:
        if self._unanswered is not None and _answers(message, self._unanswered):
            self._unanswered = None
        await super()._send(message)  # type: ignore[misc]


def _answers(message: str, unique_id: str) -> bool:
    """Whether a frame is the CallResult or CallError of that call (frames are sent compact)."""
    return any(message.startswith(f"[{int(kind)},{json.dumps(unique_id)},")
               for kind in (MessageType.CallResult, MessageType.CallError))
