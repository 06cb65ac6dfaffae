"""Numbers as CSMSs write them, end to end: the real demo CSMS sends through its control API
to a real 2.0.1 station that the real launcher started (fork server, subprocess, packed).

Integers written `120.0` (Java, C#, JavaScript peers) are integers under the schemas' draft-06
and must be handled as ints; a charging profile comes back from GetChargingProfiles exactly as
it was set. Values are compared as JSON text (`exact`), since `1 == 1.0` in Python."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chargepoint.conftest import CAR, assert_frames_valid, call, call_error, messages, wait_message
from tests.launcher.conftest import BOOT_WAIT, TOPICS, definition, fleet_dir, launcher_factory  # noqa: F401
from tests.procs import wait_until

MODES = [("--spawn-mode", "fork"), ("--spawn-mode", "subprocess"), ("--cps-per-process", "4")]
MODE_IDS = ["fork", "subprocess", "packed"]


def exact(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def start_station(launcher_factory, csms, cp_id: str, mode: tuple[str, ...]):  # noqa: F811
    run = launcher_factory(*mode)
    run.start(definition(cp_id, csms.url, ocpp_version="2.0.1", nb_connectors=2))
    run.wait_status(cp_id, "Accepted", timeout=BOOT_WAIT)
    return run


def profiles_reported(csms, cp_id: str, request_id: int) -> dict[int, list[dict[str, Any]]]:
    """The profiles of the ReportChargingProfiles answering that request, by EVSE (every page)."""
    def pages() -> list[dict[str, Any]] | None:
        found = [p for p in messages(csms, "ReportChargingProfiles", cp_id) if p["requestId"] == request_id]
        return found if found and not found[-1].get("tbc") else None

    found = wait_until(pages, what=f"the last ReportChargingProfiles of request {request_id}")
    return {page["evseId"]: page["chargingProfile"] for page in found}  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES, ids=MODE_IDS)
def test_integers_written_with_a_decimal_point_are_accepted_and_handled_as_ints(
        launcher_factory, csms, mode: tuple[str, str]) -> None:  # noqa: F811
    run = start_station(launcher_factory, csms, "INT1", mode)

    schedule = call(csms.api, "INT1", "GetCompositeSchedule", {"evseId": 1.0, "duration": 120.0})
    assert schedule["status"] == "Accepted"
    assert exact([schedule["schedule"]["evseId"], schedule["schedule"]["duration"]]) == "[1, 120]"

    assert call(csms.api, "INT1", "ChangeAvailability",
                {"operationalStatus": "Inoperative", "evse": {"id": 1.0}}) == {"status": "Accepted"}
    unavailable = wait_message(csms, "StatusNotification", lambda p: p["connectorStatus"] == "Unavailable", cp="INT1")
    assert exact([unavailable["evseId"], unavailable["connectorId"]]) == "[1, 1]"
    assert call(csms.api, "INT1", "ChangeAvailability",
                {"operationalStatus": "Operative", "evse": {"id": 1.0}}) == {"status": "Accepted"}

    profile = {"id": 7.0, "stackLevel": 0.0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Relative", "chargingSchedule": [
                   {"id": 1.0, "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0.0, "limit": 10.0}]}]}
    assert call(csms.api, "INT1", "SetChargingProfile", {"evseId": 1.0, "chargingProfile": profile}) == {
        "status": "Accepted"}
    run.rec.wait_json(TOPICS.connector_status("INT1", 1), lambda d: d["ocpp_setpoint"] == 10.0)  # applied
    assert call(csms.api, "INT1", "GetChargingProfiles",
                {"requestId": 3.0, "chargingProfile": {"chargingProfileId": [7.0]}}) == {"status": "Accepted"}
    report = wait_message(csms, "ReportChargingProfiles", lambda p: p["requestId"] == 3, cp="INT1")
    assert exact([report["requestId"], report["evseId"]]) == "[3, 1]"
    assert exact(report["chargingProfile"]) == exact([{
        "id": 7, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": "A",
                              "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}]}]}])

    # 120.5 is no integer under any draft: refused by the CSMS, and by the station when sent anyway
    refused = call_error(csms.api, "INT1", "GetCompositeSchedule?validate=0", {"evseId": 1, "duration": 120.5})
    assert refused == "TypeConstraintViolation"
    with pytest.raises(AssertionError, match="invalid_payload"):
        call(csms.api, "INT1", "GetCompositeSchedule", {"evseId": 1, "duration": 120.5})

    assert len(messages(csms, "BootNotification", "INT1")) == 1  # one session throughout
    assert assert_frames_valid(run.instance("INT1"), "2.0.1") > 0


FRACTIONAL_PERIODS = [{"startPeriod": 0, "limit": 16}, {"startPeriod": 60, "limit": 6.5, "numberPhases": 1,
                                                        "phaseToUse": 1}]
SALES_TARIFF = {"id": 4, "salesTariffDescription": "night", "numEPriceLevels": 2, "salesTariffEntry": [
    {"relativeTimeInterval": {"start": 0, "duration": 3600}, "ePriceLevel": 1,
     "consumptionCost": [{"startValue": 0.1, "cost": [{"costKind": "RelativePricePercentage", "amount": 5,
                                                       "amountMultiplier": -1}]}]}]}


def test_charging_profiles_are_reported_as_they_were_set(launcher_factory, csms) -> None:  # noqa: F811
    run = start_station(launcher_factory, csms, "REP1", ("--spawn-mode", "fork"))
    station_max = {"id": 11, "stackLevel": 1, "chargingProfilePurpose": "ChargingStationMaxProfile",
                   "chargingProfileKind": "Absolute", "validFrom": "2024-01-01T00:00:00.000Z",
                   "validTo": "2099-12-31T23:59:59Z", "chargingSchedule": [
                       {"id": 21, "startSchedule": "2024-01-01T00:00:00.000Z", "duration": 86400,
                        "chargingRateUnit": "W", "minChargingRate": 0.1,
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360.5, "numberPhases": 3}],
                        "salesTariff": SALES_TARIFF}]}
    default = {"id": 12, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
               "chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "chargingSchedule": [
                   {"id": 22, "startSchedule": "2024-01-01T06:00:00Z", "chargingRateUnit": "A",
                    "minChargingRate": 16.0, "chargingSchedulePeriod": FRACTIONAL_PERIODS}]}
    for evse, profile in ((0, station_max), (1, default)):
        assert call(csms.api, "REP1", "SetChargingProfile", {"evseId": evse, "chargingProfile": profile}) == {
            "status": "Accepted"}

    run.rec.publish(TOPICS.connector_car("REP1", 1), json.dumps(CAR))
    run.rec.publish(TOPICS.connector_id_tag("REP1", 1), json.dumps({"id": "TAG1"}))
    charging = run.rec.wait_json(TOPICS.connector_status("REP1", 1),
                                 lambda d: d["status"] == "Charging" and d["transaction_id"])
    tx_profile = {"id": 13, "stackLevel": 2, "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
                  "transactionId": charging["transaction_id"], "chargingSchedule": [
                      {"id": 23, "chargingRateUnit": "A",
                       "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6.5}]}]}
    assert call(csms.api, "REP1", "SetChargingProfile", {"evseId": 1, "chargingProfile": tx_profile}) == {
        "status": "Accepted"}

    assert call(csms.api, "REP1", "GetChargingProfiles", {"requestId": 5, "chargingProfile": {}}) == {
        "status": "Accepted"}
    reported = profiles_reported(csms, "REP1", 5)
    assert exact(reported) == exact({0: [station_max], 1: [default, tx_profile]})

    # kept as set across a restart (the transaction, and its TxProfile, end with the kill)
    pid = run.status("REP1")["pid"]
    run.kill("REP1")
    run.wait_status("REP1", "Dead", pid=pid)
    run.send({"type": "restart", "charge_points": [definition("REP1", csms.url, ocpp_version="2.0.1",
                                                              nb_connectors=2)]})
    run.wait_status("REP1", "Accepted", timeout=BOOT_WAIT, not_pids=(pid,))
    assert call(csms.api, "REP1", "GetChargingProfiles", {"requestId": 6, "chargingProfile": {}}) == {
        "status": "Accepted"}
    assert exact(profiles_reported(csms, "REP1", 6)) == exact({0: [station_max], 1: [default]})
    assert assert_frames_valid(run.instance("REP1"), "2.0.1") > 0
