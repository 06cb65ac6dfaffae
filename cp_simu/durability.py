"""When a charge point's writes reach the disk: at each write (the default), or every second.

Its files (offline queue, state, configuration) must survive its kill, which any write does
(the kernel keeps it), and a machine crash, which only an fsync does. An fsync blocks its
caller for milliseconds, tens of them on a busy disk: harmless in a process running one
charge point, but a packed process runs hundreds on one event loop, and every fsync would
stall them all. So a packed process defers them (`defer_syncs`): each write still goes to
the kernel at once (a kill loses nothing), and a background thread syncs the file systems
at most every `interval` seconds after a write asked for it (a machine crash loses at most
that much).
"""

from __future__ import annotations

import os
import threading

_pending: threading.Event | None = None  # set by defer_syncs: a write waits to be synced


def sync(fd: int) -> None:
    """Make what was written to `fd` durable: now, or soon in the background."""
    if _pending is None:
        os.fsync(fd)
    else:
        _pending.set()


def defer_syncs(interval: float = 1.0) -> None:
    """From now on this process syncs in the background (call once, before any writes)."""
    global _pending
    if _pending is not None:
        return
    pending = _pending = threading.Event()

    def syncer() -> None:
        while pending.wait():
            pending.clear()
            os.sync()
            threading.Event().wait(interval)

    threading.Thread(target=syncer, name="deferred-sync", daemon=True).start()
