"""config.ini: the template loads, instances are written from it, bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cp_simu.config import (
    SECTION_OCPP,
    ConfigError,
    load_config,
    parse_config,
    update_section,
    write_instance_config,
)
from cp_simu.models import ChargePointDefinition

REPO_TEMPLATE = Path(__file__).resolve().parent.parent / "config.ini"


def test_repository_template_is_the_packaged_default():
    assert load_config().ocpp == load_config(REPO_TEMPLATE).ocpp


def test_template_ships_the_core_keys_a_real_charge_point_has():
    ocpp = load_config(REPO_TEMPLATE).ocpp
    for key in ("HeartbeatInterval", "MeterValueSampleInterval", "MeterValuesSampledData", "ConnectionTimeOut",
                "MinimumStatusDuration", "AuthorizeRemoteTxRequests", "LocalPreAuthorize",
                "StopTransactionOnEVSideDisconnect", "TransactionMessageAttempts",
                "TransactionMessageRetryInterval", "ClockAlignedDataInterval", "StopTxnSampledData",
                "SupportedFeatureProfiles", "ResetRetries"):
        assert key in ocpp, key


def test_instance_config_applies_definition_and_keeps_template(tmp_path: Path):
    template = load_config(REPO_TEMPLATE)
    definition = ChargePointDefinition.from_dict({"id": "CP_9", "type": "DC", "nb_phases": 1,
                                                  "max_setpoint": 50000, "max_setpoint_per_connector": 50000},
                                                 template.definition_defaults())
    path = write_instance_config(template, definition, tmp_path / "CP_9", broker="mqtt://127.0.0.1:1999")
    instance = load_config(path)
    loaded = instance.definition().to_dict()
    assert {k: loaded[k] for k in ChargePointDefinition.KNOWN} == definition.to_dict()
    assert instance.definition().id == "CP_9" and instance.definition().is_dc
    assert instance.mqtt.broker == "mqtt://127.0.0.1:1999"
    assert instance.ocpp == template.ocpp
    assert instance.charge_point["firmware_version"] == template.charge_point["firmware_version"]


def test_changed_ocpp_keys_persist_and_keep_case(tmp_path: Path):
    path = tmp_path / "config.ini"
    path.write_text(REPO_TEMPLATE.read_text())
    update_section(path, SECTION_OCPP, {"HeartbeatInterval": "42"})
    again = load_config(path)
    assert again.ocpp["HeartbeatInterval"] == "42"
    assert again.ocpp["MeterValueSampleInterval"] == load_config(REPO_TEMPLATE).ocpp["MeterValueSampleInterval"]


@pytest.mark.parametrize("text, where", [
    ("[ChargePoint]\nvoltage = high\n", "voltage"),
    ("[ChargePoint]\ntype = XC\n", "type"),
    ("[Mqtt]\nbroker = http://x\n", "broker"),
    ("[Simulation]\npower_factor = 2\n", "power_factor"),
    ("[ChargePoint\n", "config.ini"),
])
def test_bad_values_are_named(text, where):
    with pytest.raises(ConfigError, match=where):
        parse_config(text)


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.ini")


def test_instance_files_of_one_template_keep_every_section_and_value(tmp_path: Path):
    """A launcher renders the template's unchanged sections once for all its instances: each
    instance file still holds all of them, a [DEFAULT] section's keys, multi-line values and
    the definition's own values, the last instance as the first."""
    template_path = tmp_path / "template.ini"
    template_path.write_text("[DEFAULT]\nshared = 7\n\n[ChargePoint]\nvendor = Acme\nmodel = M1\n\n"
                             "[Ocpp]\nHeartbeatInterval = 300\nSupportedFeatureProfiles = Core,\n\tSmartCharging\n"
                             "shared = 8\n\n[Simulation]\npower_factor = 0.95\n")
    template = load_config(template_path)
    for n, vendor in ((1, "Velo"), (2, "Ünicode")):
        definition = ChargePointDefinition.from_dict({"id": f"CP_{n}", "vendor": vendor, "voltage": 229.5},
                                                     template.definition_defaults())
        instance = load_config(write_instance_config(template, definition, tmp_path / f"CP_{n}",
                                                     broker="mqtt://127.0.0.1:1999", root="fleet", launcher="east"))
        assert instance.definition().id == f"CP_{n}" and instance.definition().vendor == vendor
        assert instance.definition().voltage == 229.5 and instance.charge_point["model"] == "M1"
        assert instance.ocpp == {"HeartbeatInterval": "300", "SupportedFeatureProfiles": "Core,\nSmartCharging",
                                 "shared": "8"}
        assert instance.simulation.power_factor == 0.95
        assert (instance.mqtt.broker, instance.mqtt.root, instance.mqtt.launcher) == (
            "mqtt://127.0.0.1:1999", "fleet", "east")
        assert instance.parser.defaults() == {"shared": "7"}
        assert instance.parser["Simulation"]["shared"] == "7"
