"""A loaded scenario: its steps as the file gives them, each with its line, and the rules that
turn `cp` selectors and `start` templates into charge point ids."""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cp_simu.models import AutoSettings

ACTIONS = ("start", "kill", "plug", "unplug", "tag", "fault", "network", "auto", "call", "http", "csms", "wait")
EXPECTATIONS = ("expect_status", "expect_reply", "expect_count", "expect_latency")
STEP_KINDS = ACTIONS + EXPECTATIONS


def auto_settings(args: dict[str, Any], seed: int | None = None) -> AutoSettings:
    """The settings of an `auto` step (its `cp` aside), the run's `seed` unless it has one;
    a PayloadError as the `auto` command would be refused."""
    settings = AutoSettings.from_dict({k: v for k, v in args.items() if k != "cp"})
    return settings.with_seed(seed) if settings.seed is None and seed is not None else settings


def start_ids(args: dict[str, Any], scale: float = 1.0) -> list[str]:
    """The ids a `start` step names: its `ids`, or `pattern` numbered from `first` (default 1)
    `count` times; `scale` multiplies the count (at least one)."""
    if "ids" in args:
        return list(args["ids"])
    count = max(1, round(args["count"] * scale))
    first = args.get("first", 1)
    return [args["pattern"].format(n=n) for n in range(first, first + count)]


@dataclass(frozen=True)
class Step:
    kind: str
    args: Any
    line: int
    name: str = ""

    @property
    def is_expectation(self) -> bool:
        return self.kind in EXPECTATIONS

    def cps(self, started: list[str]) -> list[str]:
        """The charge points `cp` selects among `started` (ids, in start order): an id, a glob
        (`RAMP_*`), or a list of them; an id absent from `started` selects nothing."""
        wanted = self.args.get("cp") if isinstance(self.args, dict) else None
        if wanted is None:
            return list(started)
        patterns = [wanted] if isinstance(wanted, str) else list(wanted)
        return [cp for cp in started if any(fnmatch.fnmatchcase(cp, p) for p in patterns)]

    def title(self) -> str:
        """One line saying what the step does, for the progress and the JUnit report."""
        if self.name:
            return self.name
        if not isinstance(self.args, dict):
            return f"{self.kind} {self.args}"
        shown = [f"{k}={_short(v)}" for k, v in self.args.items() if k not in ("payload", "car", "definition", "body")]
        return f"{self.kind} {' '.join(shown)}".strip()


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(_short, value))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    path: Path
    description: str = ""
    seed: int | None = None
    timeout: float | None = None
    within: float = 10.0
