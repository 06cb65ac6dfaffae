"""Automatic sessions: the seeded generator (a plain object) and a real charge point playing it
against the demo CSMS, with remote starts made through the CSMS's control API."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter

import pytest

from chargepoint.auto_runner import preset_capacity
from chargepoint.model.auto_sessions import AutoSessions
from cp_simu.models import ID_TAG_MAX_LENGTH, AutoSettings, PayloadError
from cp_simu.mqtt import MqttClient
from cp_simu.topics import Topics
from launcher.remote_starts import RemoteStarts
from tests.chargepoint.conftest import Driver, T, messages
from tests.procs import wait_until

# Lively enough that a test sees sessions come and go within seconds.
FAST = {"rate": 1800.0, "dwell": [2.5, 4.5], "tag_delay": [0.2, 0.6], "soc": [20, 40.5],
        "mix": {"plug_first": 2, "tag_first": 1, "remote_start": 1}, "invalid_share": 0.25}


def plan(settings: dict, seed: int, horizon: float, **facts: object) -> list[dict]:
    """The generator run offline, as a 3-phase AC charge point with 2 connectors runs it."""
    generator = AutoSessions(AutoSettings.from_dict(settings), seed, **{
        "nb_connectors": 2, "dc": False, "phases": 3, "capacity_of": preset_capacity, **facts})  # type: ignore[arg-type]
    return [item.to_dict() for item in generator.until(horizon)]


# -- the generator --------------------------------------------------------------------------
def test_same_seed_same_inputs_other_seed_other_inputs() -> None:
    first, again, other = plan(FAST, 42, 600), plan(FAST, 42, 600), plan(FAST, 43, 600)
    assert first == again and len(first) > 100
    assert first != other
    assert [i["seq"] for i in first] == list(range(1, len(first) + 1))
    assert [i["at"] for i in first] == sorted(i["at"] for i in first)


def test_every_session_is_complete_and_connectors_are_never_shared() -> None:
    inputs = plan(FAST, 7, 900)
    sessions: dict[int, list[dict]] = {}
    for item in inputs:
        sessions.setdefault(item["session"], []).append(item)
    complete = [s for s in sessions.values() if s[-1]["kind"] == "unplug"]
    assert len(complete) >= len(sessions) - 2  # only the last ones may end after the horizon
    kinds = Counter(tuple(i["kind"] for i in s) for s in complete)
    assert set(kinds) == {("plug", "id_tag", "unplug"), ("id_tag", "plug", "unplug"),
                          ("plug", "remote_start", "unplug")}
    assert kinds[("plug", "id_tag", "unplug")] > kinds[("id_tag", "plug", "unplug")] * 1.3  # mix 2:1:1
    busy: dict[int, float] = {}
    for s in sorted(complete, key=lambda s: s[0]["at"]):
        connector = s[0]["connector"]
        assert all(i["connector"] == connector for i in s)
        assert s[0]["at"] >= busy.get(connector, 0.0), "a car arrived at a connector still taken"
        busy[connector] = s[-1]["at"]
        assert 2.5 <= s[-1]["at"] - s[0]["at"] <= 4.5 + 0.6 + 0.001
    tags = [i["payload"]["id"] for i in inputs if i["kind"] in ("id_tag", "remote_start")]
    invalid = sum(t.startswith("BAD_") for t in tags) / len(tags)
    assert 0.15 < invalid < 0.35  # invalid_share 0.25


def test_rate_and_time_of_day_profile() -> None:
    quiet_busy = {"rate": 60.0, "dwell": 1, "profile": [0, 3.5], "profile_period": 7200}  # 2 slots of 1 h
    inputs = plan(quiet_busy, 3, 7200, nb_connectors=64)
    arrivals = [i["at"] for i in inputs if i["kind"] in ("plug", "id_tag") and i["seq"] == min(
        j["seq"] for j in inputs if j["session"] == i["session"])]
    assert not [t for t in arrivals if t < 3600], "no arrival in a slot whose factor is 0"
    assert 160 < len(arrivals) < 260  # 60/h x 3.5 during the busy hour: about 210
    shifted = plan({**quiet_busy, "profile_offset": 3600}, 3, 3600, nb_connectors=64)
    assert len(shifted) > 300  # starting in the busy slot


def test_cars_carry_the_ev_and_the_energy_need() -> None:
    capacities = {"city_car": 40.0, "suv": 100.0, "van": 75.0, "phev": 14.0, "dc_800v": 84.0}
    settings = {**FAST, "energy_kwh": [4, 8.5], "ev": {"suv": 1, "phev": 1}}
    cars = [i["payload"] for i in plan(settings, 5, 300, capacity_of=capacities.get) if i["kind"] == "plug"]
    assert {c["ev"]["preset"] for c in cars} == {"suv", "phev"}
    for car in cars:
        ev = car["ev"]
        need = (ev["target_soc"] - ev["soc"]) * capacities[ev["preset"]] / 100
        assert 20 <= ev["soc"] <= 40.5 and (3.9 <= need <= 8.6 or ev["target_soc"] == 100.0)
        assert car["cable"] == 32.0 and car["consumption_l1"] == 16.0
    dc = [i["payload"] for i in plan({**FAST, "ev": {}, "car_power": 22500.5}, 5, 60, dc=True, phases=1)
          if i["kind"] == "plug"]
    assert dc and all(c == {"cable": 22500.5, "ready": True, "consumption_l1": 22500.5} for c in dc)


@pytest.mark.parametrize(("payload", "fragment"), [
    ({"rate": 0}, "rate: must be > 0"), ({"dwell": [30, 10]}, "dwell: low 30 is above high 10"),
    ({"mix": {"walk_in": 1}}, "mix: unknown 'walk_in'"), ({"ev": {"tractor": 1}}, "ev: unknown 'tractor'"),
    ({"invalid_share": 1.5}, "invalid_share: must be <= 1"), ({"seed": -4}, "seed: must be >= 0"),
    ({"seed": 4.5}, "seed: expected an integer"), ({"id_tags": []}, "id_tags: expected a non-empty"),
    ({"soc": [10, 120]}, "soc: must be <= 100"), ({"enabled": "yes"}, "enabled: expected a boolean"),
    ({"rate_per_day": 3}, "rate_per_day: unknown auto setting"), ({"profile": [0, 0]}, "profile:"),
])
def test_bad_settings_name_the_field(payload: dict, fragment: str) -> None:
    with pytest.raises(PayloadError, match=fragment.replace("[", r"\[")):
        AutoSettings.from_dict(payload)


def test_fractional_and_whole_numbers_mean_the_same() -> None:
    whole = plan({"rate": 600, "dwell": [10, 20], "seed": 1}, 1, 300)
    fractional = plan({"rate": 600.0, "dwell": [10.0, 20.0]}, 1, 300)
    assert whole == fractional


# -- a real charge point --------------------------------------------------------------------
SEED = 8  # its plan: within 11 s, 4 sessions end, one is a remote start, an invalid tag is presented


def longest_tags(prefix: str, count: int, version: str) -> list[str]:
    """`count` distinct id tags as long as the OCPP version carries (20 characters in 1.6, 36 in
    2.0.1), told apart by their last characters: a truncated one is in no pool."""
    length = ID_TAG_MAX_LENGTH[version]
    return [f"{prefix}{'X' * (length - len(prefix) - 4)}{n:04d}" for n in range(1, count + 1)]


def records(rec, cp_id: str = "CP1") -> list[dict]:
    return [json.loads(m.payload) for m in rec.on_topic(T.cp_auto(cp_id))]


def logged(directory) -> list[dict]:
    """auto.jsonl's applied inputs, without their wall-clock time."""
    lines = [json.loads(line) for line in (directory / "auto.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k != "time"} for line in lines if "seq" in line]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_a_charge_point_plays_its_plan(broker, csms, recorder_factory, cp_factory, version) -> None:
    """With pools of the longest id tags the version carries: the CSMS gets each one whole."""
    pool, bad = longest_tags("AUTO_", 20, version), longest_tags("BAD_", 3, version)
    settings = {**FAST, "id_tags": pool, "invalid_tags": bad}  # as many as the defaults: the same plan
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, nb_connectors=2, ocpp_version=version)
    idle = ui.status("Accepted")
    assert idle["auto"] is False and "auto_seed" not in idle
    agent_client = MqttClient(broker.url, "test-remote-starts").connect()
    agent = RemoteStarts(agent_client, Topics(), f"{csms.api}/api")
    try:
        time.sleep(1)
        assert not records(ui.rec), "nothing on cps/<id>/auto while automatic sessions are off"
        ui.publish(T.cp_cmd("CP1"), {"type": "auto", "seed": SEED, **settings})
        on = ui.wait(T.cp_status("CP1"), lambda d: d["auto"] is True)
        assert on["auto_seed"] == SEED

        def ended() -> int:
            if version == "1.6":
                return len(messages(csms, "StopTransaction"))
            return sum(p["eventType"] == "Ended" for p in messages(csms, "TransactionEvent"))
        wait_until(lambda: ended() >= 2 and agent.started >= 1, 20, what="sessions that started and ended")
        ui.publish(T.cp_cmd("CP1"), {"type": "auto", "enabled": False})
        ui.wait(T.cp_status("CP1"), lambda d: d["auto"] is False)
        for n in (1, 2):  # the plan's cars left with it
            wait_until(lambda n=n: ui.rec.last_json(T.connector_status("CP1", n))["status"] == "Available", 10,
                       what=f"connector {n} Available")
        applied = records(ui.rec)
        time.sleep(1.5)
        assert records(ui.rec) == applied, "no input once automatic sessions are off"
    finally:
        agent.close()
        agent_client.stop()
    # what was applied is exactly the seeded plan, in the log and on MQTT alike
    expected = plan(settings, SEED, applied[-1]["at"] + 0.001)
    assert applied == expected and logged(cp.directory) == expected
    assert [i["kind"] for i in applied] == [i["kind"] for i in plan(FAST, SEED, applied[-1]["at"] + 0.001)]
    if version == "1.6":
        tags = [p["idTag"] for p in messages(csms, "StartTransaction")]
        authorized = [p["idTag"] for p in messages(csms, "Authorize")]
    else:
        tags = [p["idToken"]["idToken"] for p in messages(csms, "TransactionEvent")
                if p["eventType"] == "Started" and "idToken" in p]
        authorized = [p["idToken"]["idToken"] for p in messages(csms, "Authorize")]
    presented = {i["payload"]["id"] for i in applied if i["kind"] == "id_tag"}
    remote = {i["payload"]["id"] for i in applied if i["kind"] == "remote_start"}
    refused = {t for t in presented - remote if t.startswith("BAD_")}
    assert tags and refused and not refused & set(tags), "an invalid tag presented starts no session"
    assert set(tags) <= set(pool) and refused <= set(bad) and refused <= set(authorized) <= presented
    asked = [m for m in csms.messages(direction="out") if m.get("action") in (
        "RemoteStartTransaction", "RequestStartTransaction") and m.get("message_type") == "call"]
    assert len(asked) == sum(i["kind"] == "remote_start" for i in applied)
    asked_tags = {m["payload"]["idTag"] if version == "1.6" else m["payload"]["idToken"]["idToken"] for m in asked}
    assert asked_tags == remote and remote <= set(tags), "a remote start's tag, whole, at the CSMS and back"


def test_bad_auto_commands_are_refused(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    for bad, fragment in (({"dwell": "long"}, "dwell"), ({"mix": {"walk_in": 1}}, "mix: unknown"),
                          ({"seed": "42"}, "seed: expected an integer")):
        ui.publish(T.cp_cmd("CP1"), {"type": "auto", **bad})
        ui.wait(T.cp_error("CP1"), lambda d, f=fragment: f in d["error"])
    assert ui.rec.last_json(T.cp_status("CP1"))["auto"] is False
    assert not list(itertools.islice(records(ui.rec), 1))
