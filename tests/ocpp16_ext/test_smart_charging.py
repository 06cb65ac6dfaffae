"""SmartCharging: SetChargingProfile rules, the limit evaluator and GetCompositeSchedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargepoint.model.smart_charging import (
    ChargingProfile,
    Limit,
    SmartCharging,
    SmartChargingLimits,
    format_datetime,
)
from tests.ocpp16_ext.profiles import charging_profile

T0 = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)  # a Monday


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def profile(*args: Any, start: datetime | None = T0, **kwargs: Any) -> dict[str, Any]:
    return charging_profile(*args, start=start, **kwargs)


@pytest.fixture
def sc() -> SmartCharging:
    return SmartCharging(nb_connectors=2)


def amps(store: SmartCharging, connector: int, t: datetime, **kw: Any) -> float | None:
    return store.limit_at(connector, t, **kw).amps_per_phase


# --- SetChargingProfile ---------------------------------------------------------------------

def test_tx_default_limits_from_its_start_and_next_change_is_exact(sc: SmartCharging) -> None:
    assert sc.install(1, profile(periods=[(0, 10.0), (1800, 16.0)], start=at(600))).status == "Accepted"
    before = sc.limit_at(1, at(0))
    assert before.unlimited and before.next_change == at(600)
    limit = sc.limit_at(1, at(600))
    assert limit == Limit(10.0, 10.0 * 230 * 3, 3, at(2400))
    assert sc.limit_at(1, at(2399.5)).next_change == at(2400)
    after = sc.limit_at(1, at(2400))
    assert after.amps_per_phase == 16.0 and after.next_change is None


def test_tx_default_on_connector_zero_applies_to_every_connector(sc: SmartCharging) -> None:
    sc.install(0, profile(periods=[(0, 12.0)]))
    assert amps(sc, 1, at(1)) == amps(sc, 2, at(1)) == 12.0


def test_connector_own_tx_default_beats_connector_zero_at_same_stack_level(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=1, periods=[(0, 12.0)]))
    sc.install(2, profile(pid=2, periods=[(0, 8.0)]))
    assert (amps(sc, 1, at(1)), amps(sc, 2, at(1))) == (12.0, 8.0)


def test_highest_valid_stack_level_wins_then_falls_back(sc: SmartCharging) -> None:
    sc.install(1, profile(pid=1, stack=0, periods=[(0, 16.0)]))
    sc.install(1, profile(pid=2, stack=3, periods=[(0, 6.0)], duration=3600))
    sc.install(1, profile(pid=3, stack=5, periods=[(0, 8.0)], validFrom=format_datetime(at(600)),
                          validTo=format_datetime(at(1200))))
    assert sc.limit_at(1, at(0)) == Limit(6.0, 6.0 * 690, 3, at(600))
    assert sc.limit_at(1, at(600)) == Limit(8.0, 8.0 * 690, 3, at(1200))
    assert sc.limit_at(1, at(1200)) == Limit(6.0, 6.0 * 690, 3, at(3600))
    assert sc.limit_at(1, at(3600)) == Limit(16.0, 16.0 * 690, 3, None)


def test_tx_profile_needs_the_running_transaction(sc: SmartCharging) -> None:
    tx = profile(pid=9, purpose="TxProfile", transactionId=42)
    assert sc.install(1, tx).status == "Rejected"  # no transaction
    assert sc.install(1, tx, transaction_id=41).status == "Rejected"  # another one
    assert sc.install(0, tx, transaction_id=42).status == "Rejected"  # not on connector 0
    assert sc.install(1, tx, transaction_id=42).status == "Accepted"


def test_tx_profile_overrides_tx_default_and_ends_with_the_transaction(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=1, stack=5, periods=[(0, 16.0)]))
    no_tx_id = profile(pid=2, purpose="TxProfile", kind="Relative", start=None, periods=[(0, 6.0)])
    assert sc.install(1, no_tx_id, transaction_id=7).status == "Accepted"
    assert sc.installed()[-1]["csChargingProfiles"]["transactionId"] == 7  # bound to the running one
    assert amps(sc, 1, at(1), transaction_start=at(0)) == 6.0
    assert amps(sc, 2, at(1)) == 16.0
    assert sc.transaction_ended(1) == [2]
    assert amps(sc, 1, at(1)) == 16.0


def test_charge_point_max_only_on_connector_zero_and_caps_connectors(sc: SmartCharging) -> None:
    cp_max = profile(pid=5, purpose="ChargePointMaxProfile", periods=[(0, 20.0)])
    assert sc.install(1, cp_max).status == "Rejected"
    assert sc.install(0, cp_max).status == "Accepted"
    sc.install(0, profile(pid=1, periods=[(0, 16.0)]))
    sc.install(1, profile(pid=2, stack=1, periods=[(0, 32.0)]))
    # The CP-wide limit (connector 0) is what the charging connectors share: 20 A, not 16 + 20.
    assert amps(sc, 0, at(1)) == 20.0
    assert (amps(sc, 1, at(1)), amps(sc, 2, at(1))) == (20.0, 16.0)


def test_power_and_current_limits_compare_with_voltage_and_phases(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=5, purpose="ChargePointMaxProfile", unit="W", periods=[(0, 6900.0)]))
    sc.install(1, profile(pid=1, periods=[(0, 16.0)]))
    assert sc.limit_at(1, at(1)) == Limit(10.0, 6900.0, 3, None)
    one_phase = profile(pid=2, stack=1)
    one_phase["chargingSchedule"]["chargingSchedulePeriod"] = [{"startPeriod": 0, "limit": 16.0, "numberPhases": 1}]
    sc.install(1, one_phase)
    assert sc.limit_at(1, at(1)) == Limit(16.0, 16.0 * 230, 1, None)  # 3680 W fits under 6900 W
    dc = sc.limit_at(1, at(1), voltage=400.0, phases=1, max_amps=12.5)
    assert (dc.amps_per_phase, dc.watts, dc.number_phases) == (12.5, 5000.0, 1)


def test_relative_profile_runs_from_the_transaction_start(sc: SmartCharging) -> None:
    sc.install(1, profile(kind="Relative", start=None, periods=[(0, 6.0), (600, 16.0)]))
    assert sc.limit_at(1, at(300), transaction_start=at(0)) == Limit(6.0, 6.0 * 690, 3, at(600))
    assert amps(sc, 1, at(700), transaction_start=at(0)) == 16.0
    waiting = sc.limit_at(1, at(5000))  # no transaction yet: as if one started now, no timer
    assert (waiting.amps_per_phase, waiting.next_change) == (6.0, None)


def test_recurring_daily_profile_repeats(sc: SmartCharging) -> None:
    midnight = datetime(2025, 3, 1, tzinfo=UTC)
    sc.install(0, profile(kind="Recurring", recurrencyKind="Daily", start=midnight,
                          periods=[(0, 6.0), (8 * 3600, 32.0), (20 * 3600, 6.0)]))
    monday_7h = datetime(2025, 3, 10, 7, tzinfo=UTC)
    assert sc.limit_at(1, monday_7h) == Limit(6.0, 6.0 * 690, 3, monday_7h + timedelta(hours=1))
    assert sc.limit_at(1, monday_7h + timedelta(hours=14)).next_change == datetime(2025, 3, 11, tzinfo=UTC)
    assert amps(sc, 1, datetime(2025, 3, 11, 12, tzinfo=UTC)) == 32.0


def test_recurring_weekly_with_duration_leaves_gaps(sc: SmartCharging) -> None:
    sc.install(1, profile(kind="Recurring", recurrencyKind="Weekly", start=T0, periods=[(0, 10.0)],
                          duration=3600))
    assert amps(sc, 1, at(100)) == 10.0
    gap = sc.limit_at(1, at(3600))
    assert gap.unlimited and gap.next_change == at(7 * 86400)
    assert amps(sc, 1, at(7 * 86400 + 10)) == 10.0


def test_replacement_by_id_and_by_stack_level_and_purpose(sc: SmartCharging) -> None:
    sc.install(1, profile(pid=1, periods=[(0, 10.0)]))
    sc.install(1, profile(pid=1, stack=2, periods=[(0, 11.0)]))  # same id
    sc.install(1, profile(pid=2, stack=2, periods=[(0, 12.0)]))  # same stack level + purpose + connector
    sc.install(2, profile(pid=3, stack=2, periods=[(0, 13.0)]))  # other connector: kept apart
    assert sorted(p["csChargingProfiles"]["chargingProfileId"] for p in sc.installed()) == [2, 3]
    assert amps(sc, 1, at(1)) == 12.0


@pytest.mark.parametrize(("change", "reason"), [
    ({"stackLevel": 4}, "stackLevel"),
    ({"chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 1}]}},
     "not allowed"),
    ({"chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
        {"startPeriod": s, "limit": 6} for s in (0, 60, 120)]}}, "ChargingScheduleMaxPeriods"),
    ({"chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 5, "limit": 6}]}},
     "start at 0"),
    ({"chargingProfileKind": "Recurring"}, "recurrencyKind"),
    ({"chargingProfilePurpose": "Sometimes"}, "Sometimes"),
])
def test_capabilities_and_shape_are_enforced(change: dict[str, Any], reason: str) -> None:
    sc = SmartCharging(1, SmartChargingLimits(max_stack_level=3, allowed_units=frozenset({"A"}), max_periods=2))
    answer = sc.install(1, profile() | change)
    assert answer.status == "Rejected" and reason in answer.reason


def test_max_profiles_installed_counts_replacements_out() -> None:
    sc = SmartCharging(2, SmartChargingLimits(max_profiles=2))
    assert sc.install(1, profile(pid=1)).status == "Accepted"
    assert sc.install(2, profile(pid=2)).status == "Accepted"
    assert sc.install(1, profile(pid=3, stack=1)).status == "Rejected"
    assert sc.install(1, profile(pid=1, stack=1)).status == "Accepted"  # replaces id 1


def test_unknown_connector_and_unsupported() -> None:
    assert SmartCharging(2).install(3, profile()).status == "Rejected"
    assert SmartCharging(2, supported=False).install(1, profile()).status == "NotSupported"


def test_units_from_configuration_key() -> None:
    assert SmartChargingLimits.units_from_csl("Current") == {"A"}
    assert SmartChargingLimits.units_from_csl("Current, Power") == {"A", "W"}


# --- ClearChargingProfile and RemoteStartTransaction ------------------------------------------

def test_clear_by_id_or_by_criteria(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=1, purpose="ChargePointMaxProfile"))
    sc.install(0, profile(pid=2, stack=1))
    sc.install(1, profile(pid=3, stack=1))
    sc.install(2, profile(pid=4, stack=2))
    assert sc.clear(profile_id=99).status == "Unknown"
    assert sc.clear(profile_id=4, connector_id=1).status == "Accepted"  # the id alone decides
    assert sc.clear(purpose="TxDefaultProfile", stack_level=1, connector_id=1).status == "Accepted"
    assert [p["csChargingProfiles"]["chargingProfileId"] for p in sc.installed()] == [1, 2]
    assert sc.clear(purpose="TxProfile").status == "Unknown"
    assert sc.clear().status == "Accepted" and sc.installed() == []


def test_remote_start_profile_binds_to_the_transaction(sc: SmartCharging) -> None:
    assert sc.accept_remote_start_profile(1, profile(pid=7)).status == "Rejected"  # not a TxProfile
    tx = profile(pid=7, purpose="TxProfile", kind="Relative", start=None, periods=[(0, 7.0)])
    assert sc.accept_remote_start_profile(1, tx).status == "Accepted"
    assert amps(sc, 1, at(1)) is None  # nothing until the transaction starts
    sc.transaction_started(1, 1234)
    assert sc.installed()[0]["csChargingProfiles"]["transactionId"] == 1234
    assert amps(sc, 1, at(1), transaction_start=at(0)) == 7.0
    sc.transaction_ended(1)
    assert sc.installed() == []


# --- GetCompositeSchedule ---------------------------------------------------------------------

def test_composite_schedule_merges_purposes_and_stack_levels(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=1, purpose="ChargePointMaxProfile", periods=[(0, 20.0), (3600, 10.0)]))
    sc.install(0, profile(pid=2, periods=[(0, 16.0)]))
    sc.install(1, profile(pid=3, stack=1, periods=[(0, 32.0)], start=at(1800), duration=900))
    answer = sc.composite_schedule(1, 7200, "A", at(0), max_amps=32.0)
    assert answer == {
        "status": "Accepted", "connectorId": 1, "scheduleStart": "2025-03-10T08:00:00Z",
        "chargingSchedule": {"duration": 7200, "startSchedule": "2025-03-10T08:00:00Z", "chargingRateUnit": "A",
                             "chargingSchedulePeriod": [
                                 {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                                 {"startPeriod": 1800, "limit": 20.0, "numberPhases": 3},
                                 {"startPeriod": 2700, "limit": 16.0, "numberPhases": 3},
                                 {"startPeriod": 3600, "limit": 10.0, "numberPhases": 3}]}}
    whole_cp = sc.composite_schedule(0, 7200, "W", at(0), max_amps=63.0)["chargingSchedule"]
    assert whole_cp["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 13800.0, "numberPhases": 3},
                                                  {"startPeriod": 3600, "limit": 6900.0, "numberPhases": 3}]


def test_composite_schedule_fills_with_the_local_limit_and_rejects_bad_requests(sc: SmartCharging) -> None:
    periods = sc.composite_schedule(2, 600, None, at(0.25), max_amps=32.0)["chargingSchedule"]
    assert periods["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 32.0, "numberPhases": 3}]
    assert sc.composite_schedule(3, 600, "A", at(0), max_amps=32.0) == {"status": "Rejected"}
    assert sc.composite_schedule(1, 0, "A", at(0), max_amps=32.0) == {"status": "Rejected"}


def test_composite_schedule_of_a_relative_profile_starts_now_without_transaction(sc: SmartCharging) -> None:
    sc.install(1, profile(kind="Relative", start=None, periods=[(0, 6.0), (600, 16.0)]))
    periods = sc.composite_schedule(1, 1200, "A", at(50), max_amps=32.0)["chargingSchedule"]["chargingSchedulePeriod"]
    assert [p["startPeriod"] for p in periods] == [0, 600]
    running = sc.composite_schedule(1, 1200, "A", at(50), max_amps=32.0, transaction_start=at(0))
    assert [p["startPeriod"] for p in running["chargingSchedule"]["chargingSchedulePeriod"]] == [0, 550]


# --- persistence ------------------------------------------------------------------------------

def test_round_trip_through_json(sc: SmartCharging) -> None:
    sc.install(0, profile(pid=1, kind="Recurring", recurrencyKind="Weekly", validTo=format_datetime(at(9e5)),
                          minChargingRate=6.0, duration=7200))
    sc.install(1, profile(pid=2, purpose="TxProfile"), transaction_id=5)
    sc.accept_remote_start_profile(2, profile(pid=3, purpose="TxProfile", kind="Relative", start=None))
    restored = SmartCharging.from_dict(json.loads(json.dumps(sc.to_dict())), nb_connectors=2)
    assert restored.to_dict() == sc.to_dict()
    assert restored.limit_at(1, at(5)) == sc.limit_at(1, at(5))
    restored.transaction_started(2, 6)
    assert amps(restored, 2, at(1), transaction_start=at(0)) == 10.0


def test_wire_round_trip_keeps_every_field() -> None:
    wire = profile(pid=4, purpose="TxProfile", kind="Recurring", recurrencyKind="Daily", transactionId=3,
                   validFrom="2025-01-01T00:00:00Z", validTo="2026-01-01T00:00:00Z", duration=60,
                   minChargingRate=1.5)
    assert ChargingProfile.from_wire(wire).to_wire() == wire


def test_dry_runs_decide_without_changing_anything(sc: SmartCharging) -> None:
    assert sc.install(1, profile(), dry_run=True).status == "Accepted"
    assert sc.installed() == []
    sc.install(1, profile())
    assert sc.clear(dry_run=True).status == "Accepted" and len(sc.installed()) == 1
    assert sc.accept_remote_start_profile(1, profile(pid=9, purpose="TxProfile"), dry_run=True).status == "Accepted"
    sc.transaction_started(1, None)  # nothing was pending
    assert [p["csChargingProfiles"]["chargingProfileId"] for p in sc.installed()] == [1]


def test_remote_start_profile_applies_before_the_csms_numbered_the_transaction(sc: SmartCharging) -> None:
    sc.accept_remote_start_profile(1, profile(pid=9, purpose="TxProfile", kind="Relative", start=None,
                                              periods=[(0, 8.0)]))
    sc.transaction_started(1, None)
    assert amps(sc, 1, at(5), transaction_start=at(0)) == 8.0
    assert sc.transaction_ended(1) == [9]
    sc.accept_remote_start_profile(1, profile(pid=10, purpose="TxProfile"))
    assert sc.transaction_ended(1) == [10]  # the remote start found no session: its profile goes
    assert sc.transaction_ended(1) == []
