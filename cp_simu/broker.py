"""The embedded MQTT broker (amqtt), and finding a broker when none is given.

amqtt is pure Python and asyncio-native, so `make run` needs no system service; any real
broker (Mosquitto, EMQX…) works instead through `--broker URL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cp_simu.urls import BrokerUrl

log = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": -1}},
        # No $SYS publisher and no per-packet logger: they cost CPU for hundreds of clients.
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }


def _broker_class() -> type:
    """amqtt's Broker, minus a bug that breaks fleets: amqtt 0.12.1 sends every connecting
    client the retained messages of *every* subscription in the broker (O(N²) messages when
    N charge points boot, since the launcher subscribes to all CP statuses) and crashes the
    connection ("dictionary changed size during iteration") when another client subscribes
    meanwhile. A client gets the retained messages of its own subscriptions only."""
    from amqtt.broker import Broker

    class FleetBroker(Broker):
        async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                              session: Any) -> None:
            subscribers = self._subscriptions.get(subscription[0], ())
            if any(s.client_id == session.client_id for s, _ in subscribers):
                await super()._publish_retained_messages_for_subscription(subscription, session)

    return FleetBroker


async def serve(host: str = "127.0.0.1", port: int = 1883) -> None:
    """Run the embedded broker until SIGINT/SIGTERM."""
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    broker = _broker_class()(broker_config(host, port))
    await broker.start()
    log.info("embedded MQTT broker listening on mqtt://%s:%d", host, port)
    print(f"MQTT broker ready on mqtt://{host}:{port}", flush=True)
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
    without verification: the probe sends no credentials and reads nothing but CONNACK."""
    try:
        with socket.create_connection((url.host, url.port), timeout=timeout) as raw:
            sock = raw
            if url.tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=url.host)
            sock.sendall(_probe_connect())
            if sock.recv(4)[:1] != bytes([_CONNACK]):
                return False
            with contextlib.suppress(OSError):
                sock.sendall(_DISCONNECT)
            return True
    except OSError:
        return False


def spawn_embedded(url: BrokerUrl, log_file: Path | None = None, timeout: float = 15.0) -> subprocess.Popen:
    """Start `ocpp-simu broker` for `url` as a child process and wait until it accepts connections."""
    if not url.is_loopback:
        raise ValueError(f"will not start an embedded broker for non-loopback {url}")
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "cp_simu", "broker", "--host", url.host, "--port", str(url.port)],
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
