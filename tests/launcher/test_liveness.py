"""The launcher's liveness pass over its charge points (`CpProcess.alive`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cp_simu.process import remove_marker, start_ticks, write_marker
from launcher.daemon import CpProcess


def test_members_of_one_packed_process_are_checked_with_one_read_of_its_start_time(tmp_path: Path) -> None:
    pid = os.getpid()
    members = []
    for name in ("P1", "P2", "P3"):
        (tmp_path / name).mkdir()
        write_marker(tmp_path / name, packed=True)
        members.append(CpProcess(pid, start_ticks(pid), directory=tmp_path / name))
    remove_marker(tmp_path / "P2", pid)  # P2 ended inside its host, which lives on
    seen: dict[int, int | None] = {}
    assert [m.alive(seen) for m in members] == [True, False, True]
    assert seen == {pid: start_ticks(pid)}
    assert [m.alive() for m in members] == [True, False, True]  # the same without a pass


def test_an_ended_process_is_gone_in_a_pass_too() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ticks = start_ticks(child.pid)
    child.wait()
    seen: dict[int, int | None] = {}
    assert not CpProcess(child.pid, ticks).alive(seen)
    assert seen == {child.pid: None}


def test_a_member_whose_marker_is_replaced_or_removed_is_gone_at_the_next_pass(tmp_path: Path) -> None:
    """The pass re-reads a member's marker only when the file changed; a change is never missed."""
    pid = os.getpid()
    write_marker(tmp_path, packed=True)
    member = CpProcess(pid, start_ticks(pid), directory=tmp_path)
    assert member.alive({}) and member.alive({})
    write_marker(tmp_path, pid, packed=False)  # another process's marker (here: not packed) took its place
    assert not member.alive({})
    write_marker(tmp_path, packed=True)
    assert member.alive({})
    remove_marker(tmp_path, pid)
    assert not member.alive({})
