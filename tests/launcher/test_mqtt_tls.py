"""mqtts://: launcher and charge points on a Mosquitto that serves TLS (and one that wants
client certificates), in both spawn modes; the embedded broker's TLS; a wrong CA refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cp_simu.broker_access import BrokerAccess
from cp_simu.mqtt import MqttClient
from cp_simu.pki import create_demo_pki
from cp_simu.urls import BrokerUrl
from tests.conftest import Broker, BrokerTls, Recorder, start_amqtt, start_mosquitto
from tests.launcher.conftest import TOPICS as T
from tests.launcher.conftest import cp_processes, definition
from tests.procs import managed, ocpp_simu, wait_until


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A throw-away CA, a server certificate for 127.0.0.1 and a client certificate `launcher`."""
    directory = tmp_path / "pki"
    create_demo_pki(directory, ("launcher",))
    return directory


def tls_files(pki: Path, require_certificate: bool = False) -> BrokerTls:
    return BrokerTls(pki / "ca.pem", pki / "server.pem", pki / "server.key", require_certificate)


@pytest.fixture
def broker(tmp_path: Path, pki: Path) -> Iterator[Broker]:
    """A Mosquitto serving TLS only."""
    yield from start_mosquitto(tmp_path, tls=tls_files(pki))


def start_command(cp_id: str, csms_url: str) -> str:
    return json.dumps({"type": "start", "charge_points": [definition(cp_id, csms_url)]})


def access(broker: Broker, pki: Path, *, client: bool = False) -> BrokerAccess:
    files = {"client_cert": str(pki / "launcher.pem"), "client_key": str(pki / "launcher.key")} if client else {}
    return BrokerAccess(BrokerUrl.parse(broker.url), ca_file=str(pki / "ca.pem"), **files)


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_launcher_and_charge_points_verify_the_broker_with_the_configured_ca(
        broker, pki: Path, csms, recorder_factory, fleet_dir: Path, tmp_path: Path, mode: str) -> None:
    rec = recorder_factory(access(broker, pki))
    args = ocpp_simu("-v", "launcher", "--broker", broker.url, "--mqtt-ca-file", str(pki / "ca.pem"),
                     "--workdir", str(fleet_dir), "--spawn-mode", mode)
    with managed(args, log=tmp_path / "launcher.log") as proc:
        wait_until(lambda: rec.last(T.launcher_status) == b"Alive" or not proc.alive(), 20,
                   what="the launcher over TLS")
        rec.publish(T.launcher_cmd, start_command("TLS1", csms.url))
        status = rec.wait_json(T.cp_status("TLS1"), lambda d: d["status"] == "Accepted", 20)
        assert status["pid"] in [p.pid for p in cp_processes(fleet_dir)]


def test_a_broker_asking_for_client_certificates(tmp_path: Path, pki: Path, csms, fleet_dir: Path) -> None:
    with contextmanager(start_mosquitto)(tmp_path, tls=tls_files(pki, require_certificate=True)) as broker:
        with pytest.raises(TimeoutError):  # no client certificate: the handshake fails
            MqttClient(access(broker, pki), "no-certificate").connect(3)
        rec = Recorder(access(broker, pki, client=True), "cp_simu/#", "tls-recorder")  # type: ignore[arg-type]
        args = ocpp_simu("-v", "launcher", "--broker", broker.url, "--mqtt-ca-file", str(pki / "ca.pem"),
                         "--mqtt-client-cert", str(pki / "launcher.pem"), "--mqtt-client-key",
                         str(pki / "launcher.key"), "--workdir", str(fleet_dir))
        try:
            with managed(args, log=tmp_path / "launcher.log"):
                wait_until(lambda: rec.last(T.launcher_status) == b"Alive", 20, what="the launcher")
                rec.publish(T.launcher_cmd, start_command("TLS2", csms.url))
                rec.wait_json(T.cp_status("TLS2"), lambda d: d["status"] == "Accepted", 20)
        finally:
            rec.close()


def test_a_broker_certificate_from_another_ca_is_refused(broker, tmp_path: Path) -> None:
    other = tmp_path / "other-pki"
    create_demo_pki(other)
    args = ocpp_simu("-v", "launcher", "--broker", broker.url, "--mqtt-ca-file", str(other / "ca.pem"),
                     "--workdir", str(tmp_path / "w"))
    with managed(args, log=tmp_path / "launcher.log") as proc:
        wait_until(lambda: "certificate verify failed" in proc.output(), 15, what="the TLS refusal logged")


def test_embedded_broker_serves_tls_and_can_require_a_client_certificate(tmp_path: Path, pki: Path) -> None:
    with contextmanager(start_amqtt)(tmp_path, tls=tls_files(pki, require_certificate=True)) as broker:
        assert broker.url.startswith("mqtts://")
        MqttClient(access(broker, pki, client=True), "with-certificate").connect(10).stop()
        with pytest.raises(TimeoutError):
            MqttClient(access(broker, pki), "without-certificate").connect(3)
        with pytest.raises(TimeoutError):  # not TLS at all
            MqttClient(f"mqtt://127.0.0.1:{broker.port}", "plain").connect(3)
