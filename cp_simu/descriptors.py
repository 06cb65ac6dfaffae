"""Open-file limit of the processes that hold thousands of sockets (a packed process, the
demo CSMS): most systems start a process with a soft limit of 1,024 descriptors and a far
higher hard one, and one connection takes one."""

from __future__ import annotations

import contextlib
import resource


def raise_descriptor_limit() -> int:
    """Lift the soft limit on open files to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft
