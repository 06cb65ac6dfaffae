"""The MQTT contract in code: topics, payload models and their validation.

The reference simulator's README examples are fixtures here (tests/fixtures/reference/,
trailing commas removed): each must round-trip through the models unchanged in meaning.
"""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from cp_simu.models import (
    CarInput,
    ChargePointDefinition,
    ConnectorStatus,
    CpCommand,
    CpCommandType,
    CpStatus,
    ErrorReport,
    FaultedInput,
    IdTagInput,
    LauncherCommand,
    LauncherCommandType,
    PayloadError,
    Setup,
    parse_connector_number,
    validate_cp_id,
    validate_launcher_name,
)
from cp_simu.topics import ParsedTopic, TopicKind, Topics
from cp_simu.urls import BrokerUrl

REFERENCE = Path(__file__).parent / "fixtures" / "reference"


def reference(name: str) -> str:
    return (REFERENCE / name).read_text()


def numbers_equal(a: object, b: object) -> bool:
    """Equality where 32 and 32.0 are the same number, as the contract says."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(numbers_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(numbers_equal, a, b))
    return (a == b and type(a) is type(b)) or (
        not isinstance(a, bool) and not isinstance(b, bool)
        and isinstance(a, int | float) and isinstance(b, int | float) and a == b)


# -- reference payloads round-trip ------------------------------------------

@pytest.mark.parametrize("name", ["start.json", "restart.json", "kill.json"])
def test_reference_launcher_commands_round_trip(name):
    raw = reference(name)
    cmd = LauncherCommand.parse(raw)
    original = json.loads(raw)
    again = json.loads(cmd.to_json())
    assert again["type"] == original["type"]
    for sent, back in zip(original["charge_points"], again["charge_points"], strict=True):
        assert numbers_equal({k: back[k] for k in sent}, sent)


def test_reference_start_values():
    cmd = LauncherCommand.parse(reference("start.json"))
    assert cmd.type is LauncherCommandType.START
    assert [d.id for d in cmd.charge_points] == ["simu_cp_XXX", "simu_cp_YYY", "simu_cp_XXX", "simu_cp_YYY"]
    ac, _, dc, _ = cmd.charge_points
    assert (ac.max_setpoint, ac.max_setpoint_per_connector, ac.nb_phases) == (32.0, 16.0, 3)
    assert dc.is_dc and dc.max_setpoint == 300000.0 and dc.voltage == 400.0
    assert cmd.ids == [d.id for d in cmd.charge_points]


@pytest.mark.parametrize("name, model", [("cp_status.json", CpStatus), ("connector_status.json", ConnectorStatus)])
def test_reference_statuses_round_trip(name, model):
    raw = reference(name)
    parsed = model.from_payload(raw)
    back = json.loads(parsed.to_json())
    original = json.loads(raw)
    assert numbers_equal({k: back[k] for k in original}, original)


def test_reference_inputs_round_trip():
    car = CarInput.parse(reference("car.json"))
    assert car == CarInput(32.0, True, 10.0, 10.0, 10.0)
    assert numbers_equal(json.loads(car.to_json()), json.loads(reference("car.json")))
    assert IdTagInput.parse(reference("id_tag.json")) == IdTagInput("ID_TAG")
    assert json.loads(IdTagInput("ID_TAG").to_json()) == json.loads(reference("id_tag.json"))
    assert FaultedInput.parse(reference("faulted.json")) == FaultedInput(False)
    assert CpCommand.parse(reference("cp_cmd.json")).type is CpCommandType.OCPP_CONFIG


def test_integers_and_floats_are_the_same_number():
    assert CarInput.parse('{"cable": 32}') == CarInput.parse('{"cable": 32.0}')
    d = ChargePointDefinition.from_dict({"id": "a", "nb_connectors": 2.0, "voltage": 230})
    assert d.nb_connectors == 2 and isinstance(d.nb_connectors, int) and d.voltage == 230.0


def test_car_fields_are_optional():
    assert CarInput.parse("{}") == CarInput()
    assert CarInput.parse('{"ready": false}') == CarInput(ready=False)


def test_status_from_definition_has_every_reference_field():
    d = ChargePointDefinition.from_dict(json.loads(reference("start.json"))["charge_points"][0])
    status = json.loads(CpStatus.for_definition(d, pid=42, status="Accepted").to_json())
    assert set(json.loads(reference("cp_status.json"))) <= set(status)
    assert status["pid"] == 42 and status["max_setpoint"] == 32.0 and status["nb_connectors"] == 1


def test_status_rebuilds_definition_for_setup_saving():
    d = ChargePointDefinition.from_dict({"id": "cp1", "type": "DC", "nb_connectors": 2, "nb_phases": 1,
                                         "voltage": 400, "max_setpoint": 50000,
                                         "max_setpoint_per_connector": 25000})
    status = CpStatus.from_payload(CpStatus.for_definition(d, pid=1, status="Accepted").to_json())
    assert status.definition("cp1") == d


def test_setup_file_is_reference_format():
    setup = Setup.parse(json.dumps({"charge_points": json.loads(reference("start.json"))["charge_points"]}))
    data = json.loads(setup.to_json())
    assert list(data) == ["charge_points"] and len(data["charge_points"]) == 4
    assert setup.start_command().type is LauncherCommandType.START


def test_unknown_definition_keys_are_kept():
    d = ChargePointDefinition.from_dict({"id": "a", "ev_model": "Zoe"})
    assert d.to_dict()["ev_model"] == "Zoe"


def test_definition_defaults_come_from_config():
    d = ChargePointDefinition.from_dict({"id": "a"}, defaults={"voltage": 400.0, "nb_phases": 1})
    assert (d.voltage, d.nb_phases) == (400.0, 1)


# -- malformed payloads name the field -------------------------------------

@pytest.mark.parametrize("raw, field", [
    ('{"type":"start","charge_points":[{"id":"a","voltage":"230"}]}', "charge_points[0].voltage"),
    ('{"type":"start","charge_points":[{"id":"a"},{"id":"b","nb_connectors":1.5}]}', "charge_points[1].nb_connectors"),
    ('{"type":"start","charge_points":[{"id":"a","nb_phases":true}]}', "charge_points[0].nb_phases"),
    ('{"type":"start","charge_points":[{"id":"a","type":"XC"}]}', "charge_points[0].type"),
    ('{"type":"start","charge_points":[{"id":"a","central_system":"http://x"}]}',
     "charge_points[0].central_system"),
    ('{"type":"start","charge_points":[{"id":"a","max_setpoint":-1}]}', "charge_points[0].max_setpoint"),
    ('{"type":"start","charge_points":[{"id":"../x"}]}', "charge_points[0].id"),
    ('{"type":"start","charge_points":[{"id":"a; rm -rf /"}]}', "charge_points[0].id"),
    ('{"type":"start","charge_points":[{"vendor":"x"}]}', "charge_points[0].id"),
    ('{"type":"start","charge_points":"all"}', "charge_points"),
    ('{"type":"start"}', "charge_points"),
    ('{"type":"explode","charge_points":[]}', "type"),
    ('{"type":"kill","charge_points":[{"id":5}]}', "charge_points[0].id"),
    ('["start"]', "launcher command"),
    ("start please", "launcher command"),
])
def test_malformed_launcher_commands(raw, field):
    with pytest.raises(PayloadError) as err:
        LauncherCommand.parse(raw)
    assert field in str(err.value)


@pytest.mark.parametrize("parse, raw, field", [
    (CarInput.parse, '{"cable": "32"}', "cable"),
    (CarInput.parse, '{"ready": 1}', "ready"),
    (CarInput.parse, '{"consumption_l2": -3}', "consumption_l2"),
    (CarInput.parse, '{"cable": 1e999}', "cable"),
    (IdTagInput.parse, '{"id": 12}', "id"),
    (IdTagInput.parse, '{"id": ""}', "id"),
    (IdTagInput.parse, '{}', "id"),
    (FaultedInput.parse, '{"faulted": "yes"}', "faulted"),
    (FaultedInput.parse, '{"faulted": 1}', "faulted"),
    (CpCommand.parse, '{"type": "selfdestruct"}', "type"),
    (CpCommand.parse, b"\xff\xfe", "command"),
])
def test_malformed_inputs_name_the_field(parse, raw, field):
    with pytest.raises(PayloadError) as err:
        parse(raw)
    assert str(err.value).startswith(field)


def test_malformed_setup_names_each_entry():
    with pytest.raises(PayloadError) as err:
        Setup.parse('{"charge_points":[{"id":"ok"},{"id":"bad/id"},{"id":"x","voltage":null}]}')
    assert "charge_points[1].id" in str(err.value) and "charge_points[2].voltage" in str(err.value)


@pytest.mark.parametrize("cp_id", ["simu_cp_XXX", "CP_0001", "a", "a.b-c:d_e", "x" * 48])
def test_valid_ids(cp_id):
    assert validate_cp_id(cp_id) == cp_id


@pytest.mark.parametrize("cp_id", ["", ".", "..", "../x", "a/b", "x" * 49, "a b", "$(reboot)", "a;b", "é", "+", "#"])
def test_hostile_ids_rejected(cp_id):
    with pytest.raises(PayloadError):
        validate_cp_id(cp_id)


@pytest.mark.parametrize("text, ok", [("1", 1), ("2", 2), ("0", None), ("3", None), ("x", None), ("-1", None),
                                      ("1.0", None), ("²", None), ("①", None), ("１", None), ("٢", None)])
def test_connector_numbers(text, ok):
    """ASCII digits only: `str.isdigit` is true of "²" (int() refuses it), int() reads "１" as 1."""
    parsed = Topics().parse(Topics().connector_car("CP", text))
    if ok is None:
        with pytest.raises(PayloadError, match="connector"):
            parse_connector_number(parsed, 2)
    else:
        assert parse_connector_number(parsed, 2) == ok


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "2.5"])
def test_integer_fields_refuse_what_is_no_integer_with_a_clear_error(number):
    """json.loads reads NaN, Infinity and 1e400 (infinity) as floats; int() of them raised."""
    with pytest.raises(PayloadError, match="expected an integer"):
        ChargePointDefinition.from_dict(json.loads(f'{{"id": "a", "nb_connectors": {number}}}'))
    with pytest.raises(PayloadError, match=r"ev\.ac_phases: expected an integer"):
        CarInput.parse(f'{{"ev": {{"ac_phases": {number}}}}}')
    with pytest.raises(PayloadError, match="expected an integer"):
        CpCommand.parse(f'{{"type": "auto", "seed": {number}}}')


def test_connector_inputs_are_refused_over_64_kib_and_curves_over_500_points():
    curve = [[i / 10, 1000.5] for i in range(501)]
    with pytest.raises(PayloadError, match="curve: 501 points, more than the 500 allowed"):
        CarInput.parse(json.dumps({"ev": {"curve": curve}}))
    assert len(CarInput.parse(json.dumps({"ev": {"curve": curve[:500]}})).ev.curve) == 500
    with pytest.raises(PayloadError, match=r"car: 70,0\d\d bytes, more than the 65,536 an input may have"):
        CarInput.parse(json.dumps({"cable": 16.0, "pad": "x" * 70_000}))
    with pytest.raises(PayloadError, match=r"id_tag: [\d,]+ bytes, more than"):
        IdTagInput.parse(json.dumps({"id": "T" * 70_000}))


def test_error_report_keeps_first_200_characters():
    report = ErrorReport.about("cp_simu/launcher/cmd", "bad", "x" * 500)
    assert json.loads(report.to_json()) == {"topic": "cp_simu/launcher/cmd", "error": "bad", "payload": "x" * 200}


# -- topics ---------------------------------------------------------------

def test_topic_names_match_the_reference_tree():
    t = Topics()
    assert t.launcher_status == "cp_simu/launcher/status"
    assert t.launcher_cmd == "cp_simu/launcher/cmd"
    assert t.launcher_error == "cp_simu/launcher/error"
    assert t.cp_status("simu_cp_XXX") == "cp_simu/cps/simu_cp_XXX/status"
    assert t.cp_cmd("simu_cp_XXX") == "cp_simu/cps/simu_cp_XXX/cmd"
    assert t.cp_ocpp_config("simu_cp_XXX") == "cp_simu/cps/simu_cp_XXX/ocpp_config"
    assert t.cp_error("simu_cp_XXX") == "cp_simu/cps/simu_cp_XXX/error"
    assert t.connector_status("simu_cp_XXX", 2) == "cp_simu/cps/simu_cp_XXX/connectors/2/status"
    assert t.connector_car("simu_cp_XXX", 1) == "cp_simu/cps/simu_cp_XXX/connectors/1/car"
    assert t.connector_id_tag("simu_cp_XXX", 1) == "cp_simu/cps/simu_cp_XXX/connectors/1/id_tag"
    assert t.connector_faulted("simu_cp_XXX", 1) == "cp_simu/cps/simu_cp_XXX/connectors/1/faulted"


def test_root_prefix_is_configurable_and_parse_inverts_builders():
    t = Topics("lab/simu")
    assert t.cp_status("A") == "lab/simu/cps/A/status"
    assert t.parse(t.connector_car("A", 3)) == ParsedTopic(TopicKind.CONNECTOR_CAR, "A", "3")
    assert t.parse(t.cp_cmd("A")) == ParsedTopic(TopicKind.CP_CMD, "A")
    assert t.parse(t.launcher_cmd) == ParsedTopic(TopicKind.LAUNCHER_CMD, launcher="")
    assert t.parse("cp_simu/cps/A/status") is None
    assert t.parse("lab/simu/cps/A/connectors/1/unknown") is None


def test_named_launchers_have_their_own_subtree():
    t = Topics()
    east = t.launcher("east")
    assert (east.status, east.cmd, east.error, east.info) == (
        "cp_simu/launchers/east/status", "cp_simu/launchers/east/cmd",
        "cp_simu/launchers/east/error", "cp_simu/launchers/east/info")
    unnamed = t.launcher()
    assert (unnamed.status, unnamed.cmd, unnamed.error, unnamed.info) == (
        t.launcher_status, t.launcher_cmd, t.launcher_error, t.launcher_info)
    assert t.parse(east.cmd) == ParsedTopic(TopicKind.LAUNCHER_CMD, launcher="east")
    assert t.parse(east.info) == ParsedTopic(TopicKind.LAUNCHER_INFO, launcher="east")
    assert t.parse(t.launcher_status) == ParsedTopic(TopicKind.LAUNCHER_STATUS, launcher="")
    assert t.parse(t.cp_status("A")).launcher is None
    assert t.parse("cp_simu/launchers//status") is None
    assert t.parse("cp_simu/launchers/east/other") is None
    assert t.parse("cp_simu/launchers/east/sub/status") is None


def test_all_launchers_filters_match_every_launchers_status_info_and_error():
    t = Topics()

    def matched(topic):
        return any(paho.topic_matches_sub(f, topic) for f in t.all_launchers)
    for leaf in ("status", "info", "error"):
        assert matched(getattr(t.launcher(), leaf))
        assert matched(getattr(t.launcher("west.2"), leaf))
    assert not matched(t.launcher("west").cmd)
    assert not matched(t.launcher_cmd)
    assert not matched(t.cp_status("A"))


@pytest.mark.parametrize("name", ["east", "host-1.lab", "a:b_C", "x" * 48])
def test_launcher_names_follow_the_id_rules(name):
    assert validate_launcher_name(name) == name


@pytest.mark.parametrize("name", ["../x", "a/b", "+", "#", ".", "..", "x" * 49, "a b", 7])
def test_bad_launcher_names_are_refused(name):
    with pytest.raises(PayloadError, match="launcher name"):
        validate_launcher_name(name)


def test_setup_files_may_name_their_launcher():
    entries = [{"id": "W1", "central_system": "ws://h/"}]
    setup = Setup.parse(json.dumps({"launcher": "west", "charge_points": entries}))
    assert setup.launcher == "west"
    assert Setup.parse(setup.to_json()) == setup
    plain = Setup.parse(json.dumps({"charge_points": entries}))
    assert plain.launcher == "" and "launcher" not in json.loads(plain.to_json())
    with pytest.raises(PayloadError, match="launcher: invalid launcher name"):
        Setup.parse(json.dumps({"launcher": "a/b", "charge_points": entries}))


# -- broker URLs ----------------------------------------------------------

@pytest.mark.parametrize("url, expected", [
    ("mqtt://127.0.0.1:1883", BrokerUrl("127.0.0.1", 1883)),
    ("tcp://localhost:1884", BrokerUrl("localhost", 1884)),
    ("mqtts://broker.example:8883", BrokerUrl("broker.example", 8883, tls=True)),
    ("mqtts://broker.example", BrokerUrl("broker.example", 8883, tls=True)),
    ("mqtt://user:p%40ss@host", BrokerUrl("host", 1883, False, "user", "p@ss")),
    ("localhost:1999", BrokerUrl("localhost", 1999)),
])
def test_broker_urls(url, expected):
    assert BrokerUrl.parse(url) == expected


@pytest.mark.parametrize("url", ["http://x:1883", "mqtt://:1883", "mqtt://host:99999"])
def test_bad_broker_urls(url):
    with pytest.raises(ValueError):
        BrokerUrl.parse(url)


def test_reason_is_additive_and_does_not_outlive_its_state():
    d = ChargePointDefinition.from_dict({"id": "cp1"})
    refused = CpStatus.for_definition(d, pid=1, status="Disconnected", reason="connection refused")
    assert json.loads(refused.to_json())["reason"] == "connection refused"
    assert CpStatus.from_payload(refused.to_json()).reason == "connection refused"
    assert CpStatus.from_payload(reference("cp_status.json")).reason == ""  # a status that does not say
    assert refused.with_status("Dead").reason == ""  # the launcher marking a vanished CP Dead
