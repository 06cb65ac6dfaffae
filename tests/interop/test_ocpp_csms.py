"""Charge points started through our launcher (fork server unless said otherwise) against
ocpp-csms 0.1.0 from PyPI, a Central System nobody here wrote, running as its own process.

Each test checks what the third-party CSMS saw (its events and the frames its own wire logger
recorded) and what our side published on MQTT. The tests share one launcher (`fleet`), each
with its own charge point ids and its own ocpp-csms.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.chargepoint.conftest import ANY, CAR, Driver
from tests.launcher.conftest import BOOT_WAIT, TOPICS
from tests.procs import wait_until

# one worker runs this module: its tests share a module-scoped fixture
pytestmark = pytest.mark.xdist_group("interop")

DC_CAR = {"cable": 200.0, "ready": True, "consumption_l1": 50_000.0}
DC = {"type": "DC", "nb_phases": 1, "voltage": 400.0, "max_setpoint": 150_000.0,
      "max_setpoint_per_connector": 150_000.0}
AC_MEASURANDS = {"Energy.Active.Import.Register", "Current.Import", "Current.Offered", "Power.Active.Import"}


def start(run, csms, cp_id: str, **definition: object) -> Driver:
    run.start({"id": cp_id, "central_system": csms.url, **definition})
    run.wait_status(cp_id, "Accepted", BOOT_WAIT)
    driver = Driver(run.rec, cp_id)
    driver.connector("Available")
    return driver


def measurands(event: dict) -> set[str]:
    return {r["measurand"] for r in event["readings"]}


def test_boot_distinct_identities_and_the_csms_heartbeat_interval(fleet, ocpp_csms_factory):
    csms = ocpp_csms_factory("--heartbeat-interval", "2")
    run = fleet
    for cp_id in ("BOOT1", "BOOT2"):
        start(run, csms, cp_id, nb_connectors=2)
    boots = {cp_id: csms.wait_event("BootEvent", cp_id)["info"] for cp_id in ("BOOT1", "BOOT2")}
    assert {i: (b["serial_number"], b["meter_serial_number"]) for i, b in boots.items()} == {
        "BOOT1": ("SN-BOOT1", "MTR-BOOT1"), "BOOT2": ("SN-BOOT2", "MTR-BOOT2")}
    assert boots["BOOT1"]["vendor"] == "Open OCPP"
    wait_until(lambda: {e["connector"]["connector_id"] for e in csms.events("StatusEvent", "BOOT1")} == {0, 1, 2},
               10, what="StatusNotification of connectors 0, 1 and 2")
    assert all(e["connector"]["status"] == "Available" for e in csms.events("StatusEvent", "BOOT1"))

    # The interval the CSMS answered is the one the charge point keeps, and reports.
    wait_until(lambda: len(csms.received("Heartbeat", "BOOT1")) >= 2, 8, what="two heartbeats 2 s apart")
    config = csms.call("BOOT1", "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert config["configurationKey"][0]["value"] == "2"


def test_pending_then_triggered_boot_registers_at_once(fleet, ocpp_csms_factory):
    csms = ocpp_csms_factory("--registration", "Pending")
    run = fleet
    run.start({"id": "PENDING1", "central_system": csms.url})
    run.wait_status("PENDING1", "Pending", BOOT_WAIT)
    csms.wait_event("BootEvent", "PENDING1")
    assert not csms.events("StatusEvent", "PENDING1")  # nothing but BootNotification while Pending

    csms.set_registration("Accepted")
    assert csms.call("PENDING1", "TriggerMessage", {"requestedMessage": "BootNotification"}) == {"status": "Accepted"}
    # ocpp-csms told it to retry in 60 s: registration must not wait for that.
    run.wait_status("PENDING1", "Accepted", 5)
    csms.wait_event("StatusEvent", "PENDING1", timeout=5)
    assert len(csms.received("BootNotification", "PENDING1")) == 2
    driver = Driver(run.rec, "PENDING1")
    driver.car()
    driver.tag("TAG1")
    csms.wait_event("TransactionStartedEvent", "PENDING1", timeout=10)


@pytest.mark.parametrize("cp_type", ["AC", "DC"])
def test_session_with_the_default_meter_values(fleet, ocpp_csms_factory, cp_type):
    csms = ocpp_csms_factory()
    run = fleet
    cp_id = f"SESSION_{cp_type}"
    driver = start(run, csms, cp_id, **(DC if cp_type == "DC" else {}))
    driver.car(**(DC_CAR if cp_type == "DC" else CAR))
    driver.tag("TAG1")
    charging = driver.connector("Charging", transaction_id=ANY)
    started = csms.wait_event("TransactionStartedEvent", cp_id)["transaction"]
    assert (started["id_tag"], started["connector_id"]) == ("TAG1", 1)
    assert charging["transaction_id"] == started["transaction_id"]

    # Shipped defaults: periodic MeterValues every 10 s (15 s allows for a loaded machine),
    # with what a real station reports.
    periodic = csms.wait_event("MeterValuesEvent", cp_id, lambda e: e["transaction_id"] == started["transaction_id"]
                               and e["readings"][0]["context"] == "Sample.Periodic", timeout=15)
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
    stopped = csms.wait_event("TransactionStoppedEvent", cp_id)["transaction"]
    assert stopped["transaction_id"] == started["transaction_id"]
    assert stopped["stop_reason"] == "EVDisconnected"
    assert stopped["meter_stop"] > stopped["meter_start"]
    driver.connector("Available")


def test_remote_start_and_stop(fleet, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet
    driver = start(run, csms, "REMOTE1")
    driver.car()
    driver.connector("Preparing")
    assert csms.call("REMOTE1", "RemoteStartTransaction", {"idTag": "REMOTE1", "connectorId": 1}) == {
        "status": "Accepted"}
    started = csms.wait_event("TransactionStartedEvent", "REMOTE1")["transaction"]
    assert started["id_tag"] == "REMOTE1"
    driver.connector("Charging", transaction_id=started["transaction_id"])
    assert csms.call("REMOTE1", "RemoteStopTransaction", {"transactionId": started["transaction_id"]}) == {
        "status": "Accepted"}
    stopped = csms.wait_event("TransactionStoppedEvent", "REMOTE1")["transaction"]
    assert stopped["stop_reason"] == "Remote"
    driver.connector("Finishing")
    assert csms.call("REMOTE1", "RemoteStopTransaction", {"transactionId": started["transaction_id"]}) == {
        "status": "Rejected"}


def tx_profile(limit: float, unit: str = "A", **profile: object) -> dict:
    return {"chargingProfileId": 7, "stackLevel": 1, "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": unit,
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}, **profile}


def test_smart_charging_with_fractional_limits(fleet, ocpp_csms_factory):
    fractional_limits(fleet, ocpp_csms_factory(), "SMART_FORK")


def test_smart_charging_with_fractional_limits_in_subprocess_mode(launcher_factory, fleet_template,
                                                                   ocpp_csms_factory):
    run = launcher_factory("--config", str(fleet_template), "--spawn-mode", "subprocess")
    fractional_limits(run, ocpp_csms_factory(), "SMART_SUBPROCESS")


def fractional_limits(run, csms, cp_id: str) -> None:
    """Decimal limits in every request that carries one, and the answers that carry them back."""
    driver = start(run, csms, cp_id)
    driver.car()
    driver.connector("Preparing")
    # The limit a CSMS writes with a decimal point, in RemoteStart's own profile...
    reply = csms.call(cp_id, "RemoteStartTransaction",
                      {"idTag": "REMOTE1", "connectorId": 1, "chargingProfile": tx_profile(10.0)})
    assert reply == {"status": "Accepted"}
    tx = csms.wait_event("TransactionStartedEvent", cp_id)["transaction"]["transaction_id"]
    # ocpp-csms reports the start before the charge point has its answer: wait for the id.
    driver.connector("Charging", ocpp_setpoint=10.0, transaction_id=tx)

    # ... then a TxProfile for that transaction and the composite schedule that results.
    reply = csms.call(cp_id, "SetChargingProfile",
                      {"connectorId": 1, "csChargingProfiles": tx_profile(16.5, transactionId=tx)})
    assert reply == {"status": "Accepted"}
    driver.connector("Charging", ocpp_setpoint=16.5)
    schedule = csms.call(cp_id, "GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert schedule["status"] == "Accepted", schedule
    # From now on (the schedule starts at the whole second, maybe a moment before the session).
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"][-1]["limit"] == 16.5, schedule
    watts = csms.call(cp_id, "GetCompositeSchedule", {"connectorId": 1, "duration": 600, "chargingRateUnit": "W"})
    assert watts["status"] == "Accepted", watts

    # A charge-point-wide cap in W with a fraction, below the transaction's limit.
    cap = {"chargingProfileId": 8, "stackLevel": 0, "chargingProfilePurpose": "ChargePointMaxProfile",
           "chargingProfileKind": "Absolute", "chargingSchedule": {
               "chargingRateUnit": "W", "startSchedule": "2020-01-01T00:00:00Z",
               "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5520.5}]}}
    assert csms.call(cp_id, "SetChargingProfile", {"connectorId": 0, "csChargingProfiles": cap}) == {
        "status": "Accepted"}
    capped = driver.connector("Charging", ocpp_setpoint=pytest.approx(5520.5 / 230 / 3, abs=0.05))
    assert capped["ocpp_setpoint"] == round(capped["ocpp_setpoint"], 3), "published rounded, as setpoint is"
    assert csms.call(cp_id, "ClearChargingProfile", {}) == {"status": "Accepted"}

    # Every answer arrived on the first connection: no request ended the session.
    assert len(csms.events("ConnectedEvent", cp_id)) == 1
    assert not csms.events("DisconnectedEvent", cp_id)


def test_reset_reboots_and_stops_the_session(fleet, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet
    driver = start(run, csms, "RESET1")
    driver.start_session()
    tx = csms.wait_event("TransactionStartedEvent", "RESET1")["transaction"]["transaction_id"]
    assert csms.call("RESET1", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    stopped = csms.wait_event("TransactionStoppedEvent", "RESET1")["transaction"]
    assert (stopped["transaction_id"], stopped["stop_reason"]) == (tx, "SoftReset")
    csms.wait_event("DisconnectedEvent", "RESET1")
    wait_until(lambda: len(csms.events("BootEvent", "RESET1")) == 2, 15, what="a BootNotification after the reset")
    driver.status("Accepted")  # registered again (statuses published since the session started)

    assert csms.call("RESET1", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    wait_until(lambda: len(csms.events("BootEvent", "RESET1")) == 3, 15, what="a BootNotification after the hard reset")


def test_offline_queue_delivered_after_a_csms_restart(fleet, ocpp_csms_factory):
    csms = ocpp_csms_factory()
    run = fleet
    driver = start(run, csms, "OFFLINE1")
    driver.start_session()
    tx = csms.wait_event("TransactionStartedEvent", "OFFLINE1")["transaction"]["transaction_id"]

    csms.process.stop()  # SIGTERM: ocpp-csms closes every connection and exits
    run.wait_status("OFFLINE1", "Disconnected")
    driver.car(cable=0)  # the session ends while the CSMS is away
    driver.connector("Available")
    time.sleep(1)  # a TransactionMessageRetryInterval: nothing may be dropped meanwhile

    csms.start()
    run.wait_status("OFFLINE1", "Accepted", 20)
    stop = wait_until(lambda: csms.received("StopTransaction", "OFFLINE1", latest_run=True), 15,
                      what="the queued StopTransaction at the restarted CSMS")
    assert len(stop) == 1
    assert stop[0]["transactionId"] == tx
    assert stop[0]["reason"] == "EVDisconnected"
    assert not csms.received("StartTransaction", "OFFLINE1", latest_run=True)  # nothing sent twice


def test_url_template_with_basic_auth_as_ocpp_csms_checks_it(fleet, ocpp_csms_factory):
    """ocpp-csms (security profile 1) takes the id from the last path segment, trailing slash or
    not, and wants it as the Basic-auth user: `{id}` in both places of `central_system`."""
    password = "interop-Pa55w0rd"
    csms = ocpp_csms_factory("--password", password)
    template = f"ws://{{id}}:{{password}}@127.0.0.1:{csms.port}/ws/ocpp/{{id}}/"
    fleet.start({"id": "AUTH_OK", "central_system": template.replace("{password}", password)},
                {"id": "AUTH_BAD", "central_system": template.replace("{password}", "not-it")})
    accepted = fleet.wait_status("AUTH_OK", "Accepted", BOOT_WAIT)
    assert csms.wait_event("BootEvent", "AUTH_OK")["info"]["serial_number"] == "SN-AUTH_OK"
    refused = fleet.rec.wait_json(TOPICS.cp_status("AUTH_BAD"), lambda d: "HTTP 401" in d.get("reason", ""), 20)
    assert not csms.events(cp_id="AUTH_BAD")
    for status in (accepted, refused):
        assert password not in json.dumps(status)
        assert status["central_system"].startswith("ws://{id}:***@")
    for cp_id in ("AUTH_OK", "AUTH_BAD"):
        assert password not in (fleet.instance(cp_id) / "chargepoint.log").read_text()


def test_security_profile_1_with_the_id_template(fleet, ocpp_csms_factory):
    """The way to give the password (arthexis's set-up too): the security settings, the user
    being the charge point id; the URL names only where the id goes."""
    password = "profile1-Pa55w0rd"
    csms = ocpp_csms_factory("--password", password)
    fleet.start({"id": "PROFILE1", "central_system": f"ws://127.0.0.1:{csms.port}/ws/ocpp/{{id}}/",
                 "security_profile": 1, "basic_auth_password": password})
    fleet.wait_status("PROFILE1", "Accepted", BOOT_WAIT)
    csms.wait_event("BootEvent", "PROFILE1")
    driver = Driver(fleet.rec, "PROFILE1")
    driver.start_session()
    csms.wait_event("TransactionStartedEvent", "PROFILE1")
    assert password not in (fleet.instance("PROFILE1") / "chargepoint.log").read_text()
