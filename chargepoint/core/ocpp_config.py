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
from cp_simu.config import SECTION_OCPP, ocpp_integer, update_section

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
    maximum: int | None = None
    writeonly: bool = False  # never read back (AuthorizationKey): not in GetConfiguration nor ocpp_config
    stored_as: tuple[str, str] | None = None  # (config.ini section, key) when not [Ocpp] <name>
    length: tuple[int, int] | None = None  # allowed length of a STRING value


class TypedReads:
    """Typed reads over `get` (a setting's value as text), shared by the 1.6 configuration
    keys and the 2.0.1 device model so both versions parse a setting the same way."""

    def get(self, name: str) -> str:
        raise NotImplementedError

    def boolean(self, name: str) -> bool:
        return self.get(name).strip().lower() == "true"

    def integer(self, name: str, default: int = 0) -> int:
        try:
            return int(self.get(name))
        except ValueError:
            return default

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]


class OcppConfiguration(TypedReads):
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

    def _readable(self, name: str) -> bool:
        return name in self.keys and not self.keys[name].writeonly

    def lookup(self, names: Iterable[str] | None) -> tuple[list[tuple[KeyDef, str]], list[str]]:
        """(readable keys with values, other names); None asks for every readable key. A
        write-only key is answered as unknown: its value never leaves the charge point."""
        wanted = [n for n in self.keys if self._readable(n)] if names is None else list(names)
        known = [(self.keys[n], self._values[n]) for n in wanted if self._readable(n)]
        return known, [n for n in wanted if not self._readable(n)]

    def dump(self) -> dict[str, str]:
        """Every readable key (the MQTT `ocpp_config` view)."""
        return dict(sorted((n, v) for n, v in self._values.items() if self._readable(n)))

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
        result = ChangeResult.REBOOT_REQUIRED if key.reboot_required else ChangeResult.ACCEPTED
        if self._values.get(name) == normalised:  # e.g. every boot's HeartbeatInterval: nothing to write
            return result
        self._values[name] = normalised
        if name in redact.SECRET_CONFIG_KEYS:
            redact.register_secret(normalised)
        if self.path is not None:
            section, ini_key = key.stored_as or (SECTION_OCPP, name)
            update_section(self.path, section, {ini_key: normalised})
        for listener in list(self.listeners):
            listener(name, normalised)
        return result

    def _validate(self, key: KeyDef, value: str) -> str | None:
        text = value.strip()
        if key.kind is KeyKind.BOOL:
            return text.lower() if text.lower() in ("true", "false") else None
        if key.kind is KeyKind.INT:
            number = ocpp_integer(text)
            if number is None:
                return None
            in_range = number >= key.minimum and (key.maximum is None or number <= key.maximum)
            return str(number) if in_range else None
        if key.kind is KeyKind.CSL:
            items = [item.strip() for item in text.split(",") if item.strip()]
            if key.choices is not None and any(item not in key.choices for item in items):
                return None
            if key.max_items_key and len(items) > self.integer(key.max_items_key, len(items)):
                return None
            return ",".join(items)
        if key.choices is not None and text not in key.choices:
            return None
        if key.length is not None and not key.length[0] <= len(value) <= key.length[1]:
            return None
        return value
