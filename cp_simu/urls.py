"""URLs: the MQTT broker's (`mqtt://host:port`, `mqtts://` for TLS, the reference's `tcp://` /
`ssl://`) and the Central System's (`central_system`: a ws:// or wss:// template with `{id}`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from cp_simu import redact

DEFAULT_BROKER_URL = "mqtt://127.0.0.1:1883"
_SCHEMES = {"mqtt": False, "tcp": False, "mqtts": True, "ssl": True}


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        shown = redact.url(url)  # an error message never holds the password
        if parts.scheme not in _SCHEMES:
            raise ValueError(f"broker URL {shown!r}: scheme must be mqtt://, mqtts:// or tcp://")
        if not parts.hostname:
            raise ValueError(f"broker URL {shown!r}: no host")
        tls = _SCHEMES[parts.scheme]
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise ValueError(f"broker URL {shown!r}: bad port") from None
        return cls(parts.hostname, port, tls, unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    @property
    def is_loopback(self) -> bool:
        return self.host in ("localhost", "::1") or self.host.startswith("127.")

    def __str__(self) -> str:
        """The URL without user name and password: safe to log, display or pass on."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


# ---------------------------------------------------------------------------
# Central System URLs
# ---------------------------------------------------------------------------

ID_PLACEHOLDER = "{id}"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def csms_endpoint(central_system: str, cp_id: str) -> str:
    """The URL a charge point connects to: every `{id}` in `central_system` replaced by the
    percent-encoded id (CSMSs route `…/ocpp/{id}/` or take the id as Basic-auth user), or
    `<central_system>/<id>` when it has no `{id}`."""
    cp_id = quote(cp_id, safe="")
    if ID_PLACEHOLDER in central_system:
        return central_system.replace(ID_PLACEHOLDER, cp_id)
    return f"{central_system.rstrip('/')}/{cp_id}"


def central_system_problem(value: str) -> str | None:
    """Why `value` is no usable `central_system` (None when it is one)."""
    unknown = [p for p in _PLACEHOLDER.findall(value) if p != ID_PLACEHOLDER]
    if unknown:
        return f"unknown placeholder {unknown[0][:20]!r} (only {ID_PLACEHOLDER} is replaced, by the charge point id)"
    try:
        parts = urlsplit(csms_endpoint(value, "CP"))
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "bad URL"
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        return "expected a ws:// or wss:// URL"
    return None

