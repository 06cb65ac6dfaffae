"""ocpp.log: every OCPP frame the charge point sent or received, one JSON line each.

Written at the frame level so what is logged is exactly what crossed the wire. The file
rotates by size (`ocpp.log.1` … `ocpp.log.N`) so a long-running CP never fills the disk.
Listeners get each line as written (the MQTT `ocpp_log` topic). Secrets (AuthorizationKey,
passwords, credentials in firmware / diagnostics URLs) are masked before either sees a frame.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from cp_simu import redact

log = logging.getLogger(__name__)


def utc_iso(ts: float | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as OCPP timestamps are written."""
    moment = datetime.now(UTC) if ts is None else datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class MessageLog:
    def __init__(self, path: Path, max_bytes: int = 2_000_000, backups: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._file: TextIO | None = None
        self._size = 0
        self.listeners: list[Callable[[str], None]] = []

    def record(self, direction: str, frame: str) -> None:
        """direction: "out" (sent by the CP) or "in" (received)."""
        try:
            message: object = redact.ocpp_frame(frame)
        except ValueError:
            message = redact.text(frame)  # a malformed frame is logged as it came, minus secrets
        record = json.dumps({"time": utc_iso(), "direction": direction, "message": message},
                            separators=(",", ":"))
        for listener in self.listeners:
            listener(record)
        line = record + "\n"
        try:
            if self._file is None:
                self._open()
            elif self._size + len(line) > self.max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(line)
            self._file.flush()
            self._size += len(line)
        except OSError as exc:  # a full disk must not stop the charge point
            log.warning("cannot write %s: %s", self.path, exc)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._size = self._file.tell()

    def _rotate(self) -> None:
        self.close()
        for n in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()
