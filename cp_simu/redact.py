"""Secrets never leave a process in clear: the one place that masks them.

Everything a user or another program can read goes through here first: the OCPP message
log (`ocpp.log` and the MQTT `ocpp_log` topic), the `ocpp_config` topic, log lines and
error messages. Three kinds of secret are masked:

- passwords in URLs (`ftp://user:pw@host/` → `ftp://user:***@host/`), wherever they appear;
- the values of secret OCPP fields: a configuration key or device-model variable holding a
  password (AuthorizationKey, BasicAuthPassword) and any JSON field named like a password;
- the secret values a process registered (`register_secret`: its MQTT password, its
  AuthorizationKey…), wherever they appear in a log line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"

# OCPP 1.6 configuration keys and 2.0.1 variables whose value is a secret (write-only).
SECRET_CONFIG_KEYS = frozenset({"AuthorizationKey", "BasicAuthPassword"})
# JSON fields whose value is a secret wherever they occur: any name containing "password"
# (2.0.1 SetNetworkProfile's apn.apnPassword, vpn.password), these names, and `key` inside
# `vpn` (elsewhere `key` names a configuration key).
_SECRET_FIELDS = frozenset({"authorizationkey", "privatekey"})
# A frame holding none of these words (lower case) has no secret field to mask.
_SECRET_WORDS = ("password", "authorizationkey", "privatekey", '"vpn"')

# scheme://user:password@ (the password part stops at the last "@" before the host).
_URL_CREDENTIALS = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:\"']*:)(?P<pw>[^\s/\"']*)(?=@)")

# "…password…": "value" / "AuthorizationKey": "value" in JSON text (an echoed command).
_JSON_SECRET_FIELD = re.compile(
    r'(?P<head>"(?:[^"\\]*password[^"\\]*|authorizationkey|privatekey)"\s*:\s*")(?P<value>(?:[^"\\]|\\.)*)(?=")',
    re.IGNORECASE)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary words and numbers


def register_secret(value: str | None) -> None:
    """Remember a secret this process holds: `text()` masks it wherever it appears."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def url(text: str) -> str:
    """A URL with its password masked (`ftp://user:***@host/path`); other text unchanged."""
    return _URL_CREDENTIALS.sub(lambda m: m["head"] + MASK, text)


def text(value: str) -> str:
    """Free text (a log line, an error message) with URL passwords and known secrets masked."""
    if '"' in value:
        value = _JSON_SECRET_FIELD.sub(lambda m: m["head"] + MASK, value)
    return _string(value)


def _string(value: str) -> str:
    """One string value: URL passwords and known secrets masked (cheap when there are none)."""
    if "://" in value:
        value = url(value)
    with _secrets_lock:
        known = [secret for secret in _secrets if secret in value]
    for secret in sorted(known, key=len, reverse=True):
        value = value.replace(secret, MASK)
    return value


def is_secret_key(name: str) -> bool:
    """Whether a start-entry / config key holds a secret (`basic_auth_password`, AuthorizationKey…)."""
    return _secret_field(name.lower(), "") or name in SECRET_CONFIG_KEYS


def config_values(values: Mapping[str, str]) -> dict[str, str]:
    """A configuration dump without its secret keys (for the `ocpp_config` topic)."""
    return {k: v for k, v in values.items() if k.split("/")[-1].split(":")[0] not in SECRET_CONFIG_KEYS}


def ocpp_frame(frame: str) -> Any:
    """An OCPP-J frame (JSON text) decoded, with every secret masked; ValueError if it is no
    JSON. The walk is skipped for frames that cannot hold a secret (most of them)."""
    message = json.loads(frame)
    lowered = frame.lower()
    if "://" in frame or any(word in lowered for word in _SECRET_WORDS) or _holds_known_secret(frame):
        return ocpp_message(message)
    return message


def _holds_known_secret(value: str) -> bool:
    with _secrets_lock:
        return any(secret in value for secret in _secrets)


def ocpp_message(message: Any) -> Any:
    """An OCPP-J message (decoded JSON) with every secret masked; the input is not changed."""
    return _walk(message, owner="")


def _walk(node: Any, owner: str) -> Any:
    if isinstance(node, str):
        return _string(node)
    if isinstance(node, list):
        return [_walk(item, owner) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _walk(v, k.lower()) for k, v in node.items()}
    if _is_secret_name(out.get("key")) and "value" in out:  # 1.6 ChangeConfiguration, KeyValue
        out["value"] = MASK
    variable = out.get("variable")
    if isinstance(variable, dict) and _is_secret_name(variable.get("name")):  # 2.0.1 Set/GetVariables
        for field in ("attributeValue", "variableAttribute"):
            if field in out:
                out[field] = MASK if field == "attributeValue" else _mask_values(out[field])
    for key in out:
        if isinstance(out[key], str) and out[key] and _secret_field(key.lower(), owner):
            out[key] = MASK
    return out


def _is_secret_name(name: Any) -> bool:
    return isinstance(name, str) and name in SECRET_CONFIG_KEYS


def _secret_field(name: str, owner: str) -> bool:
    return "password" in name or name in _SECRET_FIELDS or (name == "key" and owner == "vpn")


def _mask_values(attributes: Any) -> Any:
    """2.0.1 NotifyReport variableAttribute entries: mask each `value`."""
    if isinstance(attributes, list):
        return [{**a, "value": MASK} if isinstance(a, dict) and "value" in a else a for a in attributes]
    return attributes


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler emits (message and arguments, exception text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = text(record.exc_text)
        return True


def install_log_filter(handler: logging.Handler) -> logging.Handler:
    """Attach the redacting filter to a handler (every handler a component writes through)."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return handler
