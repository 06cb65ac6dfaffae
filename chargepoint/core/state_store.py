"""state.json: what a charge point must remember across restarts (meter registers,
availability, running transactions, authorization cache), written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cp_simu.config import atomic_write

log = logging.getLogger(__name__)


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        """The saved state; a missing file is a fresh CP, a corrupt one is set aside."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("unreadable %s (%s): starting from a fresh state", self.path, exc)
            self.path.replace(self.path.with_suffix(".corrupt"))
            return {}
        return data if isinstance(data, dict) else {}

    def save(self, state: dict[str, Any], *, durable: bool = True) -> None:
        """`durable=False`: not flushed to disk (see `atomic_write`)."""
        atomic_write(self.path, json.dumps(state, separators=(",", ":")), durable=durable)
