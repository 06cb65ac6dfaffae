"""The 2.0.1 device model store: the shipped defaults, value checks, persistence, listeners."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from chargepoint.ocpp201.device_model import (
    Change,
    ComponentRef,
    DeviceModel,
    InvalidValue,
    Status,
    apply_definition,
    pages,
)
from cp_simu.config import ConfigError, load_config, write_instance_config
from cp_simu.device_model_file import DEVICE_MODEL_FILE, default_text
from cp_simu.models import ChargePointDefinition

REPO = Path(__file__).resolve().parents[2]

# Variables the OCPP 2.0.1 specification requires of the components we have (Part 2, referenced
# components and variables), as flat keys of EVSE 1.
REQUIRED = {
    "OCPPCommCtrlr": ["FileTransferProtocols", "MessageTimeout:Default", "MessageAttemptInterval:TransactionEvent",
                      "MessageAttempts:TransactionEvent", "NetworkConfigurationPriority",
                      "NetworkProfileConnectionAttempts", "OfflineThreshold", "ResetRetries",
                      "RetryBackOffRandomRange", "RetryBackOffRepeatTimes", "RetryBackOffWaitMinimum",
                      "UnlockOnEVSideDisconnect", "WebSocketPingInterval"],
    "AuthCtrlr": ["AuthorizeRemoteStart", "LocalAuthorizeOffline", "LocalPreAuthorize"],
    "LocalAuthListCtrlr": ["Entries", "ItemsPerMessage", "BytesPerMessage"],
    "TxCtrlr": ["EVConnectionTimeOut", "StopTxOnEVSideDisconnect", "StopTxOnInvalidId", "TxStartPoint",
                "TxStopPoint"],
    "SampledDataCtrlr": ["TxEndedMeasurands", "TxEndedInterval", "TxStartedMeasurands", "TxUpdatedMeasurands",
                         "TxUpdatedInterval"],
    "AlignedDataCtrlr": ["Interval", "Measurands", "TxEndedInterval", "TxEndedMeasurands"],
    "SmartChargingCtrlr": ["Entries:ChargingProfiles", "LimitChangeSignificance", "PeriodsPerSchedule",
                           "ProfileStackLevel", "RateUnit"],
    "SecurityCtrlr": ["OrganizationName", "CertificateEntries", "SecurityProfile"],
    "DeviceDataCtrlr": ["BytesPerMessage:GetReport", "BytesPerMessage:GetVariables", "BytesPerMessage:SetVariables",
                        "ItemsPerMessage:GetReport", "ItemsPerMessage:GetVariables", "ItemsPerMessage:SetVariables"],
    "ClockCtrlr": ["DateTime", "TimeSource"],
    "ChargingStation": ["AvailabilityState", "Available", "SupplyPhases"],
    "EVSE@1": ["AvailabilityState", "Available", "Power", "SupplyPhases"],
    "Connector@1.1": ["AvailabilityState", "Available", "ConnectorType", "SupplyPhases"],
}
COMPONENTS = ["OCPPCommCtrlr", "AuthCtrlr", "AuthCacheCtrlr", "LocalAuthListCtrlr", "TxCtrlr", "SampledDataCtrlr",
              "AlignedDataCtrlr", "SmartChargingCtrlr", "ReservationCtrlr", "SecurityCtrlr", "DeviceDataCtrlr",
              "ClockCtrlr", "ChargingStation", "EVSE", "Connector"]


@pytest.fixture
def model(tmp_path: Path) -> DeviceModel:
    return DeviceModel.load(tmp_path, nb_evse=2)


def reloaded(model: DeviceModel) -> DeviceModel:
    assert model.path is not None
    return DeviceModel.load(model.path.parent, nb_evse=2)


def test_shipped_defaults_are_the_repository_file_and_hold_every_required_variable(model: DeviceModel):
    assert (REPO / DEVICE_MODEL_FILE).read_text() == default_text()
    names = {v.component.name for v in model}
    assert set(COMPONENTS) <= names
    missing = [f"{c}/{v}" for c, vs in REQUIRED.items() for v in vs if f"{c}/{v}" not in model]
    assert not missing
    # ...and the file says so itself (the docs' table shows it).
    assert all(model.variable(f"{c}/{v}").required for c, vs in REQUIRED.items() for v in vs)


def test_per_evse_components_are_expanded_and_written_back(model: DeviceModel):
    keys = set(model.flat())
    assert {"EVSE@1/AvailabilityState", "EVSE@2/AvailabilityState", "Connector@2.1/ConnectorType"} <= keys
    assert "EVSE@3/AvailabilityState" not in keys
    document = json.loads(model.path.read_text())  # type: ignore[union-attr]
    assert not any("scope" in c for c in document["components"])
    assert [c["evse"] for c in document["components"] if c["name"] == "Connector"] == [
        {"id": 1, "connectorId": 1}, {"id": 2, "connectorId": 1}]
    assert stat.S_IMODE(model.path.stat().st_mode) == 0o600  # type: ignore[union-attr]


def test_flat_view_has_actual_values_and_never_a_write_only_one(model: DeviceModel):
    flat = model.flat()
    assert flat["OCPPCommCtrlr/HeartbeatInterval"] == "300"
    assert flat["OCPPCommCtrlr/MessageAttempts:TransactionEvent"] == "3"
    assert flat["EVSE@1/AvailabilityState"] == "Available"
    assert not any(k.endswith("/BasicAuthPassword") for k in flat)
    assert model.actual("SecurityCtrlr/BasicAuthPassword") is None
    assert model.actual("NoSuchCtrlr/Nothing") is None
    model.set_actual("OCPPCommCtrlr/HeartbeatInterval", 90)
    assert model.actual("OCPPCommCtrlr/HeartbeatInterval") == "90"


@pytest.mark.parametrize(("key", "value", "stored"), [
    ("OCPPCommCtrlr/HeartbeatInterval", "120", "120"),
    ("OCPPCommCtrlr/HeartbeatInterval", "+60", "60"),
    ("SmartChargingCtrlr/LimitChangeSignificance", "16.5", "16.5"),
    ("SmartChargingCtrlr/LimitChangeSignificance", "10.0", "10.0"),
    ("AuthCtrlr/LocalPreAuthorize", "TRUE", "true"),
    ("SampledDataCtrlr/TxEndedMeasurands", "Voltage, Current.Import", "Voltage,Current.Import"),
    ("SampledDataCtrlr/TxEndedMeasurands", "", ""),
    ("ClockCtrlr/TimeSource", "NTP,Heartbeat", "NTP,Heartbeat"),
])
def test_accepted_values_are_stored_in_canonical_form(model: DeviceModel, key: str, value: str, stored: str):
    v = model.variable(key)
    [result] = model.set_many([Change(v.component, v.name, value, v.instance)])
    assert result.status is Status.ACCEPTED
    assert model.value(key) == stored
    assert reloaded(model).value(key) == stored


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("OCPPCommCtrlr/HeartbeatInterval", "1.5", "InvalidValue"),
    ("OCPPCommCtrlr/HeartbeatInterval", "abc", "InvalidValue"),
    ("OCPPCommCtrlr/HeartbeatInterval", "３０", "InvalidValue"),  # int() reads full-width and Arabic-Indic digits
    ("OCPPCommCtrlr/HeartbeatInterval", "1_0", "InvalidValue"),
    ("OCPPCommCtrlr/HeartbeatInterval", "2147483648", "InvalidValue"),  # 32 bits
    ("OCPPCommCtrlr/HeartbeatInterval", "0", "ValueTooLow"),
    ("SmartChargingCtrlr/LimitChangeSignificance", "nan", "InvalidValue"),
    ("AuthCtrlr/LocalPreAuthorize", "yes", "InvalidValue"),
    ("SampledDataCtrlr/TxEndedMeasurands", "Sunrise", "NotInValuesList"),
    ("AlignedDataCtrlr/Measurands", "Voltage,Voltage", "InvalidValue"),
    ("TxCtrlr/TxStartPoint", "EnergyTransfer", "NotInValuesList"),  # start points not simulated
    ("TxCtrlr/TxStopPoint", "EVConnected", "ReadOnly"),
    ("SampledDataCtrlr/TxUpdatedMeasurands", "Energy.Reactive.Import.Register", "NotInValuesList"),
    ("SecurityCtrlr/BasicAuthPassword", "short", "ValueTooLow"),
    ("OCPPCommCtrlr/FileTransferProtocols", "FTP", "ReadOnly"),
])
def test_refused_values_are_rejected_with_a_reason_and_leave_the_value(model: DeviceModel, key: str, value: str,
                                                                       reason: str):
    v = model.variable(key)
    before = dict(model.flat())
    [result] = model.set_many([Change(v.component, v.name, value, v.instance)])
    assert (result.status, result.reason) == (Status.REJECTED, reason)
    assert model.flat() == before == reloaded(model).flat()


def test_lookup_statuses(model: DeviceModel):
    get = model.get
    assert get(ComponentRef("OCPPCommCtrlr"), "HeartbeatInterval").value == "300"
    assert get(ComponentRef("NoSuchCtrlr"), "HeartbeatInterval").status is Status.UNKNOWN_COMPONENT
    assert get(ComponentRef("OCPPCommCtrlr"), "NoSuchVariable").status is Status.UNKNOWN_VARIABLE
    assert get(ComponentRef("OCPPCommCtrlr"), "MessageAttempts").status is Status.UNKNOWN_VARIABLE  # instance missing
    assert get(ComponentRef("OCPPCommCtrlr"), "HeartbeatInterval", attribute="Target").status is \
        Status.NOT_SUPPORTED_ATTRIBUTE_TYPE
    assert get(ComponentRef("EVSE"), "AvailabilityState").status is Status.UNKNOWN_COMPONENT  # which EVSE?
    assert get(ComponentRef("EVSE", evse=2), "AvailabilityState").value == "Available"
    assert get(ComponentRef("EVSE", evse=3), "AvailabilityState").status is Status.UNKNOWN_COMPONENT
    assert get(ComponentRef("EVSE", evse=1), "Power", attribute="MaxSet").status is Status.ACCEPTED
    password = get(ComponentRef("SecurityCtrlr"), "BasicAuthPassword")
    assert (password.status, password.value) == (Status.REJECTED, None)


def test_reboot_required_is_stored_but_not_announced(model: DeviceModel):
    heard: list[tuple[str, str]] = []
    model.listeners.append(lambda key, value: heard.append((key, value)))
    results = model.set_many([
        Change(ComponentRef("OCPPCommCtrlr"), "NetworkConfigurationPriority", "2,1"),
        Change(ComponentRef("OCPPCommCtrlr"), "HeartbeatInterval", "42"),
    ])
    assert [r.status for r in results] == [Status.REBOOT_REQUIRED, Status.ACCEPTED]
    assert heard == [("OCPPCommCtrlr/HeartbeatInterval", "42")]
    assert reloaded(model).value("OCPPCommCtrlr/NetworkConfigurationPriority") == "2,1"


def test_station_updates_provided_values_and_listener_errors(model: DeviceModel):
    heard: list[str] = []

    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    model.listeners += [broken, lambda key, value: heard.append(f"{key}={value}")]
    model.update("EVSE@1/AvailabilityState", "Occupied")  # read-only for the CSMS, the station owns it
    assert heard == ["EVSE@1/AvailabilityState=Occupied"]
    assert reloaded(model).value("EVSE@1/AvailabilityState") == "Occupied"
    with pytest.raises(InvalidValue):
        model.update("EVSE@1/AvailabilityState", "Sleeping")
    model.provide("EVSE@1/Power", lambda: 7360.0)
    assert model.flat()["EVSE@1/Power"] == "7360"
    assert reloaded(model).value("EVSE@1/Power") == "0"  # live values are never stored


def test_definition_values(tmp_path: Path):
    model = DeviceModel.load(tmp_path, nb_evse=1)
    apply_definition(model, ChargePointDefinition.from_dict(
        {"id": "CP7", "type": "AC", "nb_phases": 1, "voltage": 230.0, "max_setpoint_per_connector": 16.0,
         "vendor": "ACME", "model": "Wallbox"}))
    flat = model.flat()
    assert (flat["ChargingStation/VendorName"], flat["ChargingStation/Model"]) == ("ACME", "Wallbox")
    assert flat["EVSE@1/SupplyPhases"] == flat["Connector@1.1/SupplyPhases"] == "1"
    assert model.value("EVSE@1/Power", "MaxSet") == "3680"
    assert model.variable("EVSE@1/Power").characteristics.max_limit == 3680.0
    assert flat["SecurityCtrlr/Identity"] == "CP7"


def test_launcher_copies_the_defaults_for_201_only_and_a_template_beside_config_wins(tmp_path: Path):
    template = load_config(None)
    write_instance_config(template, ChargePointDefinition.from_dict({"id": "A", "ocpp_version": "2.0.1"}),
                          tmp_path / "A")
    write_instance_config(template, ChargePointDefinition.from_dict({"id": "B"}), tmp_path / "B")
    assert (tmp_path / "A" / DEVICE_MODEL_FILE).read_text() == default_text()
    assert not (tmp_path / "B" / DEVICE_MODEL_FILE).exists()

    custom = json.loads(default_text())
    custom["components"][0]["variables"][0]["description"] = "custom template"
    (tmp_path / "config.ini").write_text((REPO / "config.ini").read_text())
    (tmp_path / DEVICE_MODEL_FILE).write_text(json.dumps(custom))
    write_instance_config(load_config(tmp_path / "config.ini"),
                          ChargePointDefinition.from_dict({"id": "C", "ocpp_version": "2.0.1"}), tmp_path / "C")
    assert "custom template" in (tmp_path / "C" / DEVICE_MODEL_FILE).read_text()

    custom["components"][0]["variables"][0]["attributes"][0]["mutability"] = "Sometimes"
    (tmp_path / DEVICE_MODEL_FILE).write_text(json.dumps(custom))
    with pytest.raises(ConfigError, match=f"{tmp_path / DEVICE_MODEL_FILE}: components/0/variables/0/attributes/0"):
        write_instance_config(load_config(tmp_path / "config.ini"),
                              ChargePointDefinition.from_dict({"id": "D", "ocpp_version": "2.0.1"}), tmp_path / "D")
    assert not (tmp_path / "D" / "config.ini").exists()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["components"][0].pop("variables"), "'variables' is a required property"),
    (lambda d: d["components"][0]["variables"][0]["characteristics"].update(dataType="float"), "dataType"),
    (lambda d: d["components"][0]["variables"][0]["attributes"][0].update(type="Wished"), "type"),
    (lambda d: d["components"][1]["variables"].append(d["components"][1]["variables"][0]), "appears twice"),
    (lambda d: d["components"][0]["variables"][0]["attributes"][0].update(value="Sleeping"), "Sleeping"),
])
def test_invalid_files_are_refused_with_where(tmp_path: Path, edit, message: str):
    document = json.loads(default_text())
    edit(document)
    (tmp_path / DEVICE_MODEL_FILE).write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=message) as info:
        DeviceModel.load(tmp_path, nb_evse=1)
    assert DEVICE_MODEL_FILE in str(info.value)
    (tmp_path / DEVICE_MODEL_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="not JSON"):
        DeviceModel.load(tmp_path, nb_evse=1)


def test_reports_select_and_page(model: DeviceModel):
    full = model.base_report("FullInventory")
    assert full is not None and len(full) == len(model)
    configuration = model.base_report("ConfigurationInventory")
    assert configuration is not None
    assert "OCPPCommCtrlr/HeartbeatInterval" in {v.key for v in configuration}
    assert "OCPPCommCtrlr/FileTransferProtocols" not in {v.key for v in configuration}
    summary = model.base_report("SummaryInventory")
    assert summary is not None and {v.name for v in summary} <= {"AvailabilityState", "Available", "Problem"}
    assert model.base_report("Everything") is None

    picked = model.custom_report([(ComponentRef("EVSE"), "AvailabilityState", None)], [])
    assert [v.key for v in picked] == ["EVSE@1/AvailabilityState", "EVSE@2/AvailabilityState"]
    picked = model.custom_report([(ComponentRef("EVSE", evse=2), None, None)], [])
    assert {v.component.evse for v in picked} == {2} and len(picked) == 5
    model.update("ChargingStation/Problem", "true")
    assert {v.component.name for v in model.custom_report([], ["Problem"])} == {"ChargingStation"}
    assert model.custom_report([(ComponentRef("TxCtrlr"), None, None)], ["Problem"]) == []

    data = [model.report_data(v) for v in full]
    password = next(d for d in data if d["variable"]["name"] == "BasicAuthPassword")
    assert "value" not in password["variableAttribute"][0]
    split = pages(data, 20, 65536)
    assert [len(p) for p in split[:-1]] == [20] * (len(split) - 1) and sum(map(len, split)) == len(data)
    assert all(len(json.dumps(p, separators=(",", ":"))) < 2000 for p in pages(data, 1000, 2000) if len(p) > 1)
