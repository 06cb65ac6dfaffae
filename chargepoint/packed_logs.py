"""Log files of charge points: one `chargepoint.log` each, also when many share a process.

Module loggers are process-wide. In a packed process the charge point a record belongs to
is the one whose `contextvars` context it is emitted in: the host runs each charge point in
a context carrying its `ChargePointLog` (asyncio copies the context into every task, timer
and callback made from it), and `RouteToChargePoint`, the root handler, hands the record to
that charge point's file. Records from no charge point, and warnings of all, also go to the
host's stderr with the charge point's id.
"""

from __future__ import annotations

import logging
import logging.handlers
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from cp_simu.logs import FORMAT
from cp_simu.redact import install_log_filter

LOG_FILE = "chargepoint.log"
MAX_BYTES = 1_000_000
BACKUPS = 2


class ClosingRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Opens the file only to write a record: a thousand charge points in one process would
    otherwise hold a thousand descriptors for files written a few times an hour."""

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # type: ignore[assignment]


def log_file_handler(directory: Path, *, keep_open: bool = True) -> logging.Handler:
    """DIR/chargepoint.log, rotating, secrets masked."""
    cls = logging.handlers.RotatingFileHandler if keep_open else ClosingRotatingFileHandler
    handler = cls(directory / LOG_FILE, maxBytes=MAX_BYTES, backupCount=BACKUPS, delay=not keep_open)
    handler.setFormatter(logging.Formatter(FORMAT))
    return install_log_filter(handler)


@dataclass(frozen=True)
class ChargePointLog:
    cp_id: str
    handler: logging.Handler


CURRENT: ContextVar[ChargePointLog | None] = ContextVar("charge_point_log", default=None)


class RouteToChargePoint(logging.Handler):
    """The root handler of a packed process."""

    def __init__(self, host: logging.Handler) -> None:
        super().__init__()
        self.host = host

    def emit(self, record: logging.LogRecord) -> None:
        target = CURRENT.get()
        if target is not None:
            target.handler.handle(record)
        if target is None or record.levelno >= self.host.level:
            record.cp_id = target.cp_id if target is not None else "-"
            self.host.handle(record)


def route_logging(verbose: int) -> None:
    """The root logger of a packed process: each record to its charge point's file; the
    host's stderr gets WARNING (more with -v) of every charge point, tagged with its id."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter(FORMAT.replace("%(name)s", "[%(cp_id)s] %(name)s")))
    stderr.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    root.addHandler(RouteToChargePoint(install_log_filter(stderr)))
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    quiet_libraries(verbose)


def quiet_libraries(verbose: int) -> None:
    for name in ("websockets", "ocpp", "paho"):
        logging.getLogger(name).setLevel(logging.WARNING if verbose < 3 else logging.DEBUG)
