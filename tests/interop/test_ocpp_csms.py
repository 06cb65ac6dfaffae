"""Charge points started through our launcher (fork server unless said otherwise) against
ocpp-csms 0.1.0 from PyPI, a Central System nobody here wrote, running as its own process.

Each test checks what the third-party CSMS saw (its events and the frames its own wire logger
recorded) and what our side published on MQTT.
"""

from __future__ import annotations

import time

import pytest

from tests.chargepoint.conftest import ANY, CAR, Driver
from tests.procs import wait_until

DC_CAR = {"cable": 200.0, "ready": True, "consumption_l1": 50_000.0}
DC = {"type": "DC", "nb_phases": 1, "voltage": 400.0, "max_setpoint": 150_000.0,
      "max_setpoint_per_connector": 150_000.0}
AC_MEASURANDS = {"Energy.Active.Import.Register", "Current.Import", "Current.Offered", "Power.Active.Import"}


def fleet(launcher_factory, fleet_template, *extra: str):
    return launcher_factory("--config", str(fleet_template), *extra)


def start(run, csms, cp_id: str = "CP1", **definition: object) -> Driver:
    run.start({"id": cp_id, "central_system": csms.url, **definition})
    run.wait_status(cp_id, "Accepted", 20)
    driver = Driver(run.rec, cp_id)
    driver.connector("Available")
    return driver


def measurands(event: dict) -> set[str]:
    return {r["measurand"] for r in event["readings"]}


def test_boot_distinct_identities_and_the_csms_heartbeat_interval(launcher_factory, fleet_template,
                                                                   ocpp_csms_factory):
    csms = ocpp_csms_factory("--heartbeat-interval", "2")
    run = fleet(launcher_factory, fleet_template)
    for cp_id in ("CP1", "CP2"):
        start(run, csms, cp_id, nb_connectors=2)
    boots = {cp_id: csms.wait_event("BootEvent", cp_id)["info"] for cp_id in ("CP1", "CP2")}
    assert {i: (b["serial_number"], b["meter_serial_number"]) for i, b in boots.items()} == {
        "CP1": ("SN-CP1", "MTR-CP1"), "CP2": ("SN-CP2", "MTR-CP2")}
    assert boots["CP1"]["vendor"] == "Open OCPP"
    wait_until(lambda: {e["connector"]["connector_id"] for e in csms.events("StatusEvent", "CP1")} == {0, 1, 2},
               10, what="StatusNotification of connectors 0, 1 and 2")
    assert all(e["connector"]["status"] == "Available" for e in csms.events("StatusEvent", "CP1"))

    # The interval the CSMS answered is the one the charge point keeps, and reports.
    wait_until(lambda: len(csms.received("Heartbeat", "CP1")) >= 2, 8, what="two heartbeats 2 s apart")
    config = csms.call("CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert config["configurationKey"][0]["value"] == "2"


def test_pending_then_triggered_boot_registers_at_once(launcher_factory, fleet_template, ocpp_csms_factory):
    csms = ocpp_csms_factory("--registration", "Pending")
    run = fleet(launcher_factory, fleet_template)
    run.start({"id": "CP1", "central_system": csms.url})
    run.wait_status("CP1", "Pending", 20)
    csms.wait_event("BootEvent", "CP1")
    assert not csms.events("StatusEvent", "CP1")  # nothing but BootNotification while Pending

    csms.set_registration("Accepted")
    assert csms.call("CP1", "TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
    # ocpp-csms told it to retry in 60 s: registration must not wait for that.
    run.wait_status("CP1", "Accepted", 5)
    csms.wait_event("StatusEvent", "CP1", timeout=5)
    assert len(csms.received("BootNotification", "CP1")) == 2
    driver = Driver(run.rec, "CP1")
    driver.car()
    driver.tag("TAG1")
    csms.wait_event("TransactionStartedEvent", "CP1", timeout=10)


@pytest.mark.parametrize("cp_type", ["AC", "DC"])
def test_session_with_the_default_meter_values(launcher_factory, fleet_template, ocpp_csms_factory, cp_type):
    csms = ocpp_csms_factory()
    run = fleet(launcher_factory, fleet_template)
    driver = start(run, csms, **(DC if cp_type == "DC" else {}))
    driver.car(**(DC_CAR if cp_type == "DC" else CAR))
    driver.tag("TAG1")
    charging = driver.connector("Charging", transaction_id=ANY)
    started = csms.wait_event("TransactionStartedEvent", "CP1")["transaction"]
    assert (started["id_tag"], started["connector_id"]) == ("TAG1", 1)
    assert charging["transaction_id"] == started["transaction_id"]

    # Shipped defaults: periodic MeterValues within 10 s, with what a real station reports.
    began = time.monotonic()
    periodic = csms.wait_event("MeterValuesEvent", "CP1", lambda e: e["transaction_id"] == started["transaction_id"]
                               and e["readings"][0]["context"] == "Sample.Periodic", timeout=15)
    assert time.monotonic() - began < 12
    expected = AC_MEASURANDS | ({"SoC", "Voltage"} if cp_type == "DC" else {"Voltage"})
    assert measurands(periodic) == expected
    power = next(r for r in periodic["readings"] if r["measurand"] == "Power.Active.Import")
    assert float(power["value"]) > 0
    if cp_type == "DC":
        soc = next(r for r in periodic["readings"] if r["measurand"] == "SoC")
        assert (soc["unit"], soc["location"]) == ("Percent", "EV")
        assert 0 < float(soc["value"]) <= 100
    else:
        phases = {r["phase"] for r in periodic["readings"] if r["measurand"] == "Current.Import"}
        assert phases == {"L1", "L2", "L3"}

    driver.car(cable=0)
    stopped = csms.wait_event("TransactionStoppedEvent", "CP1")["transaction"]
    assert stopped["transaction_id"] == started["transaction_id"]
    assert stopped["stop_reason"] == "EVDisconnected"
    assert stopped["meter_stop"] > stopped["meter_start"]
    driver.connector("Available")


def test_remote_start_and_stop(launcher_factory, fleet_template, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet(launcher_factory, fleet_template)
    driver = start(run, csms)
    driver.car()
    driver.connector("Preparing")
    assert csms.call("CP1", "RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 1}) == {
        "status": "Accepted"}
    started = csms.wait_event("TransactionStartedEvent", "CP1")["transaction"]
    assert started["id_tag"] == "REMOTE1"
    driver.connector("Charging")
    assert csms.call("CP1", "RemoteStopTransaction", {"transactionId": started["transaction_id"]}) == {
        "status": "Accepted"}
    stopped = csms.wait_event("TransactionStoppedEvent", "CP1")["transaction"]
    assert stopped["stop_reason"] == "Remote"
    driver.connector("Finishing")
    assert csms.call("CP1", "RemoteStopTransaction", {"transactionId": started["transaction_id"]}) == {
        "status": "Rejected"}


def tx_profile(limit: float, unit: str = "A", **profile: object) -> dict:
    return {"chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": unit,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}, **profile}


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_smart_charging_with_fractional_limits(launcher_factory, fleet_template, ocpp_csms_factory, spawn_mode):
    csms = ocpp_csms_factory()
    run = fleet(launcher_factory, fleet_template, "--spawn-mode", spawn_mode)
    driver = start(run, csms)
    driver.car()
    driver.connector("Preparing")
    # The limit a CSMS writes with a decimal point, in RemoteStart's own profile...
    reply = csms.call("CP1", "RemoteStartTransaction",
                      {"idTag": "REMOTE1", "connectorId": 1, "chargingProfile": tx_profile(10.0)})
    assert reply == {"status": "Accepted"}
    tx = csms.wait_event("TransactionStartedEvent", "CP1")["transaction"]["transaction_id"]
    driver.connector("Charging", ocpp_setpoint=10.0)

    # ... then a TxProfile for that transaction and the composite schedule that results.
    reply = csms.call("CP1", "SetChargingProfile",
                      {"connectorId": 1, "csChargingProfiles": tx_profile(16.5, transactionId=tx)})
    assert reply == {"status": "Accepted"}
    driver.connector("Charging", ocpp_setpoint=16.5)
    schedule = csms.call("CP1", "GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert schedule["status"] == "Accepted", schedule
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] == 16.5
    watts = csms.call("CP1", "GetCompositeSchedule", {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"})
    assert watts["status"] == "Accepted", watts

    # A charge-point-wide cap in W with a fraction, below the transaction's limit.
    cap = {"chargingProfileId": 8, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
           "chargingProfileKind": "Absolute", "chargingSchedule": {
               "chargingRateUnit": "W", "startSchedule": "2020-01-01T00:00:00Z",
               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5520.5}]}}
    assert csms.call("CP1", "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cap}) == {
        "status": "Accepted"}
    driver.connector("Charging", ocpp_setpoint=pytest.approx(5520.5 / 230 / 3, abs=0.05))
    assert csms.call("CP1", "ClearChargingProfile", {}) == {"status": "Accepted"}

    # Every answer arrived on the first connection: no request ended the session.
    assert len(csms.events("ConnectedEvent", "CP1")) == 1
    assert not csms.events("DisconnectedEvent", "CP1")


def test_reset_reboots_and_stops_the_session(launcher_factory, fleet_template, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet(launcher_factory, fleet_template)
    driver = start(run, csms)
    driver.start_session()
    tx = csms.wait_event("TransactionStartedEvent", "CP1")["transaction"]["transaction_id"]
    assert csms.call("CP1", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    stopped = csms.wait_event("TransactionStoppedEvent", "CP1")["transaction"]
    assert (stopped["transaction_id"], stopped["stop_reason"]) == (tx, "SoftReset")
    csms.wait_event("DisconnectedEvent", "CP1")
    wait_until(lambda: len(csms.events("BootEvent", "CP1")) == 2, 15, what="a BootNotification after the reset")
    run.wait_status("CP1", "Accepted")

    assert csms.call("CP1", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    wait_until(lambda: len(csms.events("BootEvent", "CP1")) == 3, 15, what="a BootNotification after the hard reset")


def test_offline_queue_delivered_after_a_csms_restart(launcher_factory, fleet_template, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet(launcher_factory, fleet_template)
    driver = start(run, csms)
    driver.start_session()
    tx = csms.wait_event("TransactionStartedEvent", "CP1")["transaction"]["transaction_id"]

    csms.process.stop()  # SIGTERM: ocpp-csms closes every connection and exits
    run.wait_status("CP1", "Disconnected")
    driver.car(cable=0)  # the session ends while the CSMS is away
    driver.connector("Available")
    time.sleep(1)  # a TransactionMessageRetryInterval: nothing may be dropped meanwhile

    csms.start()
    run.wait_status("CP1", "Accepted", 20)
    stop = wait_until(lambda: csms.received("StopTransaction", "CP1", latest_run=True), 15,
                      what="the queued StopTransaction at the restarted CSMS")
    assert len(stop) == 1
    assert stop[0]["transactionId"] == tx
    assert stop[0]["reason"] == "EVDisconnected"
    assert not csms.received("StartTransaction", "CP1", latest_run=True)  # nothing sent twice
