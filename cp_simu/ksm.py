"""Kernel same-page merging (KSM) for forked charge points.

A charge point forked from the fork server copies every shared page it writes to, and in
CPython 3.11 merely using an object writes its reference count. Most of those copies end up
identical to the fork server's page again (the count went up and back down), so the kernel's
KSM daemon can merge them back into one shared page. A process opts in with
`prctl(PR_SET_MEMORY_MERGE)` (Linux ≥ 6.4, inherited by its forks); the host's administrator
decides whether KSM runs at all (`/sys/kernel/mm/ksm/run`): off, opting in costs nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
from pathlib import Path

PR_SET_MEMORY_MERGE = 67
KSM_DIR = Path("/sys/kernel/mm/ksm")


def opt_in() -> bool:
    """Make this process's memory (and its future forks') mergeable; False where the kernel
    cannot (older than 6.4, not Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0
    return False


def running() -> bool:
    """Whether the host's KSM daemon merges pages (`/sys/kernel/mm/ksm/run` is 1)."""
    with contextlib.suppress(OSError):
        return (KSM_DIR / "run").read_text().strip() == "1"
    return False
