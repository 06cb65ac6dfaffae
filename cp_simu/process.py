"""Process identity markers: a PID is only trusted together with its start time.

A charge point writes `process.json` (pid + kernel start time) into its instance directory
at start-up. Whoever later wants to signal that PID (a restarted launcher adopting CPs from
retained statuses) checks that the live process with that PID started at that same moment,
so a PID reused by some other program is never signalled.

A packed process (several charge points in one process) writes each member's marker with
`packed: true` while that member runs and removes it when the member ends: such a PID is
never signalled for one charge point; the host is asked over its control socket
(`host_control_address`) instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

MARKER_FILE = "process.json"


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":  # a zombie is gone for our purposes
        return None
    return int(fields[19])


class Marker(NamedTuple):
    pid: int
    ticks: int
    packed: bool = False  # the process hosts several charge points


def write_marker(directory: Path, pid: int | None = None, *, packed: bool = False) -> None:
    from cp_simu.config import atomic_write

    pid = pid or os.getpid()
    data: dict[str, object] = {"pid": pid, "start_ticks": start_ticks(pid)}
    if packed:
        data["packed"] = True
    atomic_write(directory / MARKER_FILE, json.dumps(data), durable=False)  # meaningless after a reboot


def read_marker(directory: Path) -> Marker | None:
    try:
        data = json.loads((directory / MARKER_FILE).read_text())
        return Marker(int(data["pid"]), int(data["start_ticks"]), data.get("packed") is True)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def remove_marker(directory: Path, pid: int) -> None:
    """A packed member ended: its marker goes, unless a newer process wrote it meanwhile."""
    marker = read_marker(directory)
    if marker is not None and marker.pid == pid:
        (directory / MARKER_FILE).unlink(missing_ok=True)


def host_control_address(pid: int, ticks: int) -> str:
    """The control socket of the packed process with this PID and start time (a Linux abstract
    Unix socket: no file, gone with the process, and a reused PID never answers to it)."""
    return f"\0ocpp-simu-host-{pid}-{ticks}"


def verified_pid(directory: Path, claimed_pid: int | None = None) -> int | None:
    """The PID of the live process that wrote the marker in `directory`, else None.

    `claimed_pid` (e.g. from a retained MQTT status) must match the marker too.
    """
    marker = read_marker(directory)
    if marker is None:
        return None
    pid, ticks, _packed = marker
    if claimed_pid is not None and claimed_pid != pid:
        return None
    return pid if start_ticks(pid) == ticks else None
