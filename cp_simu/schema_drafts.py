"""OCPP 2.0.1 payloads checked under the JSON Schema draft their schemas declare (draft-06).

The `ocpp` library validates every version with `Draft4Validator`, under which `120.0` is not
an `integer`. The 2.0.1 schemas declare draft-06, under which it is: CSMSs written in Java,
C# or JavaScript send integral numbers that way, and a station must not refuse them.
`use_declared_drafts()` makes the library's `get_validator` hand out, for 2.0.1, a validator
that accepts what draft-06 accepts and turns those integral floats into ints in the payload,
in place, before anything reads it: handlers, answers, stored profiles never carry `2.0`.

The library's cache (one validator per message, keyed without the float parser) keeps these
validators under the library's own key; 1.6 (draft-04, and the `Decimal` trap of
`chargepoint.core.validators`) is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import ocpp.messages
from jsonschema import Draft4Validator, ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

DECLARED_DRAFT_VERSIONS = frozenset({"2.0.1"})  # OCPP versions validated under their schemas' own draft


class DeclaredDraftValidator:
    """A message's validator under its schema's declared draft, normalising what it accepts.

    A payload draft-04 accepts is checked exactly as the library always did (one pass). One it
    refuses is checked again under the declared draft, whose error is the one raised; if that
    accepts it, draft-04's refusals are the integral floats given for integers, made ints."""

    def __init__(self, draft4: Draft4Validator) -> None:
        self.schema = draft4.schema
        self._draft4 = draft4
        self._declared: Validator = validator_for(draft4.schema, default=Draft4Validator)(draft4.schema)

    def validate(self, payload: Any) -> None:
        try:
            self._draft4.validate(payload)
        except ValidationError:
            self._declared.validate(payload)
            integral_floats_as_int(payload, self._draft4.iter_errors(payload))


def integral_floats_as_int(payload: Any, refusals: Iterable[ValidationError]) -> None:
    """Replace, in place, each integral float a draft-04 `integer` refused by its int."""
    for error in list(refusals):
        value = error.instance
        if error.validator == "type" and isinstance(value, float) and value.is_integer() and error.absolute_path:
            *parents, key = error.absolute_path
            container = payload
            for step in parents:
                container = container[step]
            container[key] = int(value)


_library_get_validator: Callable[..., Any] = ocpp.messages.get_validator


def _get_validator(message_type_id: int, action: str, ocpp_version: str, parse_float: Callable[[str], Any] = float
                   ) -> Any:
    """The library's validator (built and cached by the library), swapped once in its cache for
    a `DeclaredDraftValidator` of the same parsed schema for the versions that declare theirs."""
    validator = _library_get_validator(message_type_id, action, ocpp_version, parse_float)
    if ocpp_version in DECLARED_DRAFT_VERSIONS and isinstance(validator, Draft4Validator):
        declared = DeclaredDraftValidator(validator)
        cache = ocpp.messages._validators
        for key, cached in list(cache.items()):  # another thread may have swapped it already
            if cached is validator:
                cache[key] = declared
        return declared
    return validator


def use_declared_drafts() -> None:
    """Route the library's validation of 2.0.1 messages through `DeclaredDraftValidator`
    (idempotent; call before the first 2.0.1 message is validated)."""
    ocpp.messages.get_validator = _get_validator
