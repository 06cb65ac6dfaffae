"""The real launcher as a subprocess, and a reaper for the charge points it leaves running.

Charge points are detached in their own sessions, so a test's process-group cleanup never
reaches them: `fleet_dir` kills, at the end of every test (also on failure), each process
whose working directory is one of that test's instance directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from cp_simu import ksm
from cp_simu.topics import LauncherTopics, Topics
from tests.conftest import MOSQUITTO, Broker, Recorder, start_amqtt, start_mosquitto
from tests.procs import ManagedProcess, managed, ocpp_simu, wait_until

TOPICS = Topics()
# A first start waits for the fork server's warm-up too: seconds, many more on a loaded machine.
BOOT_WAIT = 45.0


def cp_processes(workdir: Path) -> list[psutil.Process]:
    """Live processes running inside `workdir/chargepoints` (each CP's cwd is its directory)."""
    root = str((workdir / "chargepoints").resolve()) + os.sep
    found = []
    for proc in psutil.process_iter(["cwd", "status"]):
        cwd = proc.info.get("cwd")
        if cwd and (cwd + os.sep).startswith(root) and proc.info.get("status") != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def kill_cps(workdir: Path) -> None:
    for proc in cp_processes(workdir):
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto when installed; `parametrize("broker", ["amqtt", ...], indirect=True)` picks one."""
    kind = getattr(request, "param", "mosquitto" if MOSQUITTO else "amqtt")
    yield from (start_amqtt if kind == "amqtt" else start_mosquitto)(tmp_path)


@pytest.fixture
def host_ksm() -> Iterator[None]:
    """The host's KSM switch for one test at a time, across test workers (a file lock: each
    such test checks that `--ksm` switches it on and off again). Skips where it cannot be
    switched (not root, no KSM) or runs already; set back to what it was afterwards."""
    run = ksm.KSM_DIR / "run"
    if not os.access(run, os.W_OK):
        pytest.skip("KSM cannot be switched here (not root, or no KSM)")
    with open(Path(tempfile.gettempdir()) / "ocpp-simu-tests-host-ksm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = run.read_text()
        if ksm.running():
            pytest.skip("KSM already runs on this host: a launcher's --ksm would change nothing")
        try:
            yield
        finally:
            run.write_text(before)


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Iterator[Path]:
    workdir = tmp_path / "simu"
    workdir.mkdir()
    yield workdir
    kill_cps(workdir)


def definition(cp_id: str, csms_url: str, **extra: object) -> dict:
    return {"id": cp_id, "central_system": csms_url, **extra}


@dataclass
class LauncherRun:
    """One `ocpp-simu launcher` process (named `name`, "" = unnamed) and a test client on the same broker."""

    proc: ManagedProcess
    workdir: Path
    rec: Recorder
    name: str = ""

    @property
    def own(self) -> LauncherTopics:
        return TOPICS.launcher(self.name)

    def send(self, payload: dict | str | bytes) -> None:
        self.rec.publish(self.own.cmd, json.dumps(payload) if isinstance(payload, dict) else payload)

    def start(self, *definitions: dict) -> None:
        self.send({"type": "start", "charge_points": list(definitions)})

    def kill(self, *ids: str) -> None:
        self.send({"type": "kill", "charge_points": [{"id": i} for i in ids]})

    def errors(self) -> list[dict]:
        return [json.loads(m.payload) for m in self.rec.on_topic(self.own.error)]

    def wait_error(self, fragment: str, timeout: float = 5.0) -> dict:
        return wait_until(lambda: next((e for e in self.errors() if fragment in e["error"]), None),
                          timeout, what=f"a launcher error containing {fragment!r}")  # type: ignore[return-value]

    def wait_status(self, cp_id: str, status: str, timeout: float = 15.0, *, pid: int | None = None,
                    not_pids: tuple[int, ...] = ()) -> dict:
        """A status message (retained history included) of that process (`pid`) or a new one."""
        return self.rec.wait_json(
            TOPICS.cp_status(cp_id), lambda d: d.get("status") == status and d.get("pid") not in not_pids
            and (pid is None or d.get("pid") == pid), timeout)

    def status(self, cp_id: str) -> dict | None:
        return self.rec.last_json(TOPICS.cp_status(cp_id))

    def info(self) -> dict | None:
        return self.rec.last_json(self.own.info)

    def wait_running(self, count: int, timeout: float = 10.0) -> None:
        wait_until(lambda: (self.info() or {}).get("running") == count
                   and self.info().get("pid") == self.proc.pid,  # type: ignore[union-attr]
                   timeout, what=f"launcher/info running == {count}")

    def instance(self, cp_id: str) -> Path:
        return self.workdir / "chargepoints" / cp_id

    def wait_ready(self) -> None:
        """Until the launcher announced itself (its info) and is Alive."""
        wait_until(lambda: (self.info() or {}).get("pid") == self.proc.pid or not self.proc.alive(), 20,
                   what="the launcher's info")
        assert self.proc.alive(), self.proc.output()
        wait_until(lambda: self.rec.last(self.own.status) == b"Alive", 5, what="launcher Alive")


LauncherFactory = Callable[..., LauncherRun]


@pytest.fixture
def launcher_factory(broker, recorder_factory, fleet_dir: Path, tmp_path: Path) -> Iterator[LauncherFactory]:
    """Start a launcher on `broker` and `fleet_dir`; waits until it is Alive and announced itself."""
    stack = contextlib.ExitStack()
    rec = recorder_factory(broker.url, "cp_simu/#")

    def start(*extra: str, workdir: Path = fleet_dir, wait: bool = True, name: str = "") -> LauncherRun:
        """`name`: run the named launcher (--name); a `workdir` other than fleet_dir has its
        charge points reaped too."""
        log = tmp_path / f"launcher-{len(list(tmp_path.glob('launcher-*.log')))}.log"
        args = ocpp_simu("-v", "launcher", "--broker", broker.url, "--workdir", str(workdir),
                         *(("--name", name) if name else ()), *extra)
        if workdir != fleet_dir:
            stack.callback(kill_cps, workdir)  # after the launcher has stopped (LIFO)
        proc = stack.enter_context(managed(args, log=log, cwd=tmp_path))
        run = LauncherRun(proc, workdir, rec, name)
        if wait:
            run.wait_ready()
        return run

    with stack:
        yield start



@dataclass
class SilentCsms:
    url: str
    accepted: list[socket.socket]


@pytest.fixture
def silent_csms() -> Iterator[SilentCsms]:
    """A CSMS that accepts TCP connections and never answers (nor closes): the handshakes a
    boot storm sends it stay open until the charge points give up on them."""
    server = socket.create_server(("127.0.0.1", 0), backlog=128)
    server.settimeout(0.2)
    csms = SilentCsms(f"ws://127.0.0.1:{server.getsockname()[1]}/", [])
    stop = threading.Event()

    def accept_and_stay_silent() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                csms.accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept_and_stay_silent, daemon=True)
    thread.start()
    try:
        yield csms
    finally:
        stop.set()
        thread.join(5)
        for sock in [*csms.accepted, server]:
            sock.close()
