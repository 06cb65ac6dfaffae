"""The embedded MQTT broker (amqtt), and finding a broker when none is given.

amqtt is pure Python and asyncio-native, so `make run` needs no system service; any real
broker (Mosquitto, EMQX…) works instead through `--broker URL`. It can require a user name
and password (a password file of `user:argon2-hash` lines, written by `add_user`) and serve
TLS (mqtts://, optionally requiring a client certificate signed by its CA).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cp_simu.config import atomic_write
from cp_simu.urls import BrokerUrl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerSecurity:
    """`password_file`: only its users may connect; `certfile` + `keyfile`: TLS, and with
    `require_certificate` every client must present a certificate signed by `cafile`."""

    password_file: str = ""
    certfile: str = ""
    keyfile: str = ""
    cafile: str = ""
    require_certificate: bool = False

    @property
    def tls(self) -> bool:
        return bool(self.certfile)

    def args(self) -> list[str]:
        """The `ocpp-simu broker` options that ask for this (paths only, no secret)."""
        pairs = (("--password-file", self.password_file), ("--certfile", self.certfile),
                 ("--keyfile", self.keyfile), ("--cafile", self.cafile))
        return [a for option, value in pairs if value for a in (option, value)] + \
            (["--require-certificate"] if self.require_certificate else [])


LISTEN_BACKLOG = 4096  # connections queued until accepted (see FleetBroker)


def broker_config(host: str, port: int, security: BrokerSecurity | None = None) -> dict:
    security = security or BrokerSecurity()
    listener: dict[str, Any] = {"type": "tcp", "bind": f"{host}:{port}", "max_connections": -1}
    if security.tls:
        listener.update(ssl=True, certfile=security.certfile, keyfile=security.keyfile or None,
                        cafile=security.cafile or None)
    if security.password_file:
        auth: dict[str, Any] = {"cp_simu.broker_auth.CachedFileAuthPlugin":
                                {"password_file": security.password_file}}
    else:
        auth = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
    # No $SYS publisher and no per-packet logger: they cost CPU for hundreds of clients.
    return {"listeners": {"default": listener}, "plugins": auth}


def add_user(password_file: Path, username: str, password: str) -> None:
    """Add or replace a user in an embedded broker's password file (argon2 hash, mode 0600)."""
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    if not username or ":" in username or any(c.isspace() for c in username):
        raise ValueError("a user name must be non-empty, without ':' or spaces")
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    kept = [line for line in lines if line.partition(":")[0] != username]
    entry = f"{username}:{PasswordHash((Argon2Hasher(),)).hash(password)}"
    atomic_write(password_file, "\n".join([*kept, entry]) + "\n")


def _broker_class(require_certificate: bool = False) -> type:
    """amqtt's Broker, minus a bug that breaks fleets: amqtt 0.12.1 sends every connecting
    client the retained messages of *every* subscription in the broker (O(N²) messages when
    N charge points boot, since the launcher subscribes to all CP statuses) and crashes the
    connection ("dictionary changed size during iteration") when another client subscribes
    meanwhile. A client gets the retained messages of its own subscriptions only."""
    from amqtt.broker import Broker

    class FleetBroker(Broker):
        @staticmethod
        def _create_ssl_context(listener: Any) -> ssl.SSLContext:
            """amqtt asks for a client certificate but accepts a client without one."""
            context = Broker._create_ssl_context(listener)
            if require_certificate:
                context.verify_mode = ssl.CERT_REQUIRED
            return context

        async def _create_server_instance(self, listener_name: str, listener_type: Any, address: str | None,
                                          port: int, ssl_context: ssl.SSLContext | None) -> Any:
            """amqtt's listener with a deep accept queue: its default (100) drops connections of
            a fleet's boot storm, each then retried a second or more later."""
            if listener_type != "tcp":
                return await super()._create_server_instance(listener_name, listener_type, address, port,
                                                             ssl_context)
            return await asyncio.start_server(functools.partial(self.stream_connected, listener_name=listener_name),
                                              address, port, reuse_address=True, ssl=ssl_context,
                                              backlog=LISTEN_BACKLOG)

        async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                              session: Any) -> None:
            subscribers = self._subscriptions.get(subscription[0], ())
            if any(s.client_id == session.client_id for s, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return FleetBroker


async def serve(host: str = "127.0.0.1", port: int = 1883, security: BrokerSecurity | None = None) -> None:
    """Run the embedded broker until SIGINT/SIGTERM."""
    security = security or BrokerSecurity()
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    broker = _broker_class(security.require_certificate)(broker_config(host, port, security))
    await broker.start()
    url = f"{'mqtts' if security.tls else 'mqtt'}://{host}:{port}"
    guard = "users of " + security.password_file if security.password_file else "anonymous clients"
    log.info("embedded MQTT broker listening on %s (%s)", url, guard)
    print(f"MQTT broker ready on {url} ({guard})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("embedded MQTT broker stopping")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(broker.shutdown(), 5)


_DISCONNECT = bytes([0xE0, 0])
_CONNACK = 0x20


def _probe_connect() -> bytes:
    """MQTT 3.1.1 CONNECT (clean session, no keep-alive): the probe speaks MQTT, so that no
    broker logs a client that connected and said nothing as an error."""
    client_id = f"ocpp-simu-probe-{os.getpid()}-{threading.get_ident() % 10_000}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(client_id).to_bytes(2, "big") + client_id
    return bytes([0x10, len(body)]) + body  # < 128 bytes: a one-byte remaining length


def reachable(url: BrokerUrl, timeout: float = 0.5) -> bool:
    """Whether an MQTT broker answers at the URL's address (a CONNACK, even a refusal: a
    broker that wants credentials is there all the same). mqtts:// is probed over TLS
    without verification: the probe sends no credentials and reads nothing but CONNACK; a
    TLS server that ends the exchange (it wants a client certificate) counts as a broker."""
    try:
        raw = socket.create_connection((url.host, url.port), timeout=timeout)
    except OSError:
        return False
    with raw:
        try:
            sock = raw
            if url.tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=url.host)
            sock.sendall(_probe_connect())
            answer = sock.recv(4)[:1]
        except OSError:
            return url.tls
        if answer != bytes([_CONNACK]):
            return url.tls and not answer
        with contextlib.suppress(OSError):
            sock.sendall(_DISCONNECT)
        return True


def spawn_embedded(url: BrokerUrl, log_file: Path | None = None, timeout: float = 60.0,
                   security: BrokerSecurity | None = None) -> subprocess.Popen:
    """Start `ocpp-simu broker` for `url` as a child process and wait until it accepts connections
    (an exit is seen at once; `timeout` only bounds a hang on a loaded machine)."""
    if not url.is_loopback:
        raise ValueError(f"will not start an embedded broker for non-loopback {url}")
    security = security or BrokerSecurity()
    if url.tls != security.tls:
        raise ValueError(f"{url}: an embedded broker serves TLS exactly when given a certificate and key")
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "cp_simu", "broker", "--host", url.host, "--port", str(url.port),
         *security.args()],
        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not reachable(url, 0.2):
        if proc.poll() is not None:
            raise RuntimeError(f"embedded broker exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"embedded broker did not listen on {url} within {timeout:g}s")
        time.sleep(0.05)
    return proc
