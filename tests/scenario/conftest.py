"""`ocpp-simu scenario run` as a user runs it: a real process that starts its own demo CSMS,
launcher and charge points (and broker, unless given one), and whatever it leaves behind —
nothing, unless it fails — reaped by work directory at the end of the test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.launcher.conftest import cp_processes, fleet_dir, launcher_factory  # noqa: F401 - fixtures
from tests.launcher.test_up import _reap
from tests.procs import REPO, ocpp_simu

EXAMPLES = REPO / "examples" / "scenarios"
RUN_TIMEOUT = 170.0


@dataclass
class ScenarioRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    junit: Path

    @property
    def output(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


RunScenario = Callable[..., ScenarioRun]


@pytest.fixture
def run_scenario(tmp_path: Path) -> Iterator[RunScenario]:
    workdirs: list[Path] = []

    def run(file: Path, *options: str, broker: str | None = None) -> ScenarioRun:
        workdir = tmp_path / f"run-{len(workdirs)}"
        junit = tmp_path / f"junit-{len(workdirs)}.xml"
        workdirs.append(workdir)
        args = ocpp_simu("scenario", "run", str(file), "--workdir", str(workdir), "--junit", str(junit), *options)
        args += ["--broker", broker] if broker else []
        done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=tmp_path)
        result = ScenarioRun(done.returncode, done.stdout, done.stderr, workdir, junit)
        assert not cp_processes(workdir), f"charge points left running\n{result.output}"
        return result

    yield run
    for workdir in workdirs:
        _reap([], workdir)
