"""`central_system` templates ({id}) wherever a URL is given, passwords redacted, and identities
(serial, meter serial) that differ from one charge point to the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cp_simu.cli import main
from cp_simu.config import parse_config, write_instance_config
from cp_simu.models import ChargePointDefinition, CpStatus, LauncherCommand, PayloadError, Setup
from cp_simu.urls import csms_endpoint

REPO_TEMPLATE = Path(__file__).resolve().parent.parent / "config.ini"


@pytest.mark.parametrize(("template", "cp_id", "url"), [
    ("ws://h:9000/", "CP1", "ws://h:9000/CP1"),
    ("ws://h:9000", "CP1", "ws://h:9000/CP1"),
    ("ws://h/ws/ocpp/{id}/", "CP1", "ws://h/ws/ocpp/CP1/"),
    ("wss://{id}:pw@h/ocpp/{id}?v=1", "a:b", "wss://a%3Ab:pw@h/ocpp/a%3Ab?v=1"),
    ("ws://h/ocpp", "a:b", "ws://h/ocpp/a%3Ab"),
])
def test_endpoint_replaces_id_or_appends_it(template: str, cp_id: str, url: str):
    assert csms_endpoint(template, cp_id) == url


def test_status_shows_the_url_without_its_password():
    d = ChargePointDefinition.from_dict({"id": "CP1", "central_system": "ws://{id}:hunter2@h/ocpp/{id}/"})
    status = CpStatus.for_definition(d, 1, "Accepted")
    assert status.central_system == "ws://{id}:***@h/ocpp/{id}/"
    assert "hunter2" not in status.to_json()


@pytest.mark.parametrize(("value", "message"), [
    ("ws://h/ocpp/{cp}/", "unknown placeholder '{cp}'"),
    ("http://h/{id}", "expected a ws:// or wss:// URL"),
    ("ws:///{id}", "expected a ws:// or wss:// URL"),
    ("ws://h:99999/{id}", "bad URL"),
])
def test_bad_templates_are_refused_with_the_reason(value: str, message: str):
    with pytest.raises(PayloadError, match=message):
        ChargePointDefinition.from_dict({"id": "CP1", "central_system": value})


def test_bad_template_error_does_not_repeat_the_password():
    with pytest.raises(PayloadError) as info:
        ChargePointDefinition.from_dict({"id": "CP1", "central_system": "ws://u:hunter2@h/{x}"})
    assert "hunter2" not in str(info.value)


def test_template_in_a_start_command_and_a_setup_file():
    entry = {"id": "CP1", "central_system": "ws://h/ws/ocpp/{id}/"}
    command = LauncherCommand.parse(json.dumps({"type": "start", "charge_points": [entry]}))
    setup = Setup.parse(json.dumps({"charge_points": [entry]}))
    for d in (command.charge_points[0], setup.charge_points[0]):
        assert csms_endpoint(d.central_system, d.id) == "ws://h/ws/ocpp/CP1/"


def test_template_in_config_ini_serves_every_charge_point(tmp_path: Path):
    text = REPO_TEMPLATE.read_text().replace("central_system = ws://127.0.0.1:9000/",
                                             "central_system = wss://csms.example/ws/ocpp/{id}/")
    template = parse_config(text)
    command = LauncherCommand.parse(json.dumps({"type": "start", "charge_points": [{"id": "A"}, {"id": "B"}]}),
                                    template.definition_defaults())
    assert [csms_endpoint(d.central_system, d.id) for d in command.charge_points] == [
        "wss://csms.example/ws/ocpp/A/", "wss://csms.example/ws/ocpp/B/"]
    path = write_instance_config(template, command.charge_points[0], tmp_path / "A")
    assert parse_config(path.read_text()).definition().central_system == "wss://csms.example/ws/ocpp/{id}/"


def test_up_refuses_a_bad_template_before_starting_anything(tmp_path: Path):
    result = CliRunner().invoke(main, ["up", "--csms", "ws://h/ocpp/{ID}/", "--workdir", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert "unknown placeholder '{ID}'" in result.output
    assert not (tmp_path / "w").exists()


def test_up_help_tells_about_the_id_placeholder():
    result = CliRunner().invoke(main, ["up", "--help"])
    assert "{id}" in result.output


# -- identities ---------------------------------------------------------------------------

def test_serials_default_to_the_id_and_differ_between_charge_points():
    defaults = parse_config(REPO_TEMPLATE.read_text()).definition_defaults()
    a, b = (ChargePointDefinition.from_dict({"id": i}, defaults) for i in ("CP_0001", "CP_0002"))
    assert (a.serial, b.serial) == ("SN-CP_0001", "SN-CP_0002")
    assert (a.meter_serial, b.meter_serial) == ("MTR-CP_0001", "MTR-CP_0002")


def test_given_serials_are_kept():
    d = ChargePointDefinition.from_dict({"id": "CP1", "serial": "S/N42", "meter_serial": "M-42"})
    assert (d.serial, d.meter_serial) == ("S/N42", "M-42")


def test_long_ids_keep_unique_serials_within_25_characters():
    ids = [f"depot-north-building-7-bay-{n:03d}" for n in range(50)]  # share their first 25 characters
    definitions = [ChargePointDefinition.from_dict({"id": i}) for i in ids]
    serials = {d.serial for d in definitions} | {d.meter_serial for d in definitions}
    assert len(serials) == 100
    assert all(len(s) <= 25 for s in serials)
