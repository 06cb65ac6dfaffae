"""The EV model: presets, curve taper, efficiency, energy integration at the connector, the stop
at the target SoC, and the car payload's `ev` field."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from chargepoint.model.connector import ConnectorState, ConnectorStateMachine, StatusChanged
from chargepoint.model.ev import PRESETS, Ev, EvSpec
from chargepoint.model.meter import MeterModel
from chargepoint.status_payloads import connector_status
from cp_simu.models import EV_PRESETS, CarInput, ConnectorStatus, EvSettings, PayloadError


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(**values: object) -> EvSpec:
    return EvSpec.from_settings(EvSettings.parse(values))


def connector(clock: Clock, *, dc: bool = False, phases: int = 3, max_setpoint: float = 32.0) -> ConnectorStateMachine:
    meter = MeterModel(dc=dc, phases=phases, voltage=400.0 if dc else 230.0, clock=clock)
    return ConnectorStateMachine(1, meter, max_setpoint=max_setpoint, clock=clock)


def charge_until_idle(c: ConnectorStateMachine, clock: Clock, limit: int = 10_000, late: float = 0.0) -> list[float]:
    """Run the connector's timer as the station would: tick at each deadline (`late` seconds
    after it, as on a loaded machine). The powers seen."""
    powers = []
    for _ in range(limit):
        deadline = c.deadline
        if deadline is None:
            return powers
        powers.append(c.meter.power_w)
        clock.now = max(clock.now, deadline + late)
        c.tick()
    raise AssertionError("the EV never stopped drawing")


def test_every_preset_name_has_a_model() -> None:
    assert tuple(PRESETS) == EV_PRESETS
    assert PRESETS["phev"].ac_phases == 1 and PRESETS["phev"].dc_max_power == 0
    assert PRESETS["dc_800v"].dc_max_power > PRESETS["suv"].dc_max_power > PRESETS["city_car"].dc_max_power


def test_settings_override_a_preset_and_custom_has_defaults() -> None:
    suv = spec(preset="suv", soc=77.5, target_soc=80)
    assert (suv.name, suv.soc, suv.target_soc, suv.capacity_kwh) == ("suv", 77.5, 80.0, PRESETS["suv"].capacity_kwh)
    custom = spec(capacity_kwh=1, ac_max_current=16.5)
    assert custom.name == "custom" and custom.capacity_kwh == 1.0 and custom.ac_max_current == 16.5
    assert custom.efficiency == 0.9 and custom.curve is None


def test_curve_tapers_towards_full() -> None:
    suv = Ev(PRESETS["suv"], mark_wh=0.0)
    powers = []
    for soc in (30.0, 60.0, 80.0, 95.0, 99.0):
        suv.soc = soc
        powers.append(suv.demand_dc())
    assert powers[0] == PRESETS["suv"].dc_max_power
    assert powers == sorted(powers, reverse=True) and powers[-1] < powers[0] / 5
    # on AC the on-board charger limits until the curve drops below it
    city = Ev(PRESETS["city_car"], mark_wh=0.0, soc=50.0)
    assert city.demand_ac(230.0, 3) == (16.0, 16.0, 16.0)
    city.soc = 99.0
    assert 0 < city.demand_ac(230.0, 3)[0] < 16.0


def test_default_taper_of_a_custom_ev() -> None:
    ev = Ev(spec(dc_max_power=50_000.5), mark_wh=0.0, soc=50.0)
    assert ev.demand_dc() == 50_000.5
    ev.soc = 90.0
    assert ev.demand_dc() == pytest.approx(50_000.5 * 0.55)


def test_single_phase_car_draws_on_l1_only() -> None:
    phev = Ev(PRESETS["phev"], mark_wh=0.0)
    assert phev.demand_ac(230.0, 3) == (16.0, 0.0, 0.0)
    assert phev.demand_dc() == 0.0  # a plug-in hybrid without DC charging


def test_soc_follows_the_energy_times_efficiency() -> None:
    ev = Ev(spec(capacity_kwh=10, soc=40, efficiency=0.9), mark_wh=5000.0)
    assert ev.soc_at(5000.0) == 40.0
    assert ev.soc_at(6000.0) == pytest.approx(49.0)  # 1 kWh drawn, 0.9 kWh stored = 9 % of 10 kWh
    ev.book(6000.0)
    assert ev.soc_at(6500.0) == pytest.approx(53.5)


def test_ac_charge_integrates_energy_and_stops_at_the_target() -> None:
    clock = Clock()
    c = connector(clock)
    events: list[StatusChanged] = []
    c.listeners.append(lambda e: events.append(e) if isinstance(e, StatusChanged) else None)
    c.set_ev(spec(capacity_kwh=10, soc=50, target_soc=60, ac_max_current=16.5, efficiency=0.9))
    c.car_input(cable=32.0)
    c.accept_tag("TAG1")
    assert c.status is ConnectorState.CHARGING
    assert c.meter.power_w == pytest.approx(3 * 230 * 16.5)
    start_wh = c.meter.energy_wh
    started = clock.now
    charge_until_idle(c, clock)
    assert c.status is ConnectorState.SUSPENDED_EV and c.meter.power_w == 0.0
    energy = c.meter.energy_wh - start_wh
    assert energy == pytest.approx(10_000 * 0.10 / 0.9, abs=0.01)  # what the battery needed, drawn
    assert clock.now - started == pytest.approx(energy * 3600 / (3 * 230 * 16.5), abs=0.01)
    assert c.car.ev is not None and c.car.ev.soc == pytest.approx(60.0)
    assert [e.status for e in events][-2:] == [ConnectorState.CHARGING, ConnectorState.SUSPENDED_EV]
    clock.now += 3600  # suspended: no more energy, SoC stays
    assert c.meter.energy_wh - start_wh == pytest.approx(energy)
    assert c.transaction is not None  # the session goes on until the car leaves


def test_a_late_timer_overshoots_neither_energy_nor_soc() -> None:
    clock = Clock()
    c = connector(clock, dc=True, max_setpoint=50_000.0)
    c.set_ev(spec(capacity_kwh=0.5, soc=78, target_soc=80, efficiency=0.9))
    c.car_input(cable=50_000.0)
    c.accept_tag("TAG1")
    start_wh = c.meter.energy_wh
    charge_until_idle(c, clock, late=30.0)  # far past the target at 50 kW
    assert c.meter.energy_wh - start_wh == pytest.approx(500 * 0.02 / 0.9)
    assert c.car.ev is not None and c.car.ev.soc == pytest.approx(80.0)
    assert c.status is ConnectorState.SUSPENDED_EV


def test_meter_flow_that_stops_at_a_register() -> None:
    clock = Clock()
    meter = MeterModel(dc=True, phases=1, voltage=400.0, energy_wh=100.0, clock=clock)
    meter.set_flow(36_000.0, (36_000.0,), until_wh=110.0)
    clock.now += 0.5  # 5 Wh
    assert meter.energy_wh == pytest.approx(105.0) and meter.power_w == 36_000.0
    clock.now += 10.0
    assert meter.power_w == 0.0 and meter.energy_wh == pytest.approx(110.0)
    assert meter.read().currents == (0.0,)


def test_the_car_draws_the_least_of_its_curve_and_the_setpoint() -> None:
    clock = Clock()
    c = connector(clock, max_setpoint=10.0)
    c.set_ev(spec(preset="city_car", soc=50))
    c.car_input(cable=32.0)
    c.accept_tag("TAG1")
    assert c.meter.read().currents == (10.0, 10.0, 10.0)  # the offer, below the car's 16 A
    c.ocpp_phases = 1
    c.apply_share(float("inf"))
    assert c.meter.read().currents == (10.0, 0.0, 0.0)


def test_dc_tapering_charge_to_the_target() -> None:
    clock = Clock()
    c = connector(clock, dc=True, max_setpoint=150_000.0)
    c.set_ev(spec(preset="suv", capacity_kwh=20, soc=77.5, target_soc=90))
    c.car_input(cable=150_000.0)
    c.accept_tag("TAG1")
    start_wh = c.meter.energy_wh
    powers = charge_until_idle(c, clock)
    assert powers[0] == pytest.approx(PRESETS["suv"].limit_w(77.5, 150_000))
    assert powers == sorted(powers, reverse=True) and powers[-1] < powers[0]  # the taper, step by step
    assert c.meter.energy_wh - start_wh == pytest.approx(20_000 * 0.125 / 0.92, abs=0.01)
    assert c.status is ConnectorState.SUSPENDED_EV


def test_ev_already_at_its_target_never_draws() -> None:
    clock = Clock()
    c = connector(clock)
    c.set_ev(spec(soc=85, target_soc=80))
    c.car_input(cable=32.0)
    c.accept_tag("TAG1")
    assert c.status is ConnectorState.SUSPENDED_EV and c.meter.power_w == 0 and c.deadline is None


def test_status_and_state_carry_the_ev() -> None:
    clock = Clock()
    c = connector(clock)
    status = connector_status(c, dc=False, ocpp_status="")
    assert (status.soc, status.ev) == (None, "")
    c.set_ev(spec(preset="van", soc=77.5, target_soc=80))
    c.car_input(cable=32.0)
    c.accept_tag("TAG1")
    clock.now += 60
    status = ConnectorStatus.from_payload(connector_status(c, dc=False, ocpp_status="").to_json())
    assert status.ev == "van" and 77.5 < status.soc < 80  # type: ignore[operator]
    assert status.car_consumption_l1 == 16.0
    saved = json.loads(json.dumps(c.to_dict()))
    restored = connector(clock)
    restored.load(saved)
    assert restored.car.ev is not None and restored.car.ev.spec == c.car.ev.spec  # type: ignore[union-attr]
    assert restored.car.ev.soc_at(restored.meter.energy_wh) == pytest.approx(status.soc, abs=0.01)


def test_removing_the_ev_goes_back_to_the_consumption_input() -> None:
    clock = Clock()
    c = connector(clock)
    c.car_input(cable=32.0, consumption=(10.0, 10.0, 10.0))
    c.set_ev(spec(soc=90, target_soc=80))
    c.accept_tag("TAG1")
    assert c.status is ConnectorState.SUSPENDED_EV
    c.set_ev(None)
    assert c.status is ConnectorState.CHARGING and c.meter.read().currents == (10.0, 10.0, 10.0)


# -- the car payload's `ev` -----------------------------------------------------------------

def test_car_payload_ev_forms() -> None:
    assert CarInput.parse('{"cable": 32}').ev is None and not CarInput.parse('{"cable": 32}').remove_ev
    assert CarInput.parse('{"ev": "suv"}').ev == EvSettings("suv")
    assert CarInput.parse('{"ev": null}').remove_ev and CarInput.parse('{"ev": ""}').remove_ev
    car = CarInput.parse('{"cable": 16.5, "ev": {"preset": "dc_800v", "soc": 78, "target_soc": 80.0, '
                         '"ac_phases": 1, "efficiency": 0.95, "curve": [[0, 100000], [80.5, 50000.5]]}}')
    assert car.ev == EvSettings("dc_800v", soc=78.0, target_soc=80.0, ac_phases=1, efficiency=0.95,
                                curve=((0.0, 100000.0), (80.5, 50000.5)))
    assert CarInput.parse(car.to_json()) == car
    assert CarInput.parse(CarInput(remove_ev=True).to_json()).remove_ev
    assert CarInput.parse(CarInput(ev=EvSettings()).to_json()).ev == EvSettings()  # a custom EV, all defaults


@pytest.mark.parametrize(("ev", "error"), [
    ('"tesla"', "ev: must be one of city_car, suv, van, phev, dc_800v"),
    ("42", "ev: expected a preset name or an object, got number"),
    ('{"soc": 120}', "ev.soc: must be <= 100, got 120"),
    ('{"target_soc": -1}', "ev.target_soc: must be >= 0"),
    ('{"capacity_kwh": 0}', "ev.capacity_kwh: must be > 0"),
    ('{"efficiency": 1.5}', "ev.efficiency: must be <= 1"),
    ('{"ac_phases": 2.5}', "ev.ac_phases: expected an integer"),
    ('{"ac_max_current": "16"}', "ev.ac_max_current: expected a number, got string"),
    ('{"curve": []}', "ev.curve: needs at least one"),
    ('{"curve": [[80, 1000], [20, 5000]]}', "ev.curve[1]: SoC values must ascend"),
    ('{"curve": [[80]]}', "ev.curve[0]: expected a [soc %, max W] pair"),
    ('{"curve": [[10, -5]]}', "ev.curve[0].W: must be >= 0"),
    ('{"batery": 60}', "ev: unknown key 'batery'"),
])
def test_bad_ev_values_are_refused_naming_the_field(ev: str, error: str) -> None:
    with pytest.raises(PayloadError, match=error.replace("[", r"\[").replace("]", r"\]")):
        CarInput.parse(f'{{"cable": 32, "ev": {ev}}}')


def test_the_presets_table_in_the_docs_matches_the_presets() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "chargepoint.md").read_text()
    rows = {m[1]: [cell.strip() for cell in m[2].split("|")]
            for m in re.finditer(r"^\| `(\w+)` \| (.*) \|$", page, re.MULTILINE)
            if m[1] in PRESETS and m[2].count("|") == 4}  # the presets table, not the charge times
    assert set(rows) == set(PRESETS)
    for name, (battery, ac, dc, efficiency, curve) in rows.items():
        p = PRESETS[name]
        assert battery == f"{p.capacity_kwh:g} kWh"
        assert ac == f"{p.ac_max_current:g} A × {p.ac_phases} phase{'s' if p.ac_phases > 1 else ''}"
        assert dc == (f"{p.dc_max_power / 1000:g} kW" if p.dc_max_power else "none")
        assert efficiency == f"{p.efficiency:.2f}"
        assert curve == ", ".join(f"{s:g}→{w / 1000:g}" for s, w in p.curve or ())


def charge_time(preset: str, *, dc: bool, soc: float, target: float, setpoint: float) -> str:
    """`<minutes> min, <kWh> kWh` for the preset charged from `soc` to `target` (as the docs say it)."""
    clock = Clock()
    started = clock.now
    c = connector(clock, dc=dc, max_setpoint=setpoint)
    c.set_ev(replace(PRESETS[preset], soc=soc, target_soc=target))
    c.car_input(cable=setpoint)
    c.accept_tag("TAG1")
    charge_until_idle(c, clock)
    return f"{(clock.now - started) / 60:.0f} min, {c.meter.energy_wh / 1000:.1f} kWh"


def test_the_charge_times_in_the_docs_are_the_models() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "chargepoint.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+ kWh|—) \| ([^|]+ kWh) \|$", page, re.MULTILINE)
    assert {name for name, _, _ in rows} == set(PRESETS)
    for name, dc, ac in rows:
        expected_dc = charge_time(name, dc=True, soc=10, target=80, setpoint=350_000) \
            if PRESETS[name].dc_max_power else "—"
        assert (dc, ac) == (expected_dc, charge_time(name, dc=False, soc=20, target=100, setpoint=32)), name
