"""Real processes for tests: free ports, start, wait, and always stop by PID."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

# Every wait of the suite lasts this many times what an idle machine needs
# (OCPP_SIMU_TEST_PATIENCE): the suite runs in parallel workers on two cores next to real
# brokers, CSMSs and charge points. A wait only runs out when the test is failing anyway.
PATIENCE = float(os.environ.get("OCPP_SIMU_TEST_PATIENCE", "3"))

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


# Test servers listen on ports below the kernel's ephemeral range (32768-60999), where no
# outgoing connection takes a port between free_port() and the server's bind, each xdist worker
# in a slice of its own, starting at a random point (other test runs may share the machine).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 8
_SLICE = range(20000 + 1500 * _WORKER, 20000 + 1500 * (_WORKER + 1))
_PORTS = itertools.cycle(random.sample(_SLICE, len(_SLICE)))


def free_port() -> int:
    """A loopback TCP port that was free a moment ago, and that no other test of this run gets."""
    for port in _PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("unreachable: the port cycle is endless")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05,
               what: str = "condition") -> object:
    """Poll `predicate` until it returns something truthy; fail the test with `what` otherwise.
    `timeout` is what an idle machine needs; the wait lasts PATIENCE times longer."""
    timeout *= PATIENCE
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], object], timeout: float = 10.0,
                           what: str = "condition") -> None:
    """wait_until for code on an asyncio loop: the loop runs while it waits."""
    deadline = time.monotonic() + timeout * PATIENCE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * PATIENCE:.1f}s waiting for {what}")
        await asyncio.sleep(0.02)


class ManagedProcess:
    """A child process that a test owns: killed (with its whole session) when the test ends."""

    def __init__(self, args: Sequence[str], *, log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.args = list(args)
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc = subprocess.Popen(
            self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=cwd, env=full_env,
            start_new_session=True,
        )
        self.pid = self.proc.pid

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout * PATIENCE)

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM, then SIGKILL the process group (the process is its session leader)."""
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._log.close()


@contextlib.contextmanager
def managed(args: Sequence[str], *, log: Path, **kwargs) -> Iterator[ManagedProcess]:
    p = ManagedProcess(args, log=log, **kwargs)
    try:
        yield p
    finally:
        p.stop()


def ocpp_simu(*args: str) -> list[str]:
    """Command line for the `ocpp-simu` CLI run with the test's interpreter."""
    return [PYTHON, "-m", "cp_simu", *args]
