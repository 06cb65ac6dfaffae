"""A scenario that does not hold fails the way a CI job needs: exit code 1, a message saying
what was expected, what was seen and where, a JUnit <failure>, the retained status topic —
and nothing left running."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil

from tests.conftest import Broker
from tests.launcher.conftest import cp_processes
from tests.launcher.test_up import _reap
from tests.procs import managed, ocpp_simu, wait_until
from tests.scenario.conftest import EXAMPLES, RunScenario

WRONG = """name: wrong-expectation
steps:
  - start: {ids: [WRONG_1]}
  - expect_status: {cp: WRONG_1, status: Accepted, within: 60}
  - plug: {cp: WRONG_1}
  # Nobody presented a card: the connector stays Preparing, never Charging.
  - expect_status: {cp: WRONG_1, connector: 1, status: Charging, within: 2}
  - unplug: {cp: WRONG_1}
"""


def test_wrong_expectation_fails_readably(tmp_path: Path, broker: Broker, run_scenario: RunScenario,
                                          recorder_factory):
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG)
    done = run_scenario(path, broker=broker.url)

    assert done.returncode == 1, done.output
    verdict = done.stderr.strip().splitlines()[-1]
    assert verdict.startswith("scenario 'wrong-expectation': FAILED at step 4/5"), done.output
    assert f"{path}:7: expect_status" in verdict
    assert "expected connector 1 of WRONG_1 Charging within 2 s; saw Preparing" in verdict
    assert "[4/5] line 7: expect_status cp=WRONG_1 connector=1 status=Charging within=2 … FAILED" in done.stdout

    suite = ET.parse(done.junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == \
        ("5", "1", "0", "1")
    cases = suite.findall("testcase")
    failure = cases[3].find("failure")
    assert failure is not None and cases[3].get("line") == "7"
    assert "saw Preparing" in (failure.get("message") or "") and f"{path}:7:" in (failure.text or "")
    assert cases[4].find("skipped") is not None
    assert all(c.find("failure") is None for c in cases[:3])

    rec = recorder_factory(broker.url, "cp_simu/scenario/status")
    status = wait_until(lambda: rec.last_json("cp_simu/scenario/status"), 10, what="the retained scenario status")
    assert status["name"] == "wrong-expectation" and status["state"] == "failed"
    assert (status["step"], status["steps"]) == (5, 5)
    assert status["failures"][0]["line"] == 7 and "saw Preparing" in status["failures"][0]["message"]


def test_failed_call_and_csms_journal(tmp_path: Path, broker: Broker, run_scenario: RunScenario):
    """A remote operation whose answer is not the expected one fails at its line; the demo
    CSMS's journal shows the call went out for real."""
    path = tmp_path / "call.yaml"
    path.write_text("""name: call
steps:
  - start: {ids: [CALL_1]}
  - expect_status: {cp: CALL_1, status: Accepted, within: 60}
  - call: {cp: CALL_1, action: ChangeConfiguration, payload: {key: NoSuchKey, value: "10.5"},
           expect: {status: Accepted}}
""")
    done = run_scenario(path, broker=broker.url)
    assert done.returncode == 1, done.output
    assert (f"{path}:5: call" in done.stderr and "expected CALL_1's answer to ChangeConfiguration to contain "
            "{'status': 'Accepted'}; saw {'status': 'NotSupported'}" in done.stderr), done.output
    journal = [json.loads(line) for line in (done.workdir / "csms.jsonl").read_text().splitlines()]
    assert any(e.get("action") == "ChangeConfiguration" and e.get("direction") == "out" for e in journal)


def test_ctrl_c_stops_everything_the_run_started(tmp_path: Path, broker: Broker):
    path = tmp_path / "long.yaml"
    path.write_text("name: long\nsteps:\n  - start: {ids: [LONG_1]}\n"
                    "  - expect_status: {cp: LONG_1, status: Accepted, within: 60}\n  - wait: 600\n")
    workdir = tmp_path / "run"
    junit = tmp_path / "junit.xml"
    try:
        with managed(ocpp_simu("scenario", "run", str(path), "--broker", broker.url, "--workdir", str(workdir),
                               "--junit", str(junit)), log=tmp_path / "run.out") as run:
            wait_until(lambda: "[2/3]" in run.output() or not run.alive(), 90, what="the CP Accepted")
            started = psutil.Process(run.pid).children(recursive=True) + cp_processes(workdir)
            assert len(started) >= 3, run.output()  # launcher, demo CSMS, the charge point
            run.signal(signal.SIGINT)
            assert run.wait(30) == 1, run.output()
            assert "scenario 'long': interrupted" in run.output()
        wait_until(lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in started), 10,
                   what="every process the run started to end")
        assert ET.parse(junit).getroot().find("testsuite").get("skipped") == "1"  # the wait
    finally:
        _reap([], workdir)


def test_unreachable_broker_is_a_setup_error(tmp_path: Path, run_scenario: RunScenario):
    """Nothing can run: exit 1, the reason, and a JUnit report that says so."""
    done = run_scenario(EXAMPLES / "smoke.yaml", broker="mqtt://192.0.2.1:1883")  # TEST-NET-1: no one there
    assert done.returncode == 1, done.output
    assert "scenario 'smoke': could not run: no MQTT broker answers at mqtt://192.0.2.1:1883" in done.stderr
    suite = ET.parse(done.junit).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"
    assert suite.find("testcase/error") is not None
