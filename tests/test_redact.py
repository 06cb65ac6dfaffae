"""Secrets are masked wherever they could leave a process (cp_simu.redact)."""

from __future__ import annotations

import json
import logging

import pytest

from cp_simu import redact
from cp_simu.models import ErrorReport


@pytest.mark.parametrize(("given", "expected"), [
    ("ftp://diag:s3cret@files.example/upload", "ftp://diag:***@files.example/upload"),
    ("http://u:p%40ss@host:8080/fw.bin", "http://u:***@host:8080/fw.bin"),
    ("mqtt://launcher:pw@127.0.0.1:1883", "mqtt://launcher:***@127.0.0.1:1883"),
    ("see ftp://a:b@h/x and https://c:d@e/f.", "see ftp://a:***@h/x and https://c:***@e/f."),
    ("ftp://anonymous@host/file", "ftp://anonymous@host/file"),
    ("ws://127.0.0.1:9000/CP1", "ws://127.0.0.1:9000/CP1"),
    ("no url at all: 12:30", "no url at all: 12:30"),
])
def test_url_passwords_are_masked(given: str, expected: str) -> None:
    assert redact.text(given) == expected


def test_change_configuration_authorization_key_is_masked() -> None:
    frame = [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "0123456789abcdef"}]
    masked = redact.ocpp_message(frame)
    assert masked == [2, "1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": redact.MASK}]
    assert frame[3]["value"] == "0123456789abcdef", "the frame itself is not changed"
    other = [2, "2", "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "30"}]
    assert redact.ocpp_message(other) == other
    get = [2, "3", "GetConfiguration", {"key": ["AuthorizationKey", "HeartbeatInterval"]}]
    assert redact.ocpp_message(get) == get


def test_frames_are_decoded_and_masked_only_when_they_may_hold_a_secret() -> None:
    plain = '[2,"1","Heartbeat",{}]'
    assert redact.ocpp_frame(plain) == [2, "1", "Heartbeat", {}]
    change = '[2,"2","ChangeConfiguration",{"key":"AuthorizationKey","value":"k-0123456789"}]'
    assert redact.ocpp_frame(change)[3]["value"] == redact.MASK
    redact.register_secret("known-secret-77")
    assert redact.ocpp_frame('[2,"3","DataTransfer",{"vendorId":"v","data":"known-secret-77"}]')[3]["data"] == \
        redact.MASK
    with pytest.raises(ValueError):
        redact.ocpp_frame("not json")


def test_get_configuration_answer_and_201_variables_are_masked() -> None:
    answer = [3, "1", {"configurationKey": [{"key": "AuthorizationKey", "readonly": False, "value": "topsecret"},
                                            {"key": "HeartbeatInterval", "readonly": False, "value": "300"}]}]
    keys = redact.ocpp_message(answer)[2]["configurationKey"]
    assert [k["value"] for k in keys] == [redact.MASK, "300"]
    set_variables = [2, "2", "SetVariables", {"setVariableData": [
        {"attributeValue": "basicauthpass16", "component": {"name": "SecurityCtrlr"},
         "variable": {"name": "BasicAuthPassword"}},
        {"attributeValue": "60", "component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}]}]
    data = redact.ocpp_message(set_variables)[3]["setVariableData"]
    assert [d["attributeValue"] for d in data] == [redact.MASK, "60"]
    report = {"variable": {"name": "BasicAuthPassword"}, "variableAttribute": [{"type": "Actual", "value": "xyz1"}]}
    assert redact.ocpp_message(report)["variableAttribute"] == [{"type": "Actual", "value": redact.MASK}]


def test_firmware_and_network_profile_secrets_are_masked() -> None:
    update = [2, "3", "UpdateFirmware", {"location": "ftp://fw:hunter22@10.0.0.1/fw.bin", "retrieveDate": "x"}]
    assert redact.ocpp_message(update)[3]["location"] == "ftp://fw:***@10.0.0.1/fw.bin"
    profile = {"connectionData": {"ocppCsmsUrl": "wss://csms/", "apn": {"apn": "a", "apnPassword": "apnpw1"},
                                  "vpn": {"server": "s", "user": "u", "password": "vpnpw1", "key": "vpnkey1",
                                          "type": "IPSec"}}}
    data = redact.ocpp_message(profile)["connectionData"]
    assert data["apn"]["apnPassword"] == redact.MASK
    assert data["vpn"]["password"] == data["vpn"]["key"] == redact.MASK
    assert data["vpn"]["user"] == "u"


def test_registered_secrets_and_json_fields_are_masked_in_text() -> None:
    redact.register_secret("mqtt-pass-42")
    redact.register_secret("ab")  # too short to mask safely: ignored
    assert redact.text("login failed with mqtt-pass-42 for ab") == "login failed with *** for ab"
    echoed = json.dumps({"type": "start", "charge_points": [{"id": "X", "basic_auth_password": "cp-pass-9"}]})
    assert "cp-pass-9" not in redact.text(echoed)


def test_error_reports_never_echo_a_secret() -> None:
    raw = json.dumps({"type": "start", "charge_points": [{"id": "../x", "basic_auth_password": "p" * 300}]})
    report = ErrorReport.about("cp_simu/launcher/cmd", "bad id", raw)
    assert "ppp" not in report.payload


def test_log_filter_masks_messages_arguments_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    redact.install_log_filter(caplog.handler)
    try:
        raise ValueError("cannot reach ftp://diag:tracepw@host/")
    except ValueError:
        logger.exception("upload to %s failed", "ftp://diag:argpw@host/")
    text = caplog.text
    assert "argpw" not in text and "tracepw" not in text
    assert "ftp://diag:***@host/" in text


def test_config_dump_without_secret_keys() -> None:
    values = {"AuthorizationKey": "k", "HeartbeatInterval": "300", "SecurityCtrlr/BasicAuthPassword": "p",
              "SecurityCtrlr/SecurityProfile": "1"}
    assert redact.config_values(values) == {"HeartbeatInterval": "300", "SecurityCtrlr/SecurityProfile": "1"}
