"""Logging set-up shared by every `ocpp-simu` command."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from cp_simu.redact import install_log_filter

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(verbose: int = 0, log_file: str | Path | None = None, *, quiet_libraries: bool = True,
                  max_bytes: int = 5_000_000, backups: int = 3) -> None:
    """-v: INFO, -vv: DEBUG (WARNING otherwise); --log-file adds a rotating file. Secrets are
    masked in every line (cp_simu.redact)."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes,
                                                             backupCount=backups))
    logging.basicConfig(level=level, format=FORMAT, handlers=[install_log_filter(h) for h in handlers],
                        force=True)
    if quiet_libraries and verbose < 3:
        for name in ("amqtt", "transitions", "websockets", "ocpp"):
            logging.getLogger(name).setLevel(max(level, logging.WARNING))
