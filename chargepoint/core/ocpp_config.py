"""OCPP configuration keys: a registry with metadata, validated changes, persistence.

The registry (which keys exist, their type, read-only, reboot-required) belongs to the
protocol version (`chargepoint.ocpp16.config_keys`); values live in the instance
config.ini [Ocpp] section, where every accepted change is written at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cp_simu import redact
from cp_simu.config import SECTION_OCPP, update_section

log = logging.getLogger(__name__)


class KeyKind(StrEnum):
    BOOL = "bool"
    INT = "int"
    CSL = "csl"  # comma-separated list
    STRING = "string"


class ChangeResult(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


@dataclass(frozen=True)
class KeyDef:
    name: str
    kind: KeyKind
    default: str = ""
    readonly: bool = False
    reboot_required: bool = False
    choices: frozenset[str] | None = None  # allowed list items (CSL) or values (STRING)
    max_items_key: str | None = None  # key holding the maximum list length (CSL)
    minimum: int = 0


class OcppConfiguration:
    """The charge point's configuration keys, as GetConfiguration / ChangeConfiguration see them."""

    def __init__(self, registry: Iterable[KeyDef], values: Mapping[str, str], path: Path | None = None,
                 fixed: Mapping[str, str] | None = None) -> None:
        self.keys = {k.name: k for k in registry}
        self.path = path
        self._values = {name: values.get(name, k.default) for name, k in self.keys.items()}
        self._values.update(fixed or {})  # values the hardware dictates (e.g. NumberOfConnectors)
        for name in redact.SECRET_CONFIG_KEYS & self._values.keys():
            redact.register_secret(self._values[name])  # masked in every log line from now on
        self.listeners: list[Callable[[str, str], None]] = []

    def get(self, name: str) -> str:
        return self._values.get(name, "")

    def boolean(self, name: str) -> bool:
        return self.get(name).strip().lower() == "true"

    def integer(self, name: str, default: int = 0) -> int:
        try:
            return int(self.get(name))
        except ValueError:
            return default

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]

    def lookup(self, names: Iterable[str] | None) -> tuple[list[tuple[KeyDef, str]], list[str]]:
        """(known keys with values, unknown names); None asks for every key."""
        wanted = list(self.keys) if names is None else list(names)
        known = [(self.keys[n], self._values[n]) for n in wanted if n in self.keys]
        return known, [n for n in wanted if n not in self.keys]

    def dump(self) -> dict[str, str]:
        return dict(sorted(self._values.items()))

    def change(self, name: str, value: str) -> ChangeResult:
        """Validate, persist, notify. Read-only keys are Rejected, unknown NotSupported."""
        key = self.keys.get(name)
        if key is None:
            return ChangeResult.NOT_SUPPORTED
        if key.readonly:
            return ChangeResult.REJECTED
        normalised = self._validate(key, value)
        if normalised is None:
            return ChangeResult.REJECTED
        self._values[name] = normalised
        if name in redact.SECRET_CONFIG_KEYS:
            redact.register_secret(normalised)
        if self.path is not None:
            update_section(self.path, SECTION_OCPP, {name: normalised})
        for listener in list(self.listeners):
            listener(name, normalised)
        return ChangeResult.REBOOT_REQUIRED if key.reboot_required else ChangeResult.ACCEPTED

    def _validate(self, key: KeyDef, value: str) -> str | None:
        text = value.strip()
        if key.kind is KeyKind.BOOL:
            return text.lower() if text.lower() in ("true", "false") else None
        if key.kind is KeyKind.INT:
            try:
                number = int(text)
            except ValueError:
                return None
            return str(number) if number >= key.minimum else None
        if key.kind is KeyKind.CSL:
            items = [item.strip() for item in text.split(",") if item.strip()]
            if key.choices is not None and any(item not in key.choices for item in items):
                return None
            if key.max_items_key and len(items) > self.integer(key.max_items_key, len(items)):
                return None
            return ",".join(items)
        if key.choices is not None and text not in key.choices:
            return None
        return value
