"""The run file: what the launcher saw of its fleet's calls, one JSON line per interval.

The first line says when and where the run began; each later one is the merged call
statistics (cumulative since the run began, `cp_simu.models.StatsReport`) with the
sessions running and the power delivered at that moment, written only when something
changed. `ocpp-simu report` reads it back.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cp_simu.latency import BOUNDS_MS, SCHEME
from cp_simu.models import PayloadError, StatsReport

RUNS_DIR = "runs"
START = "start"
STATS = "stats"


def new_path(workdir: Path, now: float | None = None) -> Path:
    """`<workdir>/runs/run-<UTC time>.jsonl`, a new name for every run."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    path = workdir / RUNS_DIR / f"run-{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = workdir / RUNS_DIR / f"run-{stamp}-{n}.jsonl"
    return path


class RunFileWriter:
    def __init__(self, path: Path, **about: Any) -> None:
        """`about`: what the first line says of the run (host, workdir, version…)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._write({"type": START, "time": round(time.time(), 3), "scheme": SCHEME,
                     "bounds_ms": list(BOUNDS_MS), **about})

    def append(self, report: StatsReport) -> None:
        self._write({"type": STATS, **report.to_dict()})

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


@dataclass
class Run:
    """A run file read back: its first line and every statistics line, in order."""

    about: dict[str, Any] = field(default_factory=dict)
    reports: list[StatsReport] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # lines that could not be read, and why

    @classmethod
    def load(cls, path: Path) -> Run:
        """Unreadable lines (a run cut short mid-write) are skipped and listed in `skipped`."""
        run = cls()
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise PayloadError("not a JSON object")
                    if record.get("type") == START:
                        run.about = record
                    elif record.get("type") == STATS:
                        run.reports.append(StatsReport.from_dict(record))
                    else:
                        raise PayloadError(f"unknown line type {str(record.get('type'))[:40]!r}")
                except (json.JSONDecodeError, PayloadError) as exc:
                    run.skipped.append(f"line {number}: {exc}")
        return run
