"""Kernel same-page merging (KSM) for forked charge points.

A charge point forked from the fork server copies every shared page it writes to, and in
CPython 3.11 merely using an object writes its reference count. Most of those copies end up
identical to the fork server's page again (the count went up and back down), so the kernel's
KSM daemon can merge them back into one shared page. A process opts in with
`prctl(PR_SET_MEMORY_MERGE)` (Linux ≥ 6.4, inherited by its forks); the host's administrator
decides whether KSM runs at all (`/sys/kernel/mm/ksm/run`): off, opting in costs nothing.
A launcher run with `--ksm` switches it on for its lifetime (`merging`), which takes root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cp_simu import kernel

PR_SET_MEMORY_MERGE = 67
KSM_DIR = Path("/sys/kernel/mm/ksm")


def opt_in() -> bool:
    """Make this process's memory (and its future forks') mergeable; False where the kernel
    cannot (older than 6.4, not Linux)."""
    return kernel.prctl(PR_SET_MEMORY_MERGE, 1)


def running() -> bool:
    """Whether the host's KSM daemon merges pages (`/sys/kernel/mm/ksm/run` is 1)."""
    with contextlib.suppress(OSError):
        return (KSM_DIR / "run").read_text().strip() == "1"
    return False


class KsmError(Exception):
    """KSM cannot be switched on here (not root, no KSM in this kernel)."""


@contextlib.contextmanager
def merging(directory: Path = KSM_DIR) -> Iterator[bool]:
    """Have the KSM daemon merge pages while the block runs, then switch it off again (`run` 0:
    pages merged meanwhile stay merged, where 2, what an administrator may have left, would
    unmerge those of the charge points that outlive the launcher). Yields whether this
    switched it on (False: it already ran, and is left running)."""
    run = directory / "run"
    try:
        before = run.read_text().strip()
        if before != "1":
            run.write_text("1")
    except OSError as exc:
        raise KsmError(f"cannot switch on kernel same-page merging ({run}: {exc.strerror or exc}); "
                       "it takes root and a kernel with KSM") from None
    try:
        yield before != "1"
    finally:
        if before != "1":
            with contextlib.suppress(OSError):
                run.write_text("0")
