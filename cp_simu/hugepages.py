"""Huge pages for a fork server's memory: each fork then copies a few page-table entries
instead of thousands.

`fork()` copies the page table of every private mapping, one entry per 4 kB page: for a
fork server holding 35 MB of Python heap that is some 9,000 entries, about 3 ms of CPU per
charge point on a virtual machine (docs/performance.md). Collapsing that memory into
transparent huge pages (`madvise(MADV_COLLAPSE)`, Linux ≥ 6.1) leaves one entry per 2 MB.
A child that writes to a shared huge page still copies only the 4 kB page it writes (the
kernel splits the child's mapping first), so what each child copies does not change.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

MADV_COLLAPSE = 25
HUGE_PAGE = 2 << 20


def anonymous_regions(maps: str) -> Iterator[int]:
    """The start of every 2 MB-aligned region inside a private anonymous writable mapping (the
    heap and the interpreter's arenas) of a `/proc/<pid>/maps` text; file mappings and stacks
    are left out."""
    for line in maps.splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[1] != "rw-p" or (len(fields) > 5 and fields[5] != "[heap]"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        start = -(-start // HUGE_PAGE) * HUGE_PAGE
        end = end // HUGE_PAGE * HUGE_PAGE
        yield from range(start, end, HUGE_PAGE)


def collapse() -> int:
    """Collapse this process's anonymous memory into huge pages; the bytes collapsed (0 where
    the kernel cannot or the host forbids transparent huge pages)."""
    with contextlib.suppress(OSError, AttributeError):
        madvise = ctypes.CDLL(None, use_errno=True).madvise
        madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        with open("/proc/self/maps") as f:
            maps = f.read()
        return sum(HUGE_PAGE for start in anonymous_regions(maps) if madvise(start, HUGE_PAGE, MADV_COLLAPSE) == 0)
    return 0
