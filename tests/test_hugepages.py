"""The fork server's memory in huge pages (cp_simu.hugepages): which mappings, and a process
that collapsed its memory still runs and forks."""

from __future__ import annotations

import os

from cp_simu import hugepages

MB2 = hugepages.HUGE_PAGE
MAPS = f"""\
55d0c8a00000-55d0c8a01000 r--p 00000000 fd:00 1 /usr/bin/python3.11
{0x55d0c9000000 + 4096:x}-{0x55d0c9000000 + 3 * MB2 + 8192:x} rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
7f0000400000-7f0000800000 r--p 00000000 00:00 0
7f0000800000-7f0000c00000 rw-p 00000000 fd:00 2 /usr/lib/libpython.so
7f0001000000-7f0001100000 rw-p 00000000 00:00 0
7ffc00000000-7ffc00400000 rw-p 00000000 00:00 0 [stack]
"""


def test_only_whole_aligned_regions_of_anonymous_writable_memory_are_collapsed() -> None:
    assert list(hugepages.anonymous_regions(MAPS)) == [
        0x55d0c9000000 + MB2, 0x55d0c9000000 + 2 * MB2,  # the heap's whole 2 MB regions
        0x7f0000000000, 0x7f0000000000 + MB2,  # an anonymous mapping of 4 MB
    ]  # not: read-only, file-backed, smaller than 2 MB, the stack


def test_a_process_whose_memory_was_collapsed_still_runs_and_forks() -> None:
    data = [str(i) * 3 for i in range(200_000)]  # some heap worth collapsing
    collapsed = hugepages.collapse()
    assert collapsed >= 0 and collapsed % MB2 == 0
    pid = os.fork()
    if pid == 0:
        os._exit(0 if data[199_999] == "199999" * 3 else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert data[12] == "121212"
