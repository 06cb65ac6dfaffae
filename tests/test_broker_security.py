"""The embedded broker requires a password from its password file, and serves TLS."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from cp_simu.mqtt import MqttClient
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until

USER, PASSWORD = "fleet", "Embedded-Pass-42"


def add_user(users: Path, user: str = USER, password: str = PASSWORD) -> subprocess.CompletedProcess:
    return subprocess.run(ocpp_simu("broker", "--password-file", str(users), "--add-user", user),
                          env={"OCPP_SIMU_MQTT_PASSWORD": password, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)


def refusal(url: str) -> str:
    with pytest.raises(TimeoutError) as failure:
        MqttClient(url, f"probe-{free_port()}").connect(3)
    return str(failure.value)


def test_add_user_writes_a_hash_readable_by_its_owner_only(tmp_path: Path) -> None:
    users = tmp_path / "users"
    assert add_user(users).returncode == 0
    assert add_user(users, "other", "Other-Pass-1").returncode == 0
    assert add_user(users, password="Changed-Pass-2").returncode == 0  # replaces fleet's line
    text = users.read_text()
    assert [line.split(":")[0] for line in text.splitlines()] == ["other", USER]
    assert PASSWORD not in text and "Changed-Pass-2" not in text and "$argon2" in text
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    bad = add_user(users, "with:colon")
    assert bad.returncode != 0 and "user name" in bad.stderr


def test_embedded_broker_admits_only_its_users(tmp_path: Path) -> None:
    users = tmp_path / "users"
    assert add_user(users).returncode == 0
    port = free_port()
    with managed(ocpp_simu("broker", "--port", str(port), "--password-file", str(users)),
                 log=tmp_path / "broker.log") as proc:
        wait_until(lambda: port_open(port) or not proc.alive(), 15, what="the embedded broker")
        client = MqttClient(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{port}", "allowed").connect(10)
        client.stop()
        again = MqttClient(f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{port}", "allowed-again").connect(3)
        again.stop()  # the second connection is checked from the cache: well within 3 s
        assert "Not authorized" in refusal(f"mqtt://{USER}:wrong-password@127.0.0.1:{port}")
        assert "Not authorized" in refusal(f"mqtt://127.0.0.1:{port}")
        assert PASSWORD not in proc.output()


def test_a_missing_password_file_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(ocpp_simu("broker", "--port", str(free_port()), "--password-file",
                                    str(tmp_path / "nope")), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "does not exist" in done.stderr
