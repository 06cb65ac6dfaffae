"""The actions a scenario takes reach the fleet and the CSMS for real: faults, kills, the
CSMS's own HTTP API, globs over a templated fleet."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import Broker
from tests.launcher.conftest import TOPICS
from tests.scenario.conftest import EXAMPLES, RunScenario

FLEET = """name: actions
steps:
  - start: {pattern: "ACT_{n:02d}", count: 3, type: DC}
  - expect_status: {cp: "ACT_*", status: Accepted, within: 60}
  - fault: {cp: [ACT_01, ACT_02], connector: 1}
  - expect_status: {cp: ["ACT_01", "ACT_02"], connector: 1, status: Faulted}
  - expect_status: {cp: ACT_03, connector: 1, status: Available}
  - fault: {cp: "ACT_0[12]", faulted: false}
  - expect_status: {cp: "ACT_*", connector: 1, status: Available}
  - plug: {cp: ACT_03, car: {consumption_l1: 20000.5}}
  - tag: {cp: ACT_03, id: TAG1}
  - expect_status: {cp: ACT_03, connector: 1, status: Charging}
  - http: {url: "transactions?cp_id=ACT_03&active=1", expect: {status: ok, transactions: [{cp_id: ACT_03}]}}
  - http: {url: cps/NOPE, expect_status: 404}
  - kill: {cp: ACT_02}
  - expect_status: {cp: ACT_02, status: Dead}
  - expect_status: {cp: [ACT_01, ACT_03], status: Accepted}
  - expect_count: {action: StatusNotification, min: 6}
"""


def test_actions_reach_fleet_and_csms(tmp_path: Path, broker: Broker, run_scenario: RunScenario):
    path = tmp_path / "actions.yaml"
    path.write_text(FLEET)
    done = run_scenario(path, broker=broker.url)
    assert done.returncode == 0, done.output
    assert "3 charge point(s): ACT_01 … ACT_03" in done.stdout
    assert "HTTP 404" in done.stdout


def test_against_a_csms_of_ones_own(tmp_path: Path, broker: Broker, csms, run_scenario: RunScenario):
    """--csms and --csms-api: the run starts no CSMS, drives the given one through its API, and
    says at its line that it cannot stop a CSMS it did not start (a JUnit <error>)."""
    path = tmp_path / "external.yaml"
    path.write_text("""name: external
steps:
  - start: {ids: [EXT_1], ocpp_version: "2.0.1"}
  - expect_status: {cp: EXT_1, status: Accepted, within: 60}
  - call: {cp: EXT_1, action: TriggerMessage, payload: {requestedMessage: Heartbeat}, expect: {status: Accepted}}
  - expect_reply: {cp: EXT_1, action: Heartbeat}
  - csms: stop
""")
    done = run_scenario(path, "--csms", csms.url, "--csms-api", f"{csms.api}/api", broker=broker.url)
    assert done.returncode == 1, done.output
    assert "(external)" in done.stdout and csms.url in done.stdout
    assert f"{path}:7: csms stop): no demo CSMS was started here to stop" in done.stderr, done.output
    assert not (done.workdir / "csms.jsonl").exists()
    assert csms.messages("TriggerMessage", "EXT_1") and csms.messages("Heartbeat", "EXT_1")
    suite = ET.parse(done.junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("errors"), suite.get("failures")) == ("1", "0")


def test_uses_a_launcher_found_on_the_broker_in_subprocess_mode(broker: Broker, launcher_factory,
                                                                run_scenario: RunScenario):
    """A launcher already Alive on the broker (here in subprocess spawn mode) runs the fleet; its
    info says it runs on this machine, so the frames come from its instance directories (the
    BootNotification, sent before the charge point's MQTT connection is up, is seen); the run
    stops the charge points it started and leaves that launcher running."""
    launcher = launcher_factory("--spawn-mode", "subprocess")
    done = run_scenario(EXAMPLES / "smoke.yaml", broker=broker.url)
    assert done.returncode == 0, done.output
    assert "launcher existing" in done.stdout
    assert f"OCPP frames from {launcher.instance('SMOKE_1').parent}\n" in done.stdout
    assert (launcher.instance("SMOKE_1") / "ocpp.log").exists()
    assert launcher.proc.alive()
    launcher.wait_status("SMOKE_1", "Dead")


PACKED = """name: packed
steps:
  - start: {pattern: "PK_{n:02d}", count: 3, cps_per_process: 2}
  - expect_status: {cp: "PK_*", status: Accepted, within: 60}
  - plug: {cp: PK_01, car: {consumption_l1: 10.5, consumption_l2: 10.5, consumption_l3: 10.5}}
  - tag: {cp: PK_01, id: PACKED_TAG_123456789}
  - expect_status: {cp: PK_01, connector: 1, status: Charging}
  - expect_reply: {cp: PK_01, action: StartTransaction, match: {idTagInfo: {status: Accepted}}}
  - http: {url: "transactions?cp_id=PK_01&active=1", expect: {transactions: [{id_tag: PACKED_TAG_123456789}]}}
  - kill: {cp: PK_02}
  - expect_status: {cp: PK_02, status: Dead}
  - expect_status: {cp: [PK_01, PK_03], status: Accepted}
  - expect_status: {cp: PK_01, connector: 1, status: Charging}
  - expect_count: {cp: PK_01, action: BootNotification, equals: 1}
  - expect_count: {cp: PK_01, action: StartTransaction, equals: 1}
"""


def test_steps_act_on_packed_charge_points_one_at_a_time(tmp_path: Path, broker: Broker, launcher_factory,
                                                         run_scenario: RunScenario):
    """Plug, tag, expect_status and kill on charge points packed two to a process: the kill
    of one member leaves its process partner charging, on the session and connection it had."""
    launcher = launcher_factory()
    path = tmp_path / "packed.yaml"
    path.write_text(PACKED)
    done = run_scenario(path, broker=broker.url)
    assert done.returncode == 0, done.output
    pids = {cp: {json.loads(m.payload)["pid"] for m in launcher.rec.on_topic(TOPICS.cp_status(cp))
                 if m.payload and json.loads(m.payload)["status"] == "Accepted"} for cp in ("PK_01", "PK_02", "PK_03")}
    assert len(pids["PK_01"]) == 1 and pids["PK_01"] == pids["PK_02"] != pids["PK_03"], pids  # packed 2 + 1
