"""Smart charging end to end: profiles sent by the demo CSMS drive the setpoints, the meter,
MeterValues and MQTT at the right moments; GetCompositeSchedule, the capability keys,
RemoteStartTransaction with a profile, persistence."""

from __future__ import annotations

import math
import time
from typing import Any

from chargepoint.model.smart_charging import parse_datetime
from tests.chargepoint.conftest import ANY, Driver, T, call, messages, utc, wait_message
from tests.ocpp16_ext.profiles import charging_profile
from tests.procs import wait_until

STATUS = T.connector_status("CP1", 1)


def set_profile(csms: Any, connector_id: int, **profile: Any) -> str:
    return call(csms.api, "CP1", "SetChargingProfile",
                {"connectorId": connector_id, "csChargingProfiles": charging_profile(**profile)})["status"]


def currents(csms: Any, since: float, until: float) -> set[str]:
    """Current.Import on L1 in the periodic MeterValues sampled in [since, until)."""
    found = set()
    for payload in messages(csms, "MeterValues"):
        for mv in payload["meterValue"]:
            if since <= parse_datetime(mv["timestamp"]).timestamp() < until:
                found |= {v["value"] for v in mv["sampledValue"]
                          if v["measurand"] == "Current.Import" and v.get("phase") == "L1"}
    return found


def test_tx_default_profile_limits_a_running_session_at_its_period_boundaries(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp={"MeterValueSampleInterval": "1",
                                           "MeterValuesSampledData": "Current.Import,Power.Active.Import"})
    ui.status("Accepted")
    assert ui.start_session()["consumption_l1"] == 16.0
    begin = time.time() + 2
    assert set_profile(csms, 1, periods=[(0, 10.0), (2, 6.0)], start=utc(begin)) == "Accepted"
    for edge, amps in ((begin, 10.0), (begin + 2, 6.0)):
        wait_until(lambda e=edge: time.time() >= e - 0.15, 5, what="just before the period")
        assert ui.rec.last_json(STATUS)["consumption_l1"] > amps  # not before its period
        limited = ui.wait(STATUS, lambda d, a=amps: d["consumption_l1"] == a, timeout=1.0)  # at its period
        assert limited["ocpp_setpoint"] == limited["setpoint"] == amps
        assert limited["consumption_l3"] == amps and limited["power_w"] == 3 * amps * 230
    wait_until(lambda: currents(csms, begin + 2.3, math.inf), 4, what="MeterValues after the second period")
    assert currents(csms, 0, begin - 0.3) == {"16"}
    assert currents(csms, begin + 0.3, begin + 1.7) == {"10"}
    assert currents(csms, begin + 2.3, math.inf) == {"6"}
    assert messages(csms, "MeterValues")[-1]["meterValue"][0]["sampledValue"][-1]["value"] == str(3 * 6 * 230)
    # a limit in W with numberPhases: the car may draw on L1 only
    ui.from_now()
    assert set_profile(csms, 1, pid=2, stack=1, unit="W", periods=[(0, 2300.0, 1)], start=utc(time.time())) \
        == "Accepted"
    one_phase = ui.wait(STATUS, lambda d: d["consumption_l2"] == 0.0, timeout=1)
    assert one_phase["consumption_l1"] == 10.0 and one_phase["power_w"] == 2300.0
    # clearing every profile lifts the limit at once
    ui.from_now()
    assert call(csms.api, "CP1", "ClearChargingProfile", {}) == {"status": "Accepted"}
    lifted = ui.wait(STATUS, lambda d: d["consumption_l3"] == 16.0, timeout=1)
    assert lifted["ocpp_setpoint"] == 32.0 and lifted["status"] == "Charging"


def composite(csms: Any, connector_id: int, duration: int = 10, unit: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"connectorId": connector_id, "duration": duration}
    if unit:
        request["chargingRateUnit"] = unit
    return call(csms.api, "CP1", "GetCompositeSchedule", request)


def periods(*points: tuple[float, float], cap: float = math.inf) -> list[dict[str, Any]]:
    """The periods GetCompositeSchedule merges from (offset, limit) steps."""
    merged: list[dict[str, Any]] = []
    for offset, limit in sorted(points):
        if not merged or merged[-1]["limit"] != min(limit, cap):
            merged.append({"startPeriod": offset, "limit": min(limit, cap), "numberPhases": 3})
    return merged


def test_composite_schedule_capabilities_sharing_and_persistence(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, nb_connectors=2, ocpp={
        "MaxChargingProfilesInstalled": "3", "ChargingScheduleAllowedChargingRateUnit": "Current"})
    ui.status("Accepted")
    assert set_profile(csms, 1, purpose="ChargePointMaxProfile", periods=[(0, 12.0)]) == "Rejected"
    assert set_profile(csms, 0, purpose="ChargePointMaxProfile", periods=[(0, 12.0)]) == "Accepted"
    assert set_profile(csms, 0, pid=2, kind="Relative", periods=[(0, 10.0), (3, 16.0)]) == "Accepted"
    recurring = int(time.time()) + 6 - 86_400  # yesterday, 6 s from now: today's repetition is ahead
    daily = {"kind": "Recurring", "recurrencyKind": "Daily", "start": utc(recurring), "periods": [(0, 6.0)],
             "duration": 3}
    assert set_profile(csms, 1, pid=3, stack=1, **daily) == "Accepted"
    schedule = composite(csms, 1)
    r = recurring + 86_400 - parse_datetime(schedule["scheduleStart"]).timestamp()
    assert schedule["status"] == "Accepted" and schedule["chargingSchedule"]["chargingRateUnit"] == "A"
    assert schedule["chargingSchedule"]["chargingSchedulePeriod"] == periods(
        (0, 10), (3, 16), (r, 6), (r + 3, 16), cap=12)
    watts = composite(csms, 1, unit="W")["chargingSchedule"]["chargingSchedulePeriod"]
    assert watts[0] == {"startPeriod": 0, "limit": 10 * 230 * 3, "numberPhases": 3}
    assert composite(csms, 0)["chargingSchedule"]["chargingSchedulePeriod"] == periods((0, 12))
    assert composite(csms, 5) == {"status": "Rejected"}
    # what the capability keys allow
    rejected = [{"pid": 4, "stack": 11}, {"pid": 4, "periods": [(n, 8.0) for n in range(49)]},
                {"pid": 4, "purpose": "TxProfile"}, {"pid": 4, "kind": "Recurring"},
                {"pid": 4, "unit": "W", "periods": [(0, 2300.0)]},  # only Current is allowed
                {"pid": 4, "stack": 2}]  # a fourth profile: MaxChargingProfilesInstalled is 3
    assert [set_profile(csms, 2, **p) for p in rejected] == ["Rejected"] * 6
    assert set_profile(csms, 1, pid=3, stack=1, **{**daily, "periods": [(0, 7.0)]}) == "Accepted"  # replaced
    # the ChargePointMaxProfile is shared by the charging connectors
    ui.start_session(1)
    ui.start_session(2, tag="TAG2")
    ui.connector("Charging", 1, setpoint=6.0, consumption_l1=6.0)
    ui.connector("Charging", 2, setpoint=6.0, ocpp_setpoint=10.0)
    # profiles persist across a restart
    cp.kill()
    ui.from_now()
    cp.start()
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
    assert composite(csms, 0)["chargingSchedule"]["chargingSchedulePeriod"] == periods((0, 12))
    assert composite(csms, 2)["chargingSchedule"]["chargingSchedulePeriod"] == periods((0, 10), (3, 12))
    clear = {"chargingProfilePurpose": "TxDefaultProfile"}
    assert call(csms.api, "CP1", "ClearChargingProfile", clear) == {"status": "Accepted"}
    assert call(csms.api, "CP1", "ClearChargingProfile", clear) == {"status": "Unknown"}
    assert composite(csms, 2)["chargingSchedule"]["chargingSchedulePeriod"] == periods((0, 12))


def test_remote_start_with_a_charging_profile_and_tx_profiles(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    start = {"connectorId": 1, "idTag": "TAGR"}
    wrong = charging_profile(pid=7, purpose="TxDefaultProfile")
    assert call(csms.api, "CP1", "RemoteStartTransaction", {**start, "chargingProfile": wrong}) == \
        {"status": "Rejected"}
    tx_profile = charging_profile(pid=7, purpose="TxProfile", kind="Relative", periods=[(0, 8.0), (2, 12.0)])
    assert call(csms.api, "CP1", "RemoteStartTransaction", {**start, "chargingProfile": tx_profile}) == \
        {"status": "Accepted"}
    ui.connector("Preparing", id_tag="TAGR")
    ui.car()
    charging = ui.connector("Charging", transaction_id=ANY, ocpp_setpoint=8.0)
    assert charging["consumption_l1"] == 8.0
    started = time.time()
    ui.wait(STATUS, lambda d: d["ocpp_setpoint"] == 12.0, timeout=3)
    assert 1.7 <= time.time() - started <= 2.6  # its second period, counted from the transaction's start
    tx = charging["transaction_id"]
    assert set_profile(csms, 1, pid=8, purpose="TxProfile", stack=1, transactionId=tx + 100) == "Rejected"
    ui.from_now()
    assert set_profile(csms, 1, pid=8, purpose="TxProfile", stack=1, periods=[(0, 14.0)], transactionId=tx) == \
        "Accepted"
    ui.wait(STATUS, lambda d: d["ocpp_setpoint"] == 14.0, timeout=1)
    assert call(csms.api, "CP1", "RemoteStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
    wait_message(csms, "StopTransaction")
    assert ui.connector("Finishing")["ocpp_setpoint"] == 32.0  # TxProfiles end with their transaction
    assert call(csms.api, "CP1", "ClearChargingProfile", {"id": 8}) == {"status": "Unknown"}
