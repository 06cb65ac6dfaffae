"""Meter, setpoints (sharing, smart charging as the limit provider), the authorization cache,
firmware versions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chargepoint.maintenance import firmware_version
from chargepoint.model.authorization import AuthorizationCache, IdTagInfo
from chargepoint.model.meter import MeterModel, Sample
from chargepoint.model.setpoint import OcppLimit, ProfileLimits, share_limit
from chargepoint.model.smart_charging import SmartCharging
from tests.ocpp16_ext.profiles import charging_profile


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ac_meter_per_phase_current_power_and_energy() -> None:
    clock = Clock()
    meter = MeterModel(dc=False, phases=3, voltage=230.0, power_factor=0.9, energy_wh=100.0, clock=clock)
    meter.set_flow(16.0, (10.0, 20.0, 5.0))
    r = meter.read()
    assert r.currents == (10.0, 16.0, 5.0)
    assert r.power_w == pytest.approx(230 * 31 * 0.9)
    assert r.offered_power_w == 16 * 230 * 3
    clock.now = 1800
    meter.set_flow(16.0, (0.0, 0.0, 0.0))
    clock.now = 3600
    assert meter.energy_wh == pytest.approx(100 + 230 * 31 * 0.9 / 2)


def test_single_phase_meter_ignores_other_phases() -> None:
    meter = MeterModel(dc=False, phases=1, voltage=230.0, clock=Clock())
    meter.set_flow(32.0, (10.0, 10.0, 10.0))
    assert meter.read().currents == (10.0,) and meter.power_w == 2300


def test_dc_meter_in_watts() -> None:
    meter = MeterModel(dc=True, phases=3, voltage=400.0, clock=Clock())
    meter.set_flow(50_000.0, (80_000.0,))
    r = meter.read()
    assert r.power_w == 50_000 and r.currents == (125.0,) and r.offered_power_w == 50_000


def test_ac_meter_on_fewer_phases() -> None:
    meter = MeterModel(dc=False, phases=3, voltage=230.0, clock=Clock())
    meter.set_flow(10.0, (16.0, 16.0, 16.0), phases=1)
    r = meter.read()
    assert r.currents == (10.0, 0.0, 0.0) and r.power_w == 2300 and r.offered_power_w == 2300


def test_sample_round_trip() -> None:
    meter = MeterModel(dc=False, phases=3, voltage=230.0, clock=Clock())
    meter.set_flow(16.0, (16.0, 16.0, 16.0))
    sample = Sample(12.5, "Sample.Periodic", ("Voltage",), meter.read())
    assert Sample.from_dict(sample.to_dict()) == sample


@pytest.mark.parametrize(("total", "caps", "expected"), [
    (32, {1: 32, 2: 32}, {1: 16, 2: 16}),
    (32, {1: 10, 2: 32}, {1: 10, 2: 22}),
    (32, {1: 10}, {1: 10}),
    (30, {1: 32, 2: 6, 3: 32}, {1: 12, 2: 6, 3: 12}),
    (32, {}, {}),
])
def test_cp_wide_limit_is_shared_fairly(total: float, caps: dict[int, float],
                                        expected: dict[int, float]) -> None:
    assert share_limit(total, caps) == pytest.approx(expected)


def test_authorization_cache_expiry_and_eviction() -> None:
    cache = AuthorizationCache(max_entries=2)
    cache.update("A", IdTagInfo("Accepted", "P", expiry=100.0))
    cache.update("B", IdTagInfo("Blocked"))
    assert cache.lookup("A", 50) == IdTagInfo("Accepted", "P", 100.0)
    assert cache.lookup("A", 100) is None  # expired entries are forgotten
    cache.update("A", IdTagInfo("Accepted"))
    cache.update("C", IdTagInfo("Accepted"))  # B is the least recently used
    assert cache.lookup("B", 0) is None and len(cache) == 2
    restored = AuthorizationCache()
    restored.load(cache.to_dict())
    assert restored.lookup("C", 0) == IdTagInfo("Accepted")
    cache.enabled = False
    assert cache.lookup("C", 0) is None


def test_id_tag_info_accepted() -> None:
    assert IdTagInfo("Accepted").accepted(0)
    assert not IdTagInfo("Accepted", expiry=10).accepted(10)
    assert not IdTagInfo("Blocked").accepted(0)


T0 = 1_741_593_600.0  # 2025-03-10T08:00:00Z


def test_profile_limits_in_the_charge_point_units_with_the_next_change_as_a_timestamp() -> None:
    store = SmartCharging(nb_connectors=1)
    start = datetime.fromtimestamp(T0 + 10, UTC)
    store.install(1, charging_profile(periods=[(0, 2300.0, 1), (60, 6900.0)], unit="W", start=start))
    store.install(0, charging_profile(pid=2, purpose="ChargePointMaxProfile", periods=[(0, 20.0)], start=start))
    tx_start: dict[int, float | None] = {1: None}
    ac = ProfileLimits(store, dc=False, voltage=230.0, phases=3, transaction_start=tx_start.get)
    assert ac.limit(1, T0) == OcppLimit(until=T0 + 10)
    assert ac.limit(1, T0 + 10) == OcppLimit(10.0, 1, T0 + 70)  # 2300 W on one phase
    assert ac.limit(1, T0 + 70) == OcppLimit(10.0, None, None)  # 6900 W on three phases
    assert ac.limit(0, T0 + 10) == OcppLimit(20.0, None, None)
    dc = ProfileLimits(store, dc=True, voltage=400.0, phases=3, transaction_start=tx_start.get)
    assert dc.limit(1, T0 + 70) == OcppLimit(6900.0, None, None)
    assert dc.limit(0, T0 + 10) == OcppLimit(8000.0, None, None)  # 20 A at 400 V
    composite = dc.composite_schedule(1, 20, "W", T0, hardware_max=50_000)
    assert composite["chargingSchedule"]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 50000.0, "numberPhases": 1}, {"startPeriod": 10, "limit": 2300.0,
                                                                 "numberPhases": 1}]


@pytest.mark.parametrize(("name", "version"), [
    ("simu-cp-2.1.0.bin", "2.1.0"), ("fw-3.0.12-rc1.img", "3.0.12-rc1"), ("firmware.bin", "firmware"),
    ("v2", "v2"), ("x" * 80 + ".bin", "x" * 50),
])
def test_firmware_version_from_the_file_name(name: str, version: str) -> None:
    assert firmware_version(name) == version


def test_id_tag_info_from_the_wire() -> None:
    info = IdTagInfo.from_wire({"status": "Accepted", "parentIdTag": "G", "expiryDate": "2025-03-10T08:00:00Z"})
    assert info == IdTagInfo("Accepted", "G", T0)
    assert IdTagInfo.from_wire({"status": "Blocked", "expiryDate": "soon"}) == IdTagInfo("Blocked")
