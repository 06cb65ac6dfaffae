"""`ocpp-simu launcher` with no broker at a loopback URL starts the embedded one, detached."""

from __future__ import annotations

import contextlib
import re
import signal
from pathlib import Path

import psutil

from tests.conftest import Recorder
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until


def test_launcher_starts_the_embedded_broker_when_none_answers(tmp_path: Path):
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    workdir = tmp_path / "fleet"
    broker_pid = None
    try:
        with managed(ocpp_simu("launcher", "--broker", url, "--workdir", str(workdir)),
                     log=tmp_path / "launcher.out") as launcher:
            wait_until(lambda: "started the embedded one" in launcher.output() or not launcher.alive(), 30,
                       what="the launcher's note about the embedded broker")
            broker_pid = int(re.search(r"embedded one \(pid (\d+)", launcher.output()).group(1))
            assert port_open(port)
            watcher = Recorder(url, "cp_simu/launcher/status", "watcher")
            try:
                wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Alive", 10, what="Alive")
                launcher.signal(signal.SIGINT)
                assert launcher.wait(15) == 0
                wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Dead", 10, what="Dead")
            finally:
                watcher.close()
        assert psutil.pid_exists(broker_pid) and port_open(port), "the broker outlives the launcher"
    finally:
        if broker_pid:
            with contextlib.suppress(psutil.Error):
                psutil.Process(broker_pid).kill()


def test_no_embedded_broker_when_told_not_to(tmp_path: Path):
    port = free_port()
    args = ocpp_simu("launcher", "--broker", f"mqtt://127.0.0.1:{port}", "--workdir", str(tmp_path),
                     "--no-embedded-broker")
    with managed(args, log=tmp_path / "launcher.out") as launcher:
        wait_until(lambda: launcher.output() or not launcher.alive(), 10, what="the launcher's first output")
        assert not port_open(port)
