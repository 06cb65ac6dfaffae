"""Linux process controls that Python's `os` module lacks, through the C library."""

from __future__ import annotations

import contextlib
import ctypes


def prctl(option: int, value: int) -> bool:
    """`prctl(option, value)` for this process; False where the kernel refuses it or this is
    not Linux (no `prctl` in the C library)."""
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    return False
