"""The fork server's warm-up (`chargepoint.preload`) leaves nothing behind."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import tempfile
import threading
from pathlib import Path

import psutil

from chargepoint.preload import preload


def _open_fds() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor
            found.add(f"{fd}:{os.readlink(f'/proc/self/fd/{fd}')}")
    return found


def test_preload_leaves_no_thread_file_or_socket_and_can_run_twice(tmp_path: Path, monkeypatch) -> None:
    gc.collect()  # what earlier tests left closes now, not during preload()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # not the /tmp other fork servers use too
    tmp = Path(tempfile.gettempdir())
    before_tmp = set(tmp.glob("ocpp-simu-preload-*"))
    threads = threading.active_count()
    fds = _open_fds()
    sockets = len(psutil.Process().net_connections(kind="all"))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    preload(iterations=2)
    preload(iterations=2)

    assert threading.active_count() == threads
    assert _open_fds() <= fds  # nothing new (a garbage-collected leftover may have closed)
    assert len(psutil.Process().net_connections(kind="all")) <= sockets
    assert set(tmp.glob("ocpp-simu-preload-*")) == before_tmp
    assert root.handlers == handlers and root.level == level
