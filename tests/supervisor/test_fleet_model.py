"""The supervisor's Qt-free core: message parsing, fleet state, multi-step commands, setup files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus, PayloadError, Setup
from cp_simu.topics import Topics
from supervisor.fleet_model import (
    ConnectorEvent,
    CpStatusEvent,
    Fleet,
    LauncherEvent,
    Notice,
    OcppLogEvent,
    ScenarioEvent,
    SessionStart,
    parse_message,
)
from supervisor.fleet_ops import FleetOps
from supervisor.setup_files import read_setup, save_setup

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "reference"
T = Topics()


def status(cp_id: str, state: str = "Accepted", launcher: str = "", **kw) -> bytes:
    definition = ChargePointDefinition(id=cp_id, **kw)
    return CpStatus.for_definition(definition, 1234, state, launcher=launcher).to_json().encode()


def feed(fleet: Fleet, *messages: tuple[str, bytes]):
    return fleet.apply([e for t, p in messages if (e := parse_message(T, t, p)) is not None])


def test_reference_payloads_parse_and_rebuild_the_start_entry() -> None:
    fleet = Fleet()
    feed(fleet, (T.cp_status("cp1"), (REFERENCE / "cp_status.json").read_bytes()),
         (T.connector_status("cp1", 1), (REFERENCE / "connector_status.json").read_bytes()),
         (T.connector_status("cp1", 2), (REFERENCE / "connector_status.json").read_bytes()))
    entry = fleet.get("cp1")
    assert entry is not None and entry.state == "Disconnected" and entry.alive
    definition = entry.definition()
    # a reference status has no nb_connectors / per-connector limit: taken from the connectors seen
    assert (definition.nb_connectors, definition.max_setpoint_per_connector, definition.nb_phases) == (2, 32.0, 3)
    assert definition.central_system == "wss://127.0.0.1:9980/"


def test_parse_ignores_inputs_and_reports_malformed_statuses() -> None:
    assert parse_message(T, T.connector_car("cp1", 1), b'{"cable": 32}') is None
    assert parse_message(T, "other/root/status", b"x") is None
    bad = parse_message(T, T.cp_status("cp1"), b'{"status": 3}')
    assert isinstance(bad, Notice) and "status" in bad.text and bad.source == "cp1"
    bad_connector = parse_message(T, T.connector_status("cp1", "x"), b"{}")
    assert isinstance(bad_connector, Notice)
    err = parse_message(T, T.launcher_error, json.dumps(
        {"topic": T.launcher_cmd, "error": "type: must be one of start", "payload": "{}"}).encode())
    assert isinstance(err, Notice) and err.source == "launcher" and "type: must be one of" in err.text
    assert parse_message(T, T.launcher_status, b"Alive") == LauncherEvent("Alive")
    assert parse_message(T, T.launcher_status, b"") == LauncherEvent("Unknown")
    assert parse_message(T, T.launcher("lab_b").status, b"Alive") == LauncherEvent("Alive", "lab_b")
    bad_info = parse_message(T, T.launcher("lab_b").info, b"[]")
    assert isinstance(bad_info, Notice) and bad_info.source == "launcher lab_b"
    progress = {"name": "smoke", "state": "running", "step": 2, "steps": 6, "message": "", "failures": []}
    assert parse_message(T, T.scenario_status, json.dumps(progress).encode()) == ScenarioEvent(progress)
    assert parse_message(T, T.scenario_status, b"") == ScenarioEvent(None)
    assert isinstance(parse_message(T, T.scenario_status, b"{"), Notice)
    log = parse_message(T, T.cp_ocpp_log("cp1"), b'{"time": "10:00:00", "direction": "out", '
                                                 b'"message": [2, "1", "Heartbeat", {}]}')
    assert isinstance(log, OcppLogEvent) and log.cp_id == "cp1"
    assert (log.frame.time, log.frame.direction, log.frame.kind, log.frame.action) == ("10:00:00", "out", "Call",
                                                                                      "Heartbeat")


def test_removal_protocol_and_changes() -> None:
    fleet = Fleet()
    changes = feed(fleet, (T.cp_status("a"), status("a")), (T.cp_status("b"), status("b", "Dead")),
                   (T.connector_status("a", 1), ConnectorStatus(status="Charging").to_json().encode()))
    assert changes.membership and changes.cps == {"a", "b"}
    assert fleet.counts() == {"Accepted": 1, "Dead": 1}
    changes = feed(fleet, (T.connector_status("a", 1), b""))
    assert not changes.membership and fleet.get("a").connectors == {}
    changes = feed(fleet, (T.cp_status("a"), b""))
    assert changes.membership and "a" not in fleet.cps
    # a late connector clear for a CP already gone, and an orphan connector that is then cleared
    assert not feed(fleet, (T.connector_status("a", 1), b"")).membership
    feed(fleet, (T.connector_status("c", 1), ConnectorStatus().to_json().encode()))
    assert fleet.get("c").state == "Unknown"
    assert feed(fleet, (T.connector_status("c", 1), b"")).membership and "c" not in fleet.cps


def test_sweep_forgets_cps_not_reannounced_after_reconnection() -> None:
    fleet = Fleet()
    fleet.apply([SessionStart()])
    feed(fleet, (T.cp_status("a"), status("a")), (T.cp_status("b"), status("b")))
    fleet.apply([SessionStart()])
    feed(fleet, (T.cp_status("a"), status("a")))
    changes = fleet.sweep()
    assert changes.membership and list(fleet.cps) == ["a"]


def test_power_ac_and_dc() -> None:
    fleet = Fleet()
    feed(fleet, (T.cp_status("ac"), status("ac", nb_phases=2)),
         (T.connector_status("ac", 1), ConnectorStatus(consumption_l1=10, consumption_l2=10,
                                                       consumption_l3=10).to_json().encode()),
         (T.cp_status("dc"), status("dc", type="DC", nb_phases=1, max_setpoint=50000)),
         (T.connector_status("dc", 1), ConnectorStatus(consumption_l1=42000).to_json().encode()))
    assert fleet.get("ac").power_w == pytest.approx(230 * 20)  # only the CP's phases count
    assert fleet.get("dc").power_w == 42000


class FakeBroker:
    """What FleetOps publishes, plus a clock the test moves."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bool]] = []
        self.notices: list[Notice] = []
        self.now = 0.0

    def publish(self, topic: str, payload: str, retain: bool) -> bool:
        self.sent.append((topic, payload, retain))
        return True

    def commands(self, launcher: str = "") -> list[dict]:
        return [json.loads(p) for t, p, _ in self.sent if t == T.launcher(launcher).cmd]


@pytest.fixture
def ops() -> tuple[FleetOps, Fleet, FakeBroker]:
    fleet, fake = Fleet(), FakeBroker()
    feed(fleet, (T.cp_status("a"), status("a", nb_connectors=2)),
         (T.connector_status("a", 1), ConnectorStatus().to_json().encode()),
         (T.cp_status("d"), status("d", "Dead")))
    return FleetOps(fleet, T, fake.publish, fake.notices.append, clock=lambda: fake.now), fleet, fake


def test_remove_waits_for_dead_then_clears_every_status(ops) -> None:
    fleet_ops, fleet, fake = ops
    fleet_ops.remove(["a"])
    assert fake.commands() == [{"type": "kill", "charge_points": [{"id": "a"}]}]
    assert fleet_ops.pending and not [s for s in fake.sent if s[2]]
    feed(fleet, (T.cp_status("a"), status("a", "Dead", nb_connectors=2)))
    fleet_ops.poll()
    retained = [(t, p) for t, p, r in fake.sent if r]
    assert retained == [(T.connector_status("a", 1), ""), (T.connector_status("a", 2), ""),
                        (T.cp_status("a"), "")]
    assert not fleet_ops.pending


def test_remove_of_a_live_cp_is_abandoned_when_it_does_not_die(ops) -> None:
    fleet_ops, _, fake = ops
    fleet_ops.remove(["a"])
    fake.now = 60
    fleet_ops.poll()
    assert not fleet_ops.pending and not [s for s in fake.sent if s[2]]
    assert "still alive" in fake.notices[-1].text and fake.notices[-1].level == "error"


def test_restart_kills_live_cps_first(ops) -> None:
    fleet_ops, fleet, fake = ops
    fleet_ops.restart(["a", "d"])
    kinds = [(c["type"], [e["id"] for e in c["charge_points"]]) for c in fake.commands()]
    assert kinds == [("restart", ["d"]), ("kill", ["a"])]
    feed(fleet, (T.cp_status("a"), status("a", "Dead", nb_connectors=2)))
    fleet_ops.poll()
    restart = fake.commands()[-1]
    assert restart["type"] == "restart" and restart["charge_points"][0]["nb_connectors"] == 2


def test_replace_fleet_kills_clears_then_starts_on_the_setups_launcher(ops) -> None:
    fleet_ops, fleet, fake = ops
    new = [ChargePointDefinition(id="n1"), ChargePointDefinition(id="n2")]
    fleet_ops.replace_fleet(Setup(new, launcher="lab", cps_per_process=4))
    assert fake.commands()[-1]["type"] == "kill"
    feed(fleet, (T.cp_status("a"), status("a", "Dead", nb_connectors=2)))
    fleet_ops.poll()
    cleared = [t for t, _, r in fake.sent if r]
    assert T.cp_status("a") in cleared and T.cp_status("d") in cleared
    assert all(c["type"] == "kill" for c in fake.commands())  # the start went to the setup's launcher
    start = fake.commands("lab")[-1]
    assert start["type"] == "start" and [e["id"] for e in start["charge_points"]] == ["n1", "n2"]
    assert start["cps_per_process"] == 4


def test_kill_and_restart_go_to_each_cps_own_launcher(ops) -> None:
    fleet_ops, fleet, fake = ops
    feed(fleet, (T.cp_status("b1"), status("b1", launcher="lab_b")),
         (T.cp_status("b2"), status("b2", launcher="lab_b")))
    fleet_ops.kill(["a", "b1", "b2"])
    assert [c["charge_points"] for c in fake.commands()] == [[{"id": "a"}]]
    assert [c["charge_points"] for c in fake.commands("lab_b")] == [[{"id": "b1"}, {"id": "b2"}]]
    feed(fleet, (T.cp_status("b1"), status("b1", "Dead", launcher="lab_b")))
    fleet_ops.restart(["b1"])
    restart = fake.commands("lab_b")[-1]
    assert restart["type"] == "restart" and [e["id"] for e in restart["charge_points"]] == ["b1"]


def test_setup_file_round_trip_in_reference_shape(tmp_path: Path) -> None:
    fleet = Fleet()
    feed(fleet, (T.cp_status("ac"), status("ac", nb_connectors=2, max_setpoint=32,
                                           max_setpoint_per_connector=16)),
         (T.cp_status("dc"), status("dc", type="DC", nb_phases=1, voltage=400, max_setpoint=300000,
                                    max_setpoint_per_connector=150000, ocpp_version="2.0.1")))
    path = tmp_path / "setup.json"
    assert save_setup(fleet, path) == (2, [])
    data = json.loads(path.read_text())
    ac = data["charge_points"][0]
    # the reference launcher reads these as JSON integers
    assert ac["max_setpoint"] == 32 and isinstance(ac["max_setpoint"], int)
    assert isinstance(ac["max_setpoint_per_connector"], int) and ac["nb_connectors"] == 2
    assert set(ac) >= {"id", "type", "vendor", "model", "serial", "nb_phases", "nb_connectors",
                       "max_setpoint", "voltage", "max_setpoint_per_connector", "central_system"}
    loaded = read_setup(path).charge_points
    assert [(d.id, d.type, d.max_setpoint_per_connector, d.ocpp_version) for d in loaded] == [
        ("ac", "AC", 16.0, "1.6"), ("dc", "DC", 150000.0, "2.0.1")]


def test_reference_and_legacy_setup_files_load(tmp_path: Path) -> None:
    reference = json.loads((REFERENCE / "start.json").read_text())
    reference["charge_points"] = reference["charge_points"][:2]
    reference["charge_points"][0]["smart_charge_enabled"] = True
    path = tmp_path / "reference.json"
    path.write_text(json.dumps({"charge_points": reference["charge_points"]}))
    assert [d.id for d in read_setup(path).charge_points] == ["simu_cp_XXX", "simu_cp_YYY"]

    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"charge_points": [
        {"id": "old", "vendor": "v", "model": "m", "serial": "s", "nb_connectors": 1, "nb_phases": 3,
         "max_current": 20, "max_current_per_connector": 10, "central_system": "ws://h:1/"}]}))
    (old,) = read_setup(legacy).charge_points
    assert (old.max_setpoint, old.max_setpoint_per_connector) == (20.0, 10.0)

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"charge_points": [{"id": "x", "nb_phases": "3"}, {"id": "x"}]}))
    with pytest.raises(PayloadError, match=r"charge_points\[0\]\.nb_phases"):
        read_setup(bad)
    bad.write_text(json.dumps({"charge_points": [{"id": "x"}, {"id": "x"}]}))
    with pytest.raises(PayloadError, match="repeated"):
        read_setup(bad)


def test_parse_events_are_what_the_fleet_expects() -> None:
    event = parse_message(T, T.connector_status("cp", 3), ConnectorStatus(status="Faulted").to_json().encode())
    assert isinstance(event, ConnectorEvent) and event.number == 3 and event.status.status == "Faulted"
    assert parse_message(T, T.cp_status("cp"), b"") == CpStatusEvent("cp", None)


def test_cancel_drops_pending_steps(ops) -> None:
    fleet_ops, _, fake = ops
    fleet_ops.remove(["a"])
    fleet_ops.cancel()
    assert not fleet_ops.pending and "abandoned: disconnected" in fake.notices[-1].text
