"""Named launchers: several on one broker (one per host), each on its own topics and fleet,
and a CP id unique across the fleet."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from cp_simu.cli import main
from cp_simu.topics import Topics
from tests.launcher.conftest import BOOT_WAIT, cp_processes, definition
from tests.launcher.test_up import _all_gone, _reap, _up, _up_processes
from tests.procs import free_port, managed, wait_until

T = Topics()


@pytest.mark.parametrize("options", [("--spawn-mode", "fork"), ("--spawn-mode", "subprocess"),
                                     ("--cps-per-process", "2")], ids=["fork", "subprocess", "packed"])
def test_named_launcher_serves_its_own_topics_and_names_itself(launcher_factory, csms, options):
    east = launcher_factory(*options, name="east")
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


@pytest.mark.parametrize("command", [["launcher"], ["up"]])
def test_launcher_name_is_validated_like_an_id(tmp_path, command):
    option = "--name" if command == ["launcher"] else "--launcher"
    result = CliRunner().invoke(main, [*command, option, "../x", "--workdir", str(tmp_path)])
    assert result.exit_code == 2
    assert "invalid launcher name '../x'" in result.output
    assert not list(tmp_path.iterdir()), "nothing started, nothing written"


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


def test_up_starts_and_drives_a_named_launcher(tmp_path, recorder_factory):
    port = free_port()
    workdir = tmp_path / "up"
    args = _up(workdir, 2, "--launcher", "east", "--id-prefix", "EAST_", port=port)
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "2/2 Accepted" in up.output() or not up.alive(), 60, what="2/2 Accepted")
            started = _up_processes(up.pid, workdir)
            assert "launcher east Alive" in up.output()
            rec = recorder_factory(f"mqtt://127.0.0.1:{port}")
            status = rec.wait_json(T.cp_status("EAST_0002"), lambda d: d.get("status") == "Accepted")
            assert status["launcher"] == "east"
            wait_until(lambda: rec.last(T.launcher("east").status) == b"Alive", 5, what="east Alive")
            assert rec.last(T.launcher_status) is None, "no unnamed launcher was started"
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
            assert "stopping 2 charge point(s)" in up.output()
        _all_gone(started)
    finally:
        _reap(started, workdir)


def test_a_restarted_named_launcher_adopts_only_its_own(launcher_factory, csms):
    """Same workdir, other name: the running CP is east's, west neither adopts, kills, marks
    Dead, removes nor restarts it; east, back, adopts it."""
    east = launcher_factory(name="east")
    east.start(definition("E1", csms.url))
    e1 = east.wait_status("E1", "Accepted", BOOT_WAIT)
    east.send({"type": "close"})
    assert east.proc.wait(10) == 0

    west = launcher_factory(name="west")
    west.wait_running(0)
    west.kill("E1")
    assert "alive under launcher 'east'" in west.wait_error("E1: not running here")["error"]
    west.start(definition("E1", csms.url))
    west.wait_error("E1: not started")
    west.rec.publish(T.cp_status("E1"), b"", retain=True)  # the removal protocol, wrongly applied
    west.wait_error("E1: not removed")
    assert west.instance("E1").is_dir() and psutil.pid_exists(e1["pid"])
    west.rec.publish(T.cp_status("E1"), json.dumps(e1), retain=True)  # put it back
    west.send({"type": "close"})
    assert west.proc.wait(10) == 0

    again = launcher_factory(name="east")
    again.wait_running(1)
    again.kill("E1")
    again.wait_status("E1", "Dead", pid=e1["pid"])


def test_a_setup_file_names_its_launcher(launcher_factory, csms, tmp_path, broker):
    east = launcher_factory(name="east", workdir=tmp_path / "east")
    east.start(definition("E1", csms.url))
    east.wait_status("E1", "Accepted", BOOT_WAIT)
    setup = tmp_path / "west.json"
    setup.write_text(json.dumps({"launcher": "west",
                                 "charge_points": [definition("W1", csms.url), definition("E1", csms.url)]}))

    for name in ([], ["--name", "north"]):
        wrong = CliRunner().invoke(main, ["launcher", "--broker", broker.url, "--workdir", str(tmp_path / "x"),
                                          "--setup", str(setup), *name])
        assert wrong.exit_code == 1
        assert "meant for launcher west; run with --name west" in wrong.output

    west = launcher_factory("--setup", str(setup), name="west", workdir=tmp_path / "west")
    assert west.wait_status("W1", "Accepted", BOOT_WAIT)["launcher"] == "west"
    assert "alive under launcher 'east'" in west.wait_error("E1: not started")["error"]
    west.wait_running(1)


def test_a_second_launcher_of_the_same_name_is_refused(launcher_factory, tmp_path):
    east = launcher_factory(name="east", workdir=tmp_path / "a")
    twin = launcher_factory(name="east", workdir=tmp_path / "b", wait=False)
    assert twin.proc.wait(30) == 1
    assert "a launcher named 'east' is already Alive on this broker" in twin.proc.output()
    assert f"pid {east.proc.pid}" in twin.proc.output()
    assert [m.payload for m in east.rec.on_topic(T.launcher("east").status)] == [b"Alive"], "east stays Alive"
    assert east.info()["pid"] == east.proc.pid


def test_a_stale_alive_of_a_gone_launcher_of_this_host_is_ignored(launcher_factory, broker, recorder_factory):
    gone = subprocess.Popen(["true"])
    gone.wait()
    rec = recorder_factory(broker.url)
    rec.publish(T.launcher("east").status, b"Alive", retain=True)  # its will never fired
    rec.publish(T.launcher("east").info, json.dumps({"host": socket.gethostname(), "pid": gone.pid}), retain=True)
    east = launcher_factory(name="east")
    assert east.info()["pid"] == east.proc.pid


def test_a_second_unnamed_launcher_is_refused_until_the_first_is_gone(launcher_factory, csms, tmp_path):
    """Two unnamed launchers would both obey every command on cp_simu/launcher/cmd and start
    each charge point twice: the second one exits before it publishes anything."""
    first = launcher_factory()
    twin = launcher_factory(workdir=tmp_path / "b", wait=False)
    assert twin.proc.wait(30) == 1
    assert "an unnamed launcher is already Alive on this broker" in twin.proc.output()
    assert f"pid {first.proc.pid}" in twin.proc.output() and "--name" in twin.proc.output()
    assert [m.payload for m in first.rec.on_topic(T.launcher_status)] == [b"Alive"], "first stays Alive"
    first.start(definition("U1", csms.url, max_setpoint=16.5))
    assert first.wait_status("U1", "Accepted", BOOT_WAIT)["launcher"] == ""
    first.wait_running(1)
    assert len(cp_processes(first.workdir)) == 1 and not cp_processes(tmp_path / "b"), "U1 started once"
    named = launcher_factory(workdir=tmp_path / "c", name="east")  # a named one on the same broker is fine
    assert named.info()["name"] == "east"

    first.proc.signal(signal.SIGKILL)  # not reaped yet: its will says Dead
    successor = launcher_factory(workdir=tmp_path / "d")
    assert successor.info()["pid"] == successor.proc.pid


def test_an_alive_with_an_unreadable_info_is_still_refused_with_a_clear_error(launcher_factory, broker,
                                                                              recorder_factory):
    rec = recorder_factory(broker.url)
    rec.publish(T.launcher_status, b"Alive", retain=True)
    rec.publish(T.launcher_info, b"[" * 100_000, retain=True)  # nested deeper than json decodes
    twin = launcher_factory(wait=False)
    assert twin.proc.wait(30) == 1
    assert "an unnamed launcher is already Alive on this broker (host ?, pid ?)" in twin.proc.output()
    assert "Traceback" not in twin.proc.output()


@pytest.mark.parametrize("options", [(), ("--cps-per-process", "2")], ids=["fork", "packed"])
def test_an_id_started_under_two_launchers_at_once_keeps_running_under_one(launcher_factory, csms, tmp_path,
                                                                           options):
    """Both launchers are told to start the same ids at the same moment, before either sees
    the other's status: the one whose name sorts first (east) keeps them, the other kills its
    own and says so; the statuses end up the kept charge points'."""
    east = launcher_factory(*options, name="east", workdir=tmp_path / "east")
    west = launcher_factory(*options, name="west", workdir=tmp_path / "west")
    east.start(definition("EAST_WARM", csms.url))  # both fork servers ready: the starts below are instant
    west.start(definition("WEST_WARM", csms.url))
    east.wait_status("EAST_WARM", "Accepted", BOOT_WAIT)
    west.wait_status("WEST_WARM", "Accepted", BOOT_WAIT)

    ids = [f"TWICE_{n}" for n in range(3)] + [f"TWICE.3:{'x' * 40}"]  # the last one 48 characters, the most
    both = [definition(cp_id, csms.url, meter_value_sample_interval=10.0, max_setpoint=31.5) for cp_id in ids]
    west.start(*both)
    east.start(*both)

    wait_until(lambda: all(any(cp_id in e["error"] for e in west.errors()) for cp_id in ids), BOOT_WAIT,
               what="west's word on each id")
    stopped = [cp_id for cp_id in ids if any(e["error"].startswith(f"{cp_id}: stopped here, launcher 'east' "
                                                                   "started it too") for e in west.errors())]
    assert stopped, "no start raced (west saw east's statuses first): the test proved nothing"
    for cp_id in set(ids) - set(stopped):
        assert any(e["error"].startswith(f"{cp_id}: not started, it is alive under launcher 'east'")
                   for e in west.errors())
    assert not any(cp_id in e["error"] for e in east.errors() for cp_id in ids)
    if not options:  # a process per charge point: none of the ids is left in west's
        wait_until(lambda: not {Path(p.cwd()).name for p in cp_processes(west.workdir)} & set(ids), 10,
                   what="west's copies gone")
    west.wait_running(1)  # WEST_WARM only
    east.wait_running(5)
    if not options:  # east's own copies still run, each in its own process
        assert set(ids) <= {Path(p.cwd()).name for p in cp_processes(east.workdir)}
    for cp_id in ids:  # east's re-sent status replaces what west's copy left (its will, or its last status)
        try:
            wait_until(lambda cp_id=cp_id: (east.status(cp_id) or {}).get("launcher") == "east"
                       and east.status(cp_id)["status"] == "Accepted" and psutil.pid_exists(east.status(cp_id)["pid"]),
                       10, what=f"{cp_id}'s status from east's charge point")
        except AssertionError as exc:
            seen = [(d["launcher"], d["status"], d["pid"], m.retain)
                    for m in east.rec.on_topic(T.cp_status(cp_id)) for d in [json.loads(m.payload)]]
            raise AssertionError(f"{exc}; its statuses (launcher, status, pid, retained): {seen}") from None


def test_a_ramped_start_skips_an_id_another_launcher_started_while_it_waited(launcher_factory, csms, tmp_path):
    east = launcher_factory(name="east", workdir=tmp_path / "east")
    west = launcher_factory(name="west", workdir=tmp_path / "west")
    east.start(definition("EAST_WARM", csms.url))  # both fork servers ready: no start below waits for one
    west.start(definition("WEST_WARM", csms.url))
    east.wait_status("EAST_WARM", "Accepted", BOOT_WAIT)
    west.wait_status("WEST_WARM", "Accepted", BOOT_WAIT)
    west.send({"type": "start", "ramp": 0.25, "charge_points": [definition("SLOW_1", csms.url),
                                                                 definition("SLOW_2", csms.url)]})
    west.wait_status("SLOW_1", "Accepted", BOOT_WAIT)  # SLOW_2's turn is 4 s later
    east.start(definition("SLOW_2", csms.url))
    east.wait_status("SLOW_2", "Accepted", BOOT_WAIT)
    west.wait_error("SLOW_2: not started, it is alive under launcher 'east'", 10)
    west.wait_running(2)
    assert not west.instance("SLOW_2").exists()
