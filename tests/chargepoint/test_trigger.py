"""TriggerMessage end to end: each requested message follows the answer, for one connector or all;
the feature profiles a charge point offers, and what it answers for those it does not."""

from __future__ import annotations

from typing import Any

from tests.chargepoint.conftest import Driver, T, call, call_error, messages, wait_message
from tests.ocpp16_ext.profiles import charging_profile
from tests.procs import wait_until


def trigger(csms: Any, message: str, connector_id: int | None = None) -> str:
    request: dict[str, Any] = {"requestedMessage": message}
    if connector_id is not None:
        request["connectorId"] = connector_id
    return call(csms.api, "CP1", "TriggerMessage", request)["status"]


def count(csms: Any, action: str, predicate=lambda p: True) -> int:
    return sum(1 for p in messages(csms, action) if predicate(p))


def test_trigger_message(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2,
               ocpp={"MeterValuesSampledData": "Energy.Active.Import.Register,Current.Import"})
    ui.status("Accepted")
    wait_until(lambda: count(csms, "StatusNotification") == 3, what="the boot statuses")
    assert trigger(csms, "StatusNotification", 1) == "Accepted"
    wait_until(lambda: count(csms, "StatusNotification", lambda p: p["connectorId"] == 1) == 2,
               what="a triggered StatusNotification")
    journal = [(m["action"], m["message_type"]) for m in csms.messages(direction="in")]
    assert journal.index(("TriggerMessage", "call_result")) < len(journal) - 1  # the answer came first
    assert journal[-1] == ("StatusNotification", "call")
    assert trigger(csms, "StatusNotification") == "Accepted"
    wait_until(lambda: count(csms, "StatusNotification") == 7, what="every connector's status, 0 included")
    assert trigger(csms, "BootNotification") == "Accepted"
    wait_until(lambda: count(csms, "BootNotification") == 2, what="a triggered BootNotification")
    assert trigger(csms, "Heartbeat") == "Accepted"
    wait_until(lambda: count(csms, "Heartbeat") == 1, what="a triggered Heartbeat")
    for message in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
        assert trigger(csms, message) == "Accepted"
        assert wait_message(csms, message) == {"status": "Idle"}  # nothing in progress
    tx = ui.start_session(2)["transaction_id"]
    assert trigger(csms, "MeterValues", 2) == "Accepted"
    values = wait_message(csms, "MeterValues")
    assert values["connectorId"] == 2 and values["transactionId"] == tx
    assert {v["context"] for v in values["meterValue"][0]["sampledValue"]} == {"Trigger"}
    assert trigger(csms, "MeterValues") == "Accepted"
    wait_until(lambda: count(csms, "MeterValues") == 3, what="MeterValues of every connector")
    assert "transactionId" not in next(p for p in messages(csms, "MeterValues") if p["connectorId"] == 1)
    assert trigger(csms, "MeterValues", 0) == "Rejected"  # no main meter
    assert trigger(csms, "StatusNotification", 3) == "Rejected"


def test_feature_profiles_offered_and_left_out(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    cp_factory(csms.url, broker.url, "CORE", ocpp={"SupportedFeatureProfiles": "Core"})
    ui.status("Accepted")
    key = {"key": ["SupportedFeatureProfiles"]}
    offered = call(csms.api, "CP1", "GetConfiguration", key)["configurationKey"][0]["value"]
    assert set(offered.split(",")) == {"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation",
                                       "SmartCharging", "RemoteTrigger"}
    ui.wait(T.cp_status("CORE"), lambda d: d["status"] == "Accepted")
    assert call(csms.api, "CORE", "GetConfiguration", key)["configurationKey"][0]["value"] == "Core"
    profile = {"connectorId": 1, "csChargingProfiles": charging_profile()}
    assert call(csms.api, "CORE", "SetChargingProfile", profile) == {"status": "NotSupported"}
    reservation = {"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "T", "reservationId": 1}
    assert call(csms.api, "CORE", "ReserveNow", reservation) == {"status": "Rejected"}
    assert call(csms.api, "CORE", "SendLocalList", {"listVersion": 1, "updateType": "Full"}) == \
        {"status": "NotSupported"}
    assert call(csms.api, "CORE", "GetLocalListVersion") == {"listVersion": -1}
    assert call_error(csms.api, "CORE", "TriggerMessage", {"requestedMessage": "Heartbeat"}) == "NotSupported"
    assert call_error(csms.api, "CORE", "GetDiagnostics", {"location": "ftp://example.com/"}) == "NotSupported"
