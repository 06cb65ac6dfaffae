"""Named launchers: several on one broker (one per host), each on its own topics and fleet,
and a CP id unique across the fleet."""

from __future__ import annotations

import json
import signal
import subprocess

import psutil
import pytest

from cp_simu.topics import Topics
from tests.launcher.conftest import BOOT_WAIT, definition
from tests.procs import ocpp_simu, wait_until

T = Topics()


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_named_launcher_serves_its_own_topics_and_names_itself(launcher_factory, csms, spawn_mode):
    east = launcher_factory("--spawn-mode", spawn_mode, name="east")
    assert east.info()["name"] == "east"
    assert east.rec.last(T.launcher("east").status) == b"Alive"
    assert east.rec.last(T.launcher_status) is None, "the unnamed launcher's topics stay untouched"

    east.start(definition("E1", csms.url, max_setpoint=16.5))
    status = east.wait_status("E1", "Accepted", BOOT_WAIT)
    assert status["launcher"] == "east"
    east.send("not json")
    error = east.wait_error("not valid JSON")
    assert error["topic"] == T.launcher("east").cmd
    assert not east.rec.on_topic(T.launcher_error)

    east.kill("E1")
    dead = east.wait_status("E1", "Dead")
    assert dead["launcher"] == "east", "the will names the launcher too"


def test_unnamed_launchers_charge_points_say_so(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("U1", csms.url))
    assert run.wait_status("U1", "Accepted", BOOT_WAIT)["launcher"] == ""
    assert run.info()["name"] == ""


def test_launcher_name_is_validated_like_an_id(tmp_path):
    result = subprocess.run(ocpp_simu("launcher", "--name", "../x", "--workdir", str(tmp_path)),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid launcher name '../x'" in result.stderr


def test_two_named_launchers_share_a_broker(launcher_factory, csms, tmp_path):
    east = launcher_factory(name="east", workdir=tmp_path / "east")
    west = launcher_factory(name="west", workdir=tmp_path / "west")
    east.start(definition("E1", csms.url), definition("E2", csms.url))
    west.start(definition("W1", csms.url, max_setpoint=10.0))
    east_pids = {i: east.wait_status(i, "Accepted", BOOT_WAIT)["pid"] for i in ("E1", "E2")}
    w1 = west.wait_status("W1", "Accepted", BOOT_WAIT)
    assert w1["launcher"] == "west"
    east.wait_running(2)
    west.wait_running(1)
    assert (east.instance("E1") / "config.ini").is_file() and not west.instance("E1").exists()

    # The same id asked of the other launcher: refused, on that launcher's error topic.
    west.start(definition("E1", csms.url))
    error = west.wait_error("E1: not started")
    assert "alive under launcher 'east'" in error["error"]
    assert not any("E1" in e["error"] for e in east.errors())
    assert not west.instance("E1").exists()
    assert east.status("E1")["pid"] == east_pids["E1"]

    # SIGKILL of one launcher: its will says Dead, the other's fleet is untouched.
    east.proc.signal(signal.SIGKILL)
    wait_until(lambda: east.rec.last(T.launcher("east").status) == b"Dead", 10, what="east's will")
    assert west.rec.last(T.launcher("west").status) == b"Alive"
    assert west.status("W1")["status"] == "Accepted" and west.status("W1")["pid"] == w1["pid"]
    assert psutil.pid_exists(w1["pid"])
    assert all(psutil.pid_exists(pid) for pid in east_pids.values()), "CPs outlive their launcher"
    west.start(definition("E2", csms.url))  # east's CPs still run: still refused
    west.wait_error("E2: not started")
    west.kill("W1")
    west.wait_status("W1", "Dead", pid=w1["pid"])
    west.wait_running(0)
    assert json.loads(west.rec.last(T.cp_status("E1")))["status"] == "Accepted"
