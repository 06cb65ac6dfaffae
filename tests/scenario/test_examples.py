"""Every shipped scenario passes against the demo CSMS, with its JUnit report saying so."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import Broker
from tests.scenario.conftest import EXAMPLES, RunScenario

# The ramp to 500 stations is a benchmark-sized run; the suite runs it at a tenth (1, then 49
# charge points), which exercises the same templates, pacing and fleet-wide expectations.
SCALES = {"ramp-10-500.yaml": "0.1"}


def _example_files() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def test_every_example_is_tested():
    assert {"smoke.yaml", "session-16.yaml", "session-201.yaml", "offline-recovery.yaml",
            "ramp-10-500.yaml"} <= set(_example_files())


@pytest.mark.parametrize("name", _example_files())
def test_example_passes(name: str, broker: Broker, run_scenario: RunScenario):
    done = run_scenario(EXAMPLES / name, "--scale", SCALES.get(name, "1"), broker=broker.url)
    assert done.returncode == 0, done.output
    assert "passed" in done.stdout.splitlines()[-1], done.output
    suite = ET.parse(done.junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")
    assert int(suite.get("tests") or 0) == len(suite.findall("testcase")) > 3


def test_smoke_on_its_own_embedded_broker(run_scenario: RunScenario):
    """Without --broker the run starts an embedded broker of its own, and stops it."""
    done = run_scenario(EXAMPLES / "smoke.yaml")
    assert done.returncode == 0, done.output
    assert "(embedded)" in done.stdout
    assert "passed" in done.stdout
