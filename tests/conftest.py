"""Shared fixtures: real brokers (embedded amqtt and Mosquitto), the demo CSMS, MQTT clients.

Every process is started on free loopback ports in a temporary directory and stopped by
PID when the test ends, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cp_simu.broker import reachable
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics
from cp_simu.urls import BrokerUrl
from tests.procs import ManagedProcess, free_port, managed, ocpp_simu, port_open, wait_until

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "mosquitto_passwd"


@dataclass
class Broker:
    url: str
    port: int
    kind: str
    process: ManagedProcess


@dataclass(frozen=True)
class BrokerTls:
    """The files of a TLS listener; `require_certificate`: clients must present one."""

    ca: Path
    cert: Path
    key: Path
    require_certificate: bool = False


def start_amqtt(tmp: Path, *, users: dict[str, str] | None = None,
                tls: BrokerTls | None = None) -> Iterator[Broker]:
    """The embedded broker; `users` and `tls` as for `start_mosquitto`."""
    port = free_port()
    options = []
    if users:
        passwd = tmp / f"amqtt-{port}.users"
        for user, password in users.items():
            subprocess.run(ocpp_simu("broker", "--password-file", str(passwd), "--add-user", user), check=True,
                           env={**os.environ, "OCPP_SIMU_MQTT_PASSWORD": password}, capture_output=True)
        options += ["--password-file", str(passwd)]
    if tls:
        options += ["--certfile", str(tls.cert), "--keyfile", str(tls.key), "--cafile", str(tls.ca)]
        options += ["--require-certificate"] if tls.require_certificate else []
    url = f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{port}"
    with managed(ocpp_simu("broker", "--port", str(port), *options), log=tmp / f"amqtt-{port}.log") as proc:
        # An MQTT probe: a bare TCP one would make amqtt log an error.
        wait_until(lambda: reachable(BrokerUrl.parse(url), 0.2) or not proc.alive(), 15, what="embedded broker")
        assert proc.alive(), proc.output()
        yield Broker(url, port, "amqtt", proc)


def start_mosquitto(tmp: Path, *, users: dict[str, str] | None = None,
                    tls: BrokerTls | None = None) -> Iterator[Broker]:
    """`users`: only these may connect (a password_file made by mosquitto_passwd); `tls`:
    an mqtts:// listener. `Broker.url` carries no credentials."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (make test installs it)")
    port = free_port()
    conf = tmp / f"mosquitto-{port}.conf"
    lines = [f"listener {port} 127.0.0.1", f"allow_anonymous {'false' if users else 'true'}",
             "persistence false", "max_queued_messages 0", "max_inflight_messages 0"]
    if os.geteuid() == 0:  # else Mosquitto drops to user "mosquitto", who cannot read our tmp files
        lines.append("user root")
    if users:
        passwd = tmp / f"mosquitto-{port}.passwd"
        for n, (user, password) in enumerate(users.items()):
            create = ["-c"] if n == 0 else []
            subprocess.run([MOSQUITTO_PASSWD, "-b", *create, str(passwd), user, password], check=True,
                           capture_output=True)
        lines.append(f"password_file {passwd}")
    if tls:
        lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}",
                  f"require_certificate {'true' if tls.require_certificate else 'false'}"]
    conf.write_text("\n".join(lines) + "\n")
    yield from run_mosquitto(conf, port, tls=tls is not None)


def run_mosquitto(conf: Path, port: int, *, tls: bool = False) -> Iterator[Broker]:
    """Mosquitto with the configuration file `conf`, which makes it listen on `port`."""
    if MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (make test installs it)")
    with managed([MOSQUITTO, "-c", str(conf)], log=conf.with_suffix(".log")) as proc:
        wait_until(lambda: port_open(port) or not proc.alive(), 10, what="mosquitto")
        assert proc.alive(), proc.output()
        yield Broker(f"{'mqtts' if tls else 'mqtt'}://127.0.0.1:{port}", port, "mosquitto", proc)


@pytest.fixture
def amqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    yield from start_amqtt(tmp_path)


@pytest.fixture
def mosquitto_broker(tmp_path: Path) -> Iterator[Broker]:
    yield from start_mosquitto(tmp_path)


@pytest.fixture(params=["amqtt", "mosquitto"])
def any_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """The same test against the embedded broker and a real Mosquitto."""
    yield from (start_amqtt if request.param == "amqtt" else start_mosquitto)(tmp_path)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto broker when installed (faster to start), else the embedded one."""
    yield from (start_mosquitto if MOSQUITTO else start_amqtt)(tmp_path)


@dataclass
class Csms:
    url: str
    port: int
    api: str
    log: Path
    process: ManagedProcess

    def messages(self, action: str | None = None, cp_id: str | None = None,
                 direction: str | None = None) -> list[dict]:
        """OCPP messages the CSMS journalled, filtered."""
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written
            if "action" not in entry:
                continue
            if ((action is None or entry.get("action") == action)
                    and (cp_id is None or entry.get("cp_id") == cp_id)
                    and (direction is None or entry.get("direction") == direction)):
                out.append(entry)
        return out


def start_csms(tmp: Path, *extra: str) -> Iterator[Csms]:
    port, api = free_port(), free_port()
    log = tmp / f"csms-{port}.jsonl"
    args = ocpp_simu("csms", "--port", str(port), "--api-port", str(api), "--log", str(log), *extra)
    with managed(args, log=tmp / f"csms-{port}.out") as proc:
        wait_until(lambda: (port_open(port) and port_open(api)) or not proc.alive(), 15, what="demo CSMS")
        assert proc.alive(), proc.output()
        yield Csms(f"ws://127.0.0.1:{port}", port, f"http://127.0.0.1:{api}", log, proc)


@pytest.fixture
def csms(tmp_path: Path) -> Iterator[Csms]:
    yield from start_csms(tmp_path)


class Recorder:
    """A test's MQTT client that records every message under a filter."""

    def __init__(self, url: str, topic_filter: str = "#", client_id: str = "test-recorder") -> None:
        self.messages: list[Message] = []
        self.retained: dict[str, bytes] = {}
        self._cond = threading.Condition()
        self.client = MqttClient(url, client_id)
        self.client.subscribe(topic_filter, self._on)
        self.client.connect()

    def _on(self, msg: Message) -> None:
        with self._cond:
            self.messages.append(msg)
            self.retained[msg.topic] = msg.payload
            self._cond.notify_all()

    def last(self, topic: str) -> bytes | None:
        with self._cond:
            return self.retained.get(topic)

    def last_json(self, topic: str) -> dict | None:
        raw = self.last(topic)
        return json.loads(raw) if raw else None

    def on_topic(self, topic: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_json(self, topic: str, predicate=lambda d: True, timeout: float = 10.0) -> dict:
        """Wait for a message on `topic` whose JSON payload satisfies `predicate`; return it."""
        def check() -> dict | None:
            for m in reversed(self.on_topic(topic)):
                try:
                    data = json.loads(m.payload) if m.payload else None
                except ValueError:
                    continue
                if data is not None and predicate(data):
                    return data
            return None
        return wait_until(check, timeout, what=f"a matching message on {topic}")  # type: ignore[return-value]

    def publish(self, topic: str, payload, retain: bool = False) -> None:
        self.client.publish(topic, payload, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.stop()


@pytest.fixture
def topics() -> Topics:
    return Topics()


@pytest.fixture
def recorder_factory() -> Iterator:
    made: list[Recorder] = []

    def make(url: str, topic_filter: str = "cp_simu/#", client_id: str | None = None) -> Recorder:
        r = Recorder(url, topic_filter, client_id or f"test-recorder-{len(made)}-{os.getpid()}")
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
