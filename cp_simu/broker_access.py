"""How a component reaches its MQTT broker: address, credentials and TLS files.

Every component (launcher, charge point, supervisor, `up`) takes the same options. The user
name comes from `--mqtt-username` (or OCPP_SIMU_MQTT_USERNAME), else the URL
(`mqtt://user:pw@host`), else config.ini [Mqtt] `username`; the password from
`--mqtt-password-file` (or OCPP_SIMU_MQTT_PASSWORD_FILE), else OCPP_SIMU_MQTT_PASSWORD,
else the URL, else config.ini [Mqtt] `password_file`. TLS (`mqtts://`) verifies the broker
against `--mqtt-ca-file` (else the system's CAs) and may present `--mqtt-client-cert` /
`--mqtt-client-key`.

Credentials are never echoed: `str()` is the URL without them, and a launcher hands them
to its charge points through the environment (`child_env`), never on a command line or in
a file.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click

from cp_simu import redact
from cp_simu.config import MqttSettings
from cp_simu.urls import BrokerUrl

ENV_USERNAME = "OCPP_SIMU_MQTT_USERNAME"
ENV_PASSWORD = "OCPP_SIMU_MQTT_PASSWORD"
ENV_PASSWORD_FILE = "OCPP_SIMU_MQTT_PASSWORD_FILE"
ENV_CA_FILE = "OCPP_SIMU_MQTT_CA_FILE"
ENV_CLIENT_CERT = "OCPP_SIMU_MQTT_CLIENT_CERT"
ENV_CLIENT_KEY = "OCPP_SIMU_MQTT_CLIENT_KEY"
ENV_VARIABLES = (ENV_USERNAME, ENV_PASSWORD, ENV_PASSWORD_FILE, ENV_CA_FILE, ENV_CLIENT_CERT, ENV_CLIENT_KEY)


@dataclass(frozen=True)
class BrokerAccess:
    """A broker URL (with its credentials) and the TLS files to reach it with."""

    url: BrokerUrl
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""

    def __str__(self) -> str:
        return str(self.url)  # never the credentials

    @classmethod
    def of(cls, target: str | BrokerUrl | BrokerAccess) -> BrokerAccess:
        """A URL as given (credentials only from the URL itself), or an access unchanged."""
        if isinstance(target, BrokerAccess):
            return target
        return cls(target if isinstance(target, BrokerUrl) else BrokerUrl.parse(target))

    def tls_context(self) -> ssl.SSLContext | None:
        """For mqtts://: verifies the broker's certificate and host name; None for mqtt://.

        Raises ValueError when a CA, certificate or key file cannot be used."""
        if not self.url.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file or None)
            if self.client_cert:
                context.load_cert_chain(self.client_cert, self.client_key or None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"MQTT TLS files unusable: {exc}") from None
        return context

    def child_env(self) -> dict[str, str]:
        """Environment that gives a child process this access (no command line needed)."""
        values = {ENV_USERNAME: self.url.username or "", ENV_PASSWORD: self.url.password or "",
                  ENV_CA_FILE: self.ca_file, ENV_CLIENT_CERT: self.client_cert, ENV_CLIENT_KEY: self.client_key}
        return {k: v for k, v in values.items() if v}

    def environment_for_children(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (default: this process's environment) with our MQTT variables replaced."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k not in ENV_VARIABLES}
        return {**env, **self.child_env()}


def resolve(url: str | None, *, username: str | None = None, password_file: str | Path | None = None,
            ca_file: str | Path | None = None, client_cert: str | Path | None = None,
            client_key: str | Path | None = None, defaults: MqttSettings | None = None,
            env: Mapping[str, str] | None = None) -> BrokerAccess:
    """The access from options, URL, environment and config.ini [Mqtt] (`defaults`), in
    that order of precedence (see the module's docstring).

    Raises ValueError for a bad URL or an unreadable password file (the message never holds
    the password)."""
    env = os.environ if env is None else env
    config = defaults or MqttSettings()
    parsed = BrokerUrl.parse(url or config.broker)
    # The environment as the options' click reads it: a forked charge point has no options.
    user = username or env.get(ENV_USERNAME) or parsed.username or config.username or None
    password_file = password_file or env.get(ENV_PASSWORD_FILE)
    ca_file, client_cert, client_key = (value or env.get(name) for value, name in (
        (ca_file, ENV_CA_FILE), (client_cert, ENV_CLIENT_CERT), (client_key, ENV_CLIENT_KEY)))
    password = (_read_password(password_file) if password_file else env.get(ENV_PASSWORD) or parsed.password
                or _read_password(config.password_file))
    redact.register_secret(password)
    access = BrokerAccess(replace(parsed, username=user, password=password or None),
                          ca_file=_absolute(ca_file or config.ca_file),
                          client_cert=_absolute(client_cert or config.client_cert),
                          client_key=_absolute(client_key or config.client_key))
    if access.url.password and not access.url.username:
        raise ValueError("an MQTT password needs a user name (--mqtt-username or user@ in the URL)")
    access.tls_context()  # unusable TLS files: said now, not at every reconnection
    return access


def _read_password(path: str | Path | None) -> str | None:
    """The first line of a password file (its trailing newline is no part of the password)."""
    if not path:
        return None
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"cannot read the MQTT password file {path}: {exc.strerror}") from None
    return text.splitlines()[0] if text else ""


def _absolute(path: str | Path | None) -> str:
    """Children run in their instance directory: a relative path would no longer resolve."""
    return str(Path(path).expanduser().resolve()) if path else ""


def mqtt_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The MQTT security options every component's command takes (values: `access_options`)."""
    file = click.Path(dir_okay=False)
    options = [
        click.option("--mqtt-username", envvar=ENV_USERNAME, metavar="USER",
                     help=f"MQTT user name (overrides the URL's; env {ENV_USERNAME})."),
        click.option("--mqtt-password-file", envvar=ENV_PASSWORD_FILE, type=file, metavar="FILE",
                     help=f"File whose first line is the MQTT password (env {ENV_PASSWORD_FILE}; or give "
                          f"the password itself in {ENV_PASSWORD}). Never put it on a command line."),
        click.option("--mqtt-ca-file", envvar=ENV_CA_FILE, type=file, metavar="PEM",
                     help=f"CA bundle that verifies an mqtts:// broker (default: the system's; env {ENV_CA_FILE})."),
        click.option("--mqtt-client-cert", envvar=ENV_CLIENT_CERT, type=file, metavar="PEM",
                     help=f"Client certificate for an mqtts:// broker that asks for one (env {ENV_CLIENT_CERT})."),
        click.option("--mqtt-client-key", envvar=ENV_CLIENT_KEY, type=file, metavar="PEM",
                     help=f"Private key of --mqtt-client-cert, if not in the same file (env {ENV_CLIENT_KEY})."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def access_options(options: dict[str, Any]) -> dict[str, Any]:
    """Pop the `mqtt_options` values out of a command's keyword arguments, for `resolve`."""
    return {"username": options.pop("mqtt_username", None),
            "password_file": options.pop("mqtt_password_file", None),
            "ca_file": options.pop("mqtt_ca_file", None),
            "client_cert": options.pop("mqtt_client_cert", None),
            "client_key": options.pop("mqtt_client_key", None)}
