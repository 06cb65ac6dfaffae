"""The launcher dying or being interrupted: charge points live on, a new launcher adopts them,
and no PID is signalled on a retained message's word alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest

from cp_simu.process import MARKER_FILE, start_ticks
from cp_simu.topics import Topics
from launcher.spawner import FORK_SERVER_TITLE
from tests.launcher.conftest import cp_processes, definition
from tests.launcher.test_commands import gone
from tests.procs import wait_until

T = Topics()


def test_sigkill_launcher_then_new_launcher_adopts_and_kills(launcher_factory, csms):
    first = launcher_factory()
    first.start(definition("A1", csms.url), definition("A2", csms.url))
    a1 = first.wait_status("A1", "Accepted")
    a2 = first.wait_status("A2", "Accepted")
    first.proc.signal(signal.SIGKILL)
    wait_until(lambda: first.rec.last(T.launcher_status) == b"Dead", 10, what="the launcher's will")
    assert not gone(a1["pid"]) and not gone(a2["pid"])

    second = launcher_factory()
    second.wait_running(2)
    second.kill("A1")
    second.wait_status("A1", "Dead")
    assert gone(a1["pid"]) and not gone(a2["pid"])
    second.wait_running(1)


def test_pid_from_a_retained_status_is_verified_before_any_signal(launcher_factory, broker, fleet_dir,
                                                                   recorder_factory):
    """A retained status (and even a marker file) naming a live process that is not that CP."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 start_new_session=True)
    try:
        instance = fleet_dir / "chargepoints" / "FAKE"
        instance.mkdir(parents=True)
        # Right PID, wrong start time: what a reused PID looks like.
        (instance / MARKER_FILE).write_text(json.dumps({"pid": bystander.pid,
                                                        "start_ticks": start_ticks(bystander.pid) - 1}))
        status = {"pid": bystander.pid, "status": "Accepted", "vendor": "v", "model": "m", "serial": "s",
                  "nb_phases": 3, "max_setpoint": 32.0, "central_system": "ws://x/", "type": "AC",
                  "voltage": 230.0}
        recorder_factory(broker.url).publish(T.cp_status("FAKE"), json.dumps(status), retain=True)
        run = launcher_factory()
        run.wait_running(0)
        run.kill("FAKE")
        run.wait_status("FAKE", "Dead")  # the stale status is corrected, nothing is signalled
        assert bystander.poll() is None
        run.rec.publish(T.cp_status("FAKE"), b"", retain=True)
        wait_until(lambda: not instance.exists(), 5, what="FAKE removed")
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_ctrl_c_in_the_launchers_terminal_leaves_charge_points_running(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("G1", csms.url), definition("G2", csms.url))
    pids = [run.wait_status(i, "Accepted")["pid"] for i in ("G1", "G2")]
    launcher = psutil.Process(run.proc.pid)
    helpers = launcher.children()
    assert all(os.getsid(pid) == pid for pid in pids), "each CP leads its own session"
    os.killpg(run.proc.pid, signal.SIGINT)  # what Ctrl+C does: the whole foreground group
    assert run.proc.wait(10) == 0
    wait_until(lambda: run.rec.last(T.launcher_status) == b"Dead", 5, what="launcher Dead")
    wait_until(lambda: not any(h.is_running() and h.status() != psutil.STATUS_ZOMBIE for h in helpers), 5,
               what="the fork server to end with the launcher")
    assert not any(gone(pid) for pid in pids)
    assert {p.pid for p in cp_processes(run.workdir)} == set(pids)
    assert all(run.status(i)["status"] == "Accepted" for i in ("G1", "G2"))


def test_children_are_detached_and_reaped(launcher_factory, csms):
    run = launcher_factory()
    ids = [f"Z{i}" for i in range(4)]
    run.start(*(definition(i, csms.url) for i in ids))
    statuses = [run.wait_status(i, "Accepted") for i in ids]
    for status in statuses:
        cp = psutil.Process(status["pid"])
        assert os.getsid(cp.pid) == cp.pid != os.getsid(run.proc.pid)
        assert os.readlink(f"/proc/{cp.pid}/fd/0") == os.devnull
        assert os.readlink(f"/proc/{cp.pid}/fd/1").endswith("stdout.log")
        assert cp.cwd() == str(run.instance(cp_id := ids[statuses.index(status)]).resolve()), cp_id
    run.kill(*ids)
    for i in ids:
        run.wait_status(i, "Dead")
    launcher = psutil.Process(run.proc.pid)
    wait_until(lambda: not [p for p in launcher.children(recursive=True)
                            if p.status() == psutil.STATUS_ZOMBIE], 5, what="no zombie children")
    assert not cp_processes(run.workdir)


def test_fork_server_killed_is_restarted_and_charge_points_live_on(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("H1", csms.url))
    h1 = run.wait_status("H1", "Accepted")
    helper = next(p for p in psutil.Process(run.proc.pid).children()
                  if " ".join(p.cmdline()).startswith(FORK_SERVER_TITLE))
    helper.kill()
    wait_until(lambda: not psutil.pid_exists(helper.pid), 5, what="the fork server gone and reaped")
    run.start(definition("H2", csms.url))
    run.wait_status("H2", "Accepted")
    assert not gone(h1["pid"])
    run.wait_running(2)


def test_a_charge_point_that_fails_is_reported(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("F1", csms.url))
    f1 = run.wait_status("F1", "Accepted")
    run.kill("F1")
    run.wait_status("F1", "Dead", pid=f1["pid"])
    (run.instance("F1") / "config.ini").write_text("this is not an INI file\n")
    run.send({"type": "restart", "charge_points": [definition("F1", csms.url)]})
    error = run.wait_error("F1 (pid")
    assert "exited with code 1" in error["error"] and str(run.instance("F1")) in error["error"]
    assert "config.ini" in (run.instance("F1") / "stdout.log").read_text()
    run.wait_running(0)


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_a_charge_point_that_crashes_is_reported_whichever_news_comes_first(launcher_factory, csms, spawn_mode):
    """Its will (Dead) and its exit race each other to the launcher; the crash is reported
    on the launcher's error topic either way."""
    run = launcher_factory("--spawn-mode", spawn_mode)
    ids = [f"CRASH_{n}" for n in range(4)]
    run.start(*(definition(cp_id, csms.url) for cp_id in ids))
    pids = {cp_id: run.wait_status(cp_id, "Accepted")["pid"] for cp_id in ids}
    for cp_id in ids:
        os.kill(pids[cp_id], signal.SIGKILL)
    for cp_id in ids:
        run.wait_status(cp_id, "Dead", pid=pids[cp_id])
        run.wait_error(f"charge point {cp_id} (pid {pids[cp_id]}) exited with code -9")
    run.wait_running(0)
