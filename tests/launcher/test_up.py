"""`ocpp-simu up`: a whole demo fleet from nothing, and nothing left after Ctrl+C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import psutil
import pytest

from launcher.up import _port_free
from tests.launcher.conftest import cp_processes, kill_cps
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until


def test_up_boots_three_cps_and_ctrl_c_leaves_nothing(tmp_path: Path):
    workdir = tmp_path / "up"
    port = free_port()  # nothing listens there: `up` starts the embedded broker
    args = ocpp_simu("up", "--cps", "3", "--broker", f"mqtt://127.0.0.1:{port}", "--workdir", str(workdir))
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "3/3 Accepted" in up.output() or not up.alive(), 60, what="3/3 Accepted")
            assert up.alive(), up.output()
            started = psutil.Process(up.pid).children(recursive=True) + cp_processes(workdir)
            names = " ".join(" ".join(p.cmdline()) for p in started)
            assert all(part in names for part in ("broker", "csms", "launcher", "launcher.spawner"))
            assert len(cp_processes(workdir)) == 3
            boots = [json.loads(line) for line in (workdir / "csms.jsonl").read_text().splitlines()]
            assert {b["cp_id"] for b in boots if b.get("action") == "BootNotification"} == \
                {"CP_0001", "CP_0002", "CP_0003"}

            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started),
                   10, what="every process `up` started to end")
        assert not cp_processes(workdir)
        assert "stopped" in (tmp_path / "up.out").read_text()
        assert "ERROR" not in (workdir / "broker.log").read_text()  # up's broker probe speaks MQTT
    finally:
        for proc in started:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        kill_cps(workdir)


@pytest.mark.parametrize("moment", ["header", "processes"])
def test_ctrl_c_while_the_fleet_boots_leaves_nothing(tmp_path: Path, moment: str):
    """Interrupted around the start command, before the CPs' first status."""
    workdir = tmp_path / "up"
    port = free_port()
    args = ocpp_simu("up", "--cps", "5", "--broker", f"mqtt://127.0.0.1:{port}", "--workdir", str(workdir))
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "ocpp-simu up ·" in up.output() or not up.alive(), 30, what="up's header")
            if moment == "processes":
                wait_until(lambda: len(cp_processes(workdir)) == 5 or not up.alive(), 10, what="5 CP processes")
            started = psutil.Process(up.pid).children(recursive=True) + cp_processes(workdir)
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started),
                   10, what="every process `up` started to end")
        assert not cp_processes(workdir)
    finally:
        for proc in started:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        kill_cps(workdir)


def test_closed_terminal_stops_up_and_leaves_nothing(tmp_path: Path):
    """SIGHUP with a dead stdout (closed window, `| tee` killed): the clean-up still happens."""
    workdir = tmp_path / "up"
    port = free_port()
    args = ocpp_simu("up", "--cps", "2", "--broker", f"mqtt://127.0.0.1:{port}", "--workdir", str(workdir))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    started: list[psutil.Process] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if b"2/2 Accepted" in line:
                break
        started = psutil.Process(proc.pid).children(recursive=True) + cp_processes(workdir)
        assert len(cp_processes(workdir)) == 2
        proc.stdout.close()  # the reader is gone: every later write by `up` fails
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(30) == 0
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started),
                   10, what="every process `up` started to end")
        assert not cp_processes(workdir)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for p in started:
            with contextlib.suppress(psutil.Error):
                p.kill()
        kill_cps(workdir)


def test_view_says_why_a_charge_point_is_disconnected(tmp_path: Path):
    workdir = tmp_path / "up"
    csms = f"ws://127.0.0.1:{free_port()}/"  # nothing listens there
    args = ocpp_simu("up", "--cps", "1", "--csms", csms, "--broker", f"mqtt://127.0.0.1:{free_port()}",
                     "--workdir", str(workdir))
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "CP_0001 Disconnected (connection refused)" in up.output() or not up.alive(), 60,
                       what="the reason in up's view")
            assert up.alive(), up.output()
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
    finally:
        kill_cps(workdir)


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
