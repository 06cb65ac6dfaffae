"""Launcher and charge points on a broker that requires a password (Mosquitto), in both
spawn modes; the credentials never show up on a command line, in a config.ini or on MQTT."""

from __future__ import annotations

import contextlib
import json
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cp_simu.config import default_template_text
from cp_simu.mqtt import MqttClient
from cp_simu.urls import BrokerUrl
from tests.conftest import Broker, start_mosquitto
from tests.launcher.conftest import TOPICS, cp_processes, definition, kill_cps
from tests.procs import free_port, managed, ocpp_simu, wait_until

USER, PASSWORD = "fleet", "Br0ker-Secret-77"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto that refuses anonymous clients; its URL carries the credentials."""
    for plain in start_mosquitto(tmp_path, users={USER: PASSWORD}):
        yield Broker(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{plain.port}", plain.port, plain.kind, plain.process)


def plain_url(broker: Broker) -> str:
    return str(BrokerUrl.parse(broker.url))


def cmdlines(pids: list[int]) -> str:
    return "\n".join(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                     for pid in pids if Path(f"/proc/{pid}/cmdline").exists())


def assert_no_password_left(run, cp_id: str) -> None:
    config = run.instance(cp_id) / "config.ini"
    assert PASSWORD not in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    cps = cp_processes(run.workdir)
    assert cps
    # the fork server (fork mode); the launcher's own command line is what the user typed
    helpers = [c.pid for p in cps for c in [p.parent()] if c is not None and c.pid != run.proc.pid]
    assert PASSWORD not in cmdlines([p.pid for p in cps] + helpers)
    published = "\n".join(m.text for m in run.rec.messages)
    assert PASSWORD not in published
    assert (run.info() or {}).get("broker") == str(run.rec.client.url)


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_launcher_and_charge_points_join_a_broker_with_the_url_credentials(launcher_factory, csms, mode) -> None:
    run = launcher_factory("--spawn-mode", mode)
    run.start(definition("SEC1", csms.url))
    status = run.wait_status("SEC1", "Accepted")
    assert status["pid"] in [p.pid for p in cp_processes(run.workdir)]
    assert_no_password_left(run, "SEC1")
    assert PASSWORD not in run.proc.output()


def test_credentials_from_options_and_a_password_file(launcher_factory, broker, csms, tmp_path: Path) -> None:
    secret = tmp_path / "mqtt.pass"
    secret.write_text(PASSWORD + "\n")
    run = launcher_factory("--broker", plain_url(broker), "--mqtt-username", USER, "--mqtt-password-file",
                           str(secret))
    run.start(definition("SEC2", csms.url))
    run.wait_status("SEC2", "Accepted")
    assert_no_password_left(run, "SEC2")


def test_a_wrong_password_is_refused_and_never_echoed(broker, tmp_path: Path) -> None:
    wrong = "Wr0ng-Pass-123"
    args = ocpp_simu("-v", "launcher", "--broker", plain_url(broker), "--mqtt-username", USER,
                     "--workdir", str(tmp_path / "w"))
    with managed(args, log=tmp_path / "launcher.log", env={"OCPP_SIMU_MQTT_PASSWORD": wrong}) as proc:
        wait_until(lambda: "refused" in proc.output(), 10, what="the refusal in the launcher's log")
        output = proc.output()
    assert "Not authorized" in output or "Bad user name or password" in output
    assert wrong not in output


def test_launcher_topics_on_a_protected_broker_need_the_password(launcher_factory, broker) -> None:
    """An anonymous client sees nothing of the fleet: the broker really requires the password."""
    launcher_factory()
    anonymous = MqttClient(plain_url(broker), "anonymous-probe")
    with pytest.raises(TimeoutError, match="refused"):
        anonymous.connect(3)


def test_a_config_template_broker_url_keeps_its_credentials(broker, csms, recorder_factory, fleet_dir: Path,
                                                            tmp_path: Path) -> None:
    template = default_template_text().replace("broker = mqtt://127.0.0.1:1883", f"broker = {broker.url}")
    (fleet_dir / "config.ini").write_text(template)
    rec = recorder_factory(broker.url)
    with managed(ocpp_simu("-v", "launcher", "--workdir", str(fleet_dir)), log=tmp_path / "launcher.log") as proc:
        wait_until(lambda: rec.last(TOPICS.launcher_status) == b"Alive" or not proc.alive(), 20,
                   what="the launcher on the template's broker")
        rec.publish(TOPICS.launcher_cmd, json.dumps({"type": "start", "charge_points": [definition("TPL1", csms.url)]}))
        rec.wait_json(TOPICS.cp_status("TPL1"), lambda d: d["status"] == "Accepted", 20)
        instance = (fleet_dir / "chargepoints" / "TPL1" / "config.ini").read_text()
        assert PASSWORD not in instance and f"broker = {plain_url(broker)}" in instance
        assert PASSWORD not in proc.output()


def test_no_embedded_broker_is_started_for_credentials(tmp_path: Path) -> None:
    url = f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"
    done = subprocess.run(ocpp_simu("launcher", "--broker", url, "--workdir", str(tmp_path / "w")),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no MQTT broker answers" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_up_starts_an_embedded_broker_for_its_user_only(tmp_path: Path) -> None:
    workdir, port = tmp_path / "up", free_port()
    args = ocpp_simu("up", "--cps", "2", "--broker", f"mqtt://127.0.0.1:{port}", "--mqtt-username", USER,
                     "--csms-port", "0", "--workdir", str(workdir))
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out", env={"OCPP_SIMU_MQTT_PASSWORD": PASSWORD}) as up:
            wait_until(lambda: "2/2 Accepted" in up.output() or not up.alive(), 60, what="2/2 Accepted")
            started = psutil.Process(up.pid).children(recursive=True) + cp_processes(workdir)
            assert PASSWORD not in cmdlines([p.pid for p in started])
            with pytest.raises(TimeoutError, match="Not authorized"):
                MqttClient(f"mqtt://127.0.0.1:{port}", "anonymous-probe").connect(3)
            assert stat.S_IMODE((workdir / "broker.users").stat().st_mode) == 0o600
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        assert PASSWORD not in (tmp_path / "up.out").read_text()
        assert not any(PASSWORD in p.read_text(errors="replace") for p in workdir.rglob("*.log*"))
    finally:
        for proc in started:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        kill_cps(workdir)
