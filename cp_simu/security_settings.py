"""A charge point's OCPP security settings: the `[Security]` section of config.ini and the
same keys in a launcher `start` entry.

Shared by the launcher (start entry → instance config.ini, written with mode 0600) and the
charge point (instance config.ini → how it connects). Certificate and key files are given
as paths; relative ones are made absolute when the instance file is written, so they mean
what they meant to whoever gave them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

SECTION_SECURITY = "Security"
PROFILES = (0, 1, 2, 3)
PATH_KEYS = ("ca_file", "client_cert", "client_key")
FLAG_KEYS = ("tls_skip_hostname_check", "tls_allow_self_signed")
SECRET_KEYS = ("basic_auth_password",)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


class SecuritySettingsError(ValueError):
    """A security setting with a wrong type or value; the message names the key."""


@dataclass(frozen=True)
class SecuritySettings:
    """Profile 0: plain ws; 1: HTTP Basic auth; 2: TLS + Basic auth; 3: TLS + client certificate.

    `basic_auth_password` is the OCPP 1.6 AuthorizationKey / 2.0.1 BasicAuthPassword. The two
    `tls_*` switches are for lab CSMSs only and are off unless asked for."""

    security_profile: int = 0
    basic_auth_password: str = ""
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    tls_skip_hostname_check: bool = False
    tls_allow_self_signed: bool = False

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "") -> Self:
        """From JSON values (a start entry) or INI text (config.ini); unknown keys are ignored."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            name = f"{where}{f.name}"
            if f.name == "security_profile":
                values[f.name] = _profile(value, name)
            elif f.name in FLAG_KEYS:
                values[f.name] = _flag(value, name)
            else:
                if not isinstance(value, str):
                    raise SecuritySettingsError(f"{name}: expected a string")
                if any(ord(c) < 32 or ord(c) == 127 for c in value):
                    raise SecuritySettingsError(f"{name}: control characters are not allowed")
                values[f.name] = value
        return cls(**values)

    def to_ini(self) -> dict[str, str]:
        """The `[Security]` section; relative paths made absolute (against the current directory)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                out[f.name] = "true" if value else "false"
            elif f.name in PATH_KEYS and value:
                out[f.name] = os.path.abspath(value)
            else:
                out[f.name] = str(value)
        return out

    @property
    def uses_tls(self) -> bool:
        return self.security_profile >= 2

    @property
    def uses_basic_auth(self) -> bool:
        return self.security_profile in (1, 2)


def without_secrets(ini_text: str) -> str:
    """A config.ini's text with the values of its secret keys blanked (for archives leaving
    the machine): `basic_auth_password = ` stays, its value does not."""
    out = []
    for line in ini_text.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and key.strip() in SECRET_KEYS and value.strip():
            line = f"{key.rstrip()} = ***\n"
        out.append(line)
    return "".join(out)


def _profile(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise SecuritySettingsError(f"{name}: expected an integer 0-3")
    try:
        number = int(value) if isinstance(value, int | str) else int(float(value))
        if isinstance(value, float) and value != number:
            raise ValueError
    except (TypeError, ValueError):
        raise SecuritySettingsError(f"{name}: expected an integer 0-3, got {str(value)[:20]!r}") from None
    if number not in PROFILES:
        raise SecuritySettingsError(f"{name}: must be 0, 1, 2 or 3, got {number}")
    return number


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise SecuritySettingsError(f"{name}: expected true or false")
