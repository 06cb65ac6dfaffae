"""How long the CSMS takes to answer each call the charge point makes, and how it answers.

`TimedCalls` goes into a version's session class (before `ocpp.ChargePoint`) and reports
every call's action, outcome (`ok`, `timeout` or the CallError code) and round-trip time to
`on_call`. The time runs from the call's frame leaving to its answer arriving: OCPP allows
one call in flight, and the wait for the previous answer is the charge point's, not the CSMS's.
A call that got no answer because the connection closed is not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError

from cp_simu.latency import OK, TIMEOUT

CallListener = Callable[[str, str, float], None]  # (action, outcome, seconds)
UNKNOWN_ERROR_CODE = "UnknownErrorCode"  # the outcome of a CallError whose code OCPP does not define
_CALL_PREFIX = '[2,"'


class TimedCalls:
    """Mixin for an `ocpp.ChargePoint` subclass."""

    on_call: CallListener | None = None  # set by the session
    _unique_id_generator: Callable[[], Any]  # set by ocpp.ChargePoint

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent_at: dict[str, float | None] = {}  # unique id of a call made -> when its frame left

    async def call(self, payload: Any, suppress: bool = True, unique_id: str | None = None,
                   skip_schema_validation: bool = False) -> Any:
        unique_id = unique_id or str(self._unique_id_generator())
        self._sent_at[unique_id] = None
        outcome: str | None = None
        try:
            answer = await super().call(payload, suppress=False, unique_id=unique_id,  # type: ignore[misc]
                                        skip_schema_validation=skip_schema_validation)
            outcome = OK
            return answer
        except OCPPError as error:  # a CallError, or an answer that fails the schema
            outcome = error.code
            if suppress:
                return None
            raise
        except UnknownCallErrorCodeError:
            outcome = UNKNOWN_ERROR_CODE
            raise
        except TimeoutError:
            outcome = TIMEOUT
            raise
        finally:
            sent = self._sent_at.pop(unique_id, None)
            if outcome is not None and sent is not None and self.on_call is not None:
                self.on_call(type(payload).__name__, outcome, time.monotonic() - sent)

    async def _send(self, message: str) -> None:
        if self._sent_at and message.startswith(_CALL_PREFIX):
            unique_id = message[len(_CALL_PREFIX):message.find('"', len(_CALL_PREFIX))]
            if unique_id in self._sent_at:
                self._sent_at[unique_id] = time.monotonic()
        await super()._send(message)  # type: ignore[misc]
