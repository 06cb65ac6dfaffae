"""The launcher's side of packed processes (`--cps-per-process K`).

A start or restart of N charge points with K > 1 spawns ceil(N / K) processes, each running
up to K of them (`ocpp-simu chargepoint --packed --workdir A --workdir B ...`). Such a
process is never signalled to kill one of its charge points: the launcher asks it over its
control socket, and it drops that member's connections (its will fires) while the others go
on. The socket is named after the process's PID and start time, so a reused PID never answers.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from cp_simu.process import host_control_address, start_ticks

T = TypeVar("T")

KILL_ANSWER_TIMEOUT = 10.0  # s: the host waits up to 5 s for a killed member's tasks
CONNECT_RETRY = 0.02  # s between two attempts to reach a packed process not listening yet
HOSTS_DIR = "hosts"  # <workdir>/hosts/<first member>.log: a packed process's own output


class HostUnreachable(RuntimeError):
    """The packed process did not answer on its control socket."""


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in groups of at most `size`, in order."""
    return [list(items[i:i + size]) for i in range(0, len(items), max(1, size))]


def host_log(workdir: Path, first_id: str) -> Path:
    path = workdir / HOSTS_DIR / f"{first_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def request(pid: int, ticks: int, message: dict[str, object], timeout: float) -> dict[str, object]:
    """One request to the packed process (pid, start ticks) and its answer. A process just
    spawned may not listen yet: connecting is retried while it lives, within `timeout`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            _connect(sock, pid, ticks, time.monotonic() + timeout)
            sock.sendall((json.dumps(message) + "\n").encode())
            answer = b""
            while not answer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        reply = json.loads(answer)
    except (OSError, ValueError) as exc:
        raise HostUnreachable(f"packed process {pid} did not answer: {exc}") from None
    if not isinstance(reply, dict) or "error" in reply:
        raise HostUnreachable(f"packed process {pid} refused the request: {reply}")
    return reply


def kill_members(pid: int, ticks: int, ids: list[str], timeout: float) -> list[str]:
    """Ask the packed process to kill these members; returns those it had (and killed)."""
    reply = request(pid, ticks, {"kill": ids}, timeout)
    killed = reply.get("killed")
    return [i for i in killed if isinstance(i, str)] if isinstance(killed, list) else []


def _connect(sock: socket.socket, pid: int, ticks: int, deadline: float) -> None:
    address = host_control_address(pid, ticks)
    while True:
        try:
            sock.connect(address)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() >= deadline or start_ticks(pid) != ticks:
                raise
            time.sleep(CONNECT_RETRY)
