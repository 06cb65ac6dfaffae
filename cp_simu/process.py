"""Process identity markers: a PID is only trusted together with its start time.

A charge point writes `process.json` (pid + kernel start time) into its instance directory
at start-up. Whoever later wants to signal that PID (a restarted launcher adopting CPs from
retained statuses) checks that the live process with that PID started at that same moment,
so a PID reused by some other program is never signalled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def write_marker(directory: Path, pid: int | None = None) -> None:
    from cp_simu.config import atomic_write

    pid = pid or os.getpid()
    atomic_write(directory / MARKER_FILE, json.dumps({"pid": pid, "start_ticks": start_ticks(pid)}))


def read_marker(directory: Path) -> tuple[int, int] | None:
    try:
        data = json.loads((directory / MARKER_FILE).read_text())
        return int(data["pid"]), int(data["start_ticks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def verified_pid(directory: Path, claimed_pid: int | None = None) -> int | None:
    """The PID of the live process that wrote the marker in `directory`, else None.

    `claimed_pid` (e.g. from a retained MQTT status) must match the marker too.
    """
    marker = read_marker(directory)
    if marker is None:
        return None
    pid, ticks = marker
    if claimed_pid is not None and claimed_pid != pid:
        return None
    return pid if start_ticks(pid) == ticks else None
