"""`ocpp-simu up`: a whole demo fleet from nothing, and nothing left after Ctrl+C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import select
import shlex
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import click
import psutil
import pytest

from cp_simu import ksm
from launcher.spawner import FORK_SERVER_TITLE
from launcher.up import _port_free
from tests.launcher.conftest import cp_processes, kill_cps
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until


def _up(workdir: Path, cps: int, *extra: str, port: int | None = None) -> list[str]:
    """`up` on a broker port of its own (nothing listens there: it starts the embedded broker)
    and its demo CSMS on a free port (tests run side by side)."""
    return ocpp_simu("up", "--cps", str(cps), "--broker", f"mqtt://127.0.0.1:{port or free_port()}",
                     "--csms-port", "0", "--workdir", str(workdir), *extra)


def _up_processes(up_pid: int, workdir: Path) -> list[psutil.Process]:
    """What `up` started, and the charge points of its work directory."""
    return psutil.Process(up_pid).children(recursive=True) + cp_processes(workdir)


def _all_gone(started: list[psutil.Process]) -> None:
    wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started),
               10, what="every process `up` started to end")


def _helpers(workdir: Path) -> list[psutil.Process]:
    """The launcher, demo CSMS and embedded broker `up` started for `workdir`, found by what
    they name or write there: also when `up` itself was killed before it could stop them."""
    key = str(workdir.resolve())
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "cp_simu" not in cmdline:
            continue
        with contextlib.suppress(psutil.Error):
            if any(key in arg for arg in cmdline) or any(f.path.startswith(key) for f in proc.open_files()):
                found.append(proc)
    return found


def _reap(started: list[psutil.Process], workdir: Path) -> None:
    for proc in [*started, *_helpers(workdir)]:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    kill_cps(workdir)


def test_up_boots_three_cps_and_ctrl_c_leaves_nothing(tmp_path: Path):
    workdir = tmp_path / "up"
    args = _up(workdir, 3)
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "3/3 Accepted" in up.output() or not up.alive(), 60, what="3/3 Accepted")
            assert up.alive(), up.output()
            started = _up_processes(up.pid, workdir)
            names = " ".join(" ".join(p.cmdline()) for p in started)
            assert all(part in names for part in ("broker", "csms", "launcher", FORK_SERVER_TITLE))
            assert len(cp_processes(workdir)) == 3
            boots = [json.loads(line) for line in (workdir / "csms.jsonl").read_text().splitlines()]
            assert {b["cp_id"] for b in boots if b.get("action") == "BootNotification"} == \
                {"CP_0001", "CP_0002", "CP_0003"}
            versions = {b["cp_id"]: b["ocpp_version"] for b in boots if b.get("action") == "BootNotification"}
            assert versions == {"CP_0001": "1.6", "CP_0002": "1.6", "CP_0003": "2.0.1"}  # a mixed fleet

            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        _all_gone(started)
        assert not cp_processes(workdir)
        assert "stopped" in (tmp_path / "up.out").read_text()
        assert "ERROR" not in (workdir / "broker.log").read_text()  # up's broker probe speaks MQTT
    finally:
        _reap(started, workdir)


def test_up_with_ksm_runs_its_launcher_with_pages_merged(host_ksm, tmp_path: Path):
    workdir = tmp_path / "up"
    started: list[psutil.Process] = []
    try:
        with managed(_up(workdir, 1, "--ksm"), log=tmp_path / "up.out") as up:
            wait_until(lambda: "1/1 Accepted" in up.output() or not up.alive(), 60, what="1/1 Accepted")
            assert up.alive(), up.output()
            started = _up_processes(up.pid, workdir)
            launcher, = (p for p in started if "launcher" in p.cmdline())
            assert "--ksm" in launcher.cmdline()
            assert ksm.running()
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        _all_gone(started)
        assert not ksm.running()  # off again
    finally:
        _reap(started, workdir)


@pytest.mark.parametrize("moment", ["header", "processes"])
def test_ctrl_c_while_the_fleet_boots_leaves_nothing(tmp_path: Path, moment: str):
    """Interrupted around the start command, before the CPs' first status."""
    workdir = tmp_path / "up"
    args = _up(workdir, 5)
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "ocpp-simu up ·" in up.output() or not up.alive(), 30, what="up's header")
            if moment == "processes":
                wait_until(lambda: len(cp_processes(workdir)) == 5 or not up.alive(), 30, what="5 CP processes")
            started = _up_processes(up.pid, workdir)
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        _all_gone(started)
        assert not cp_processes(workdir)
    finally:
        _reap(started, workdir)


def test_closed_terminal_stops_up_and_leaves_nothing(tmp_path: Path):
    """SIGHUP with a dead stdout (closed window, `| tee` killed): the clean-up still happens."""
    workdir = tmp_path / "up"
    args = _up(workdir, 2)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    started: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"2/2 Accepted" in line:
                break
        started = _up_processes(proc.pid, workdir)
        assert len(cp_processes(workdir)) == 2
        proc.stdout.close()  # the reader is gone: every later write by `up` fails
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(30) == 0
        _all_gone(started)
        assert not cp_processes(workdir)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _reap(started, workdir)


@pytest.mark.parametrize("terminal", [False, True], ids=["lines", "live-screen"])
def test_view_says_why_a_charge_point_is_disconnected(tmp_path: Path, terminal: bool):
    workdir = tmp_path / "up"
    csms = f"ws://127.0.0.1:{free_port()}/"  # nothing listens there
    args = _up(workdir, 1, "--csms", csms)
    expected = "CP_0001 Disconnected (connection refused)"
    if terminal:  # the live screen: a row per CP, the reason in its last column, the hints under it
        expected = "CP_0001     " + "Disconnected  " + "connection refused"
    main, child = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=child if terminal else subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    os.close(child)
    screen = bytearray()
    stream = main if terminal else proc.stdout.fileno()  # type: ignore[union-attr]
    try:
        def seen() -> bool:
            if select.select([stream], [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    screen.extend(os.read(stream, 65536))
            shown = click.unstyle(screen.decode(errors="replace"))
            return expected in shown and (not terminal or "supervisor: " in shown)  # the hints come last
        wait_until(lambda: seen() or proc.poll() is not None, 60, what="the reason (and hints) in up's view")
        assert proc.poll() is None, screen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(main)
        _reap([], workdir)


def _bind_plain(port: int) -> bool:
    """bind() without SO_REUSEADDR: fails while a connection of that port is in TIME_WAIT."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_demo_csms_ports_are_usable_right_after_it_stopped(tmp_path: Path):
    """A just-stopped demo CSMS leaves connections it closed first in TIME_WAIT on its ports:
    up's probe must not call them taken, and the CSMS must listen there again at once."""
    port, api = free_port(), free_port()
    args = ocpp_simu("csms", "--port", str(port), "--api-port", str(api))
    with managed(args, log=tmp_path / "csms-1.out") as csms:
        wait_until(lambda: (port_open(port) and port_open(api)) or not csms.alive(), 15, what="demo CSMS")
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/cps", timeout=5) as reply:
            assert json.loads(reply.read()) is not None  # may leave the API port in TIME_WAIT too

        async def connect_then_stop() -> None:
            from websockets.asyncio.client import connect
            async with connect(f"ws://127.0.0.1:{port}/CP1", subprotocols=["ocpp1.6"]) as ws:
                csms.signal(signal.SIGTERM)  # it closes the connection first
                await ws.wait_closed()
        asyncio.run(connect_then_stop())
        assert csms.wait(10) == 0
    assert not _bind_plain(port)  # TIME_WAIT there: the case to handle
    assert _port_free(port) and _port_free(api)
    with managed(args, log=tmp_path / "csms-2.out") as again:
        wait_until(lambda: (port_open(port) and port_open(api)) or not again.alive(), 15, what="CSMS again")
        assert again.alive(), again.output()
        assert not _port_free(port) and not _port_free(api)  # a listener is still seen


def _hint(output: str, label: str) -> str:
    """The command after `label` on up's hint line."""
    line = next(line for line in output.splitlines() if line.startswith(label))
    return line[len(label):].strip()


@pytest.mark.skipif(not shutil.which("mosquitto_pub") or not shutil.which("curl"),
                    reason="needs mosquitto_pub and curl (make test installs them)")
def test_up_says_what_to_do_next_shows_and_stops_its_launchers_whole_fleet(tmp_path: Path):
    workdir = tmp_path / "up"
    port = free_port()
    args = _up(workdir, 2, port=port)
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "2/2 Accepted" in up.output() or not up.alive(), 60, what="2/2 Accepted")
            started = _up_processes(up.pid, workdir)
            out = up.output()
            supervisor = _hint(out, "supervisor:")
            assert supervisor.endswith(f"ocpp-simu supervisor --broker mqtt://127.0.0.1:{port}")
            assert "--no-connect" in subprocess.run([*shlex.split(supervisor), "--help"], check=True, timeout=30,
                                                    capture_output=True, text=True).stdout  # a real program

            # the hints are real commands: a car plugs in and a card starts a charge on CP_0001
            drive = _hint(out, "drive:")
            assert f"mosquitto_pub -h 127.0.0.1 -p {port} -t cp_simu/cps/CP_0001/connectors/1/car" in drive
            subprocess.run(drive, shell=True, check=True, timeout=15)
            wait_until(lambda: "CP_0001 connector 1 Charging" in up.output(), 20, what="CP_0001 charging")
            curl = _hint(out, "CSMS API:")
            answer = subprocess.run(curl + " -s", shell=True, check=True, timeout=20, capture_output=True, text=True)
            assert json.loads(answer.stdout)["status"] == "ok"  # the CSMS's call reached CP_0001

            # someone else starts a charge point through up's launcher: up shows it, then stops it too
            csms_url = out.split("· CSMS ", 1)[1].split(" ", 1)[0]
            start = json.dumps({"type": "start", "charge_points": [{"id": "GUEST_1", "central_system": csms_url}]})
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "cp_simu/launcher/cmd",
                            "-m", start], check=True, timeout=15)
            wait_until(lambda: "GUEST_1 Accepted" in up.output(), 30, what="GUEST_1 in up's view")
            assert len(cp_processes(workdir)) == 3
            started = _up_processes(up.pid, workdir)

            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
            assert "stopping 3 charge point(s)" in up.output()
        _all_gone(started)  # GUEST_1 too
    finally:
        _reap(started, workdir)


def test_keep_fleet_leaves_it_running(tmp_path: Path):
    workdir = tmp_path / "up"
    args = _up(workdir, 1, "--keep-fleet")
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "1/1 Accepted" in up.output() or not up.alive(), 60, what="1/1 Accepted")
            started = _up_processes(up.pid, workdir)
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
            assert "--keep-fleet: leaving 1 charge point(s) running" in up.output()
        assert len(cp_processes(workdir)) == 1
        assert all(p.is_running() for p in started)
    finally:
        _reap(started, workdir)


def test_a_second_up_prints_the_csms_its_running_fleet_uses(tmp_path: Path):
    port = free_port()
    first_args, second_args = (_up(tmp_path / name, 2, port=port) for name in ("first", "second"))
    started: list[psutil.Process] = []
    try:
        with managed(first_args, log=tmp_path / "first.out") as first:
            wait_until(lambda: "2/2 Accepted" in first.output() or not first.alive(), 60, what="first fleet")
            started = _up_processes(first.pid, tmp_path / "first")
            csms_url = first.output().split("· CSMS ", 1)[1].split(" ", 1)[0]
            with managed(second_args, log=tmp_path / "second.out") as second:
                wait_until(lambda: "2/2 Accepted" in second.output() or not second.alive(), 30, what="second view")
                header = next(line for line in second.output().splitlines() if line.startswith("ocpp-simu up"))
                assert f"CSMS {csms_url} (2 running CPs)" in header, header
                assert not (tmp_path / "second" / "csms.log").exists()  # no CSMS of its own: none needed
                second.signal(signal.SIGINT)
                assert second.wait(30) == 0, second.output()
            assert len(cp_processes(tmp_path / "first")) == 2  # not its launcher: not its fleet
            first.signal(signal.SIGINT)
            assert first.wait(30) == 0, first.output()
    finally:
        _reap(started, tmp_path / "first")
        _reap([], tmp_path / "second")
