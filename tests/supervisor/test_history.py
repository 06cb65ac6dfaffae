"""The charts' history: bounded per connector, readings as a user reads them (no Qt)."""

from __future__ import annotations

import math

import numpy as np

from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus
from supervisor.fleet_model import ConnectorEvent, CpStatusEvent, Fleet
from supervisor.history import CAPACITY, ENERGY, L1, L2, L3, POWER, SOC, History, Series, reading


class Clock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t


def status(cp_id: str, state: str = "Accepted", **definition) -> CpStatusEvent:
    d = ChargePointDefinition(id=cp_id, **definition)
    return CpStatusEvent(cp_id, CpStatus.for_definition(d, 1, state))


def test_a_series_keeps_its_newest_rows_in_order_and_stays_bounded() -> None:
    series = Series(1, capacity=50, spacing=0.0)
    for t in range(120):
        series.add(float(t), [t * 1.5])
    rows = series.rows()
    assert len(series) == 50 and rows.shape == (50, 2)
    assert rows[:, 0].tolist() == list(range(70, 120)) and rows[-1, 1] == 178.5


def test_readings_closer_than_the_spacing_move_the_newest_point_on() -> None:
    series = Series(1, capacity=100, spacing=3.0)
    for t in np.arange(0, 60, 0.5):  # a status every half second for a minute
        series.add(float(t), [float(t)])
    times = series.rows()[:, 0]
    assert times[-1] == 59.5  # the newest reading is always there
    assert 15 <= len(series) <= 31  # not 120
    assert all(b - a >= 3.0 for a, b in zip(times[:-2], times[2:], strict=True))


def test_ac_dc_and_ev_readings() -> None:
    fleet = Fleet()
    fleet.apply([status("ac", nb_phases=2), status("dc", type="DC", voltage=400.0)])
    ac = ConnectorStatus(status="Charging", consumption_l1=16.5, consumption_l2=10.0, consumption_l3=7.0,
                         energy_wh=1250.5)
    power, l1, l2, l3, soc, energy = reading(fleet.cps["ac"], ac)
    assert (l1, l2, l3) == (16.5, 10.0, 0.0)  # a 2-phase CP has no L3
    assert math.isclose(power, 230 * 26.5 / 1000) and energy == 1.2505
    assert math.isnan(soc)  # no EV model: no SoC
    dc = ConnectorStatus(status="Charging", consumption_l1=48_500.0, power_w=48_500.0, energy_wh=10.0,
                         soc=78.5, ev="dc_800v")
    assert reading(fleet.cps["dc"], dc) == (48.5, 0.0, 0.0, 0.0, 78.5, 0.01)


def test_history_records_every_connector_and_forgets_removed_cps() -> None:
    clock = Clock()
    history = History(clock)
    fleet = Fleet()
    for second in range(10):
        clock.t += 1
        batch = [status("a"), ConnectorEvent("a", 1, ConnectorStatus(status="Charging", consumption_l1=10.0 + second,
                                                                    consumption_l2=10.0, consumption_l3=10.0)),
                 ConnectorEvent("a", 2, ConnectorStatus(status="Available"))]
        fleet.apply(batch)
        history.record(batch, fleet)
        history.sample_fleet(fleet)
    rows = history.series("a", 1).rows()
    assert rows[-1, L1] == 19.0 and rows[-1, L2] == rows[-1, L3] == 10.0
    assert math.isclose(rows[-1, POWER], 230 * 39 / 1000, rel_tol=1e-5) and rows[-1, ENERGY] == 0.0
    assert math.isnan(rows[-1, SOC]) and rows[-1, 0] == 10.0  # seconds since the history began
    fleet_rows = history.fleet_power.rows()
    assert len(fleet_rows) == 10 and math.isclose(fleet_rows[-1, 1], 230 * 39 / 1000, rel_tol=1e-5)
    assert fleet_rows[-1, 2] == 1  # one connector drawing power

    dead = [status("a", "Dead")]
    fleet.apply(dead)
    history.sample_fleet(fleet)
    assert history.fleet_power.rows()[-1, 1:].tolist() == [0.0, 0.0]  # a dead CP's last values do not count

    cleared = [CpStatusEvent("a", None)]
    fleet.apply(cleared)
    history.record(cleared, fleet)
    assert "a" not in history.connectors


def test_a_long_run_of_a_big_fleet_stays_bounded() -> None:
    clock = Clock()
    history = History(clock)
    fleet = Fleet()
    fleet.apply([status(f"cp{i}") for i in range(300)])
    for second in range(CAPACITY * 4):
        clock.t += 1
        batch = [ConnectorEvent(f"cp{i}", 1, ConnectorStatus(status="Charging", consumption_l1=float(second)))
                 for i in range(0, 300, 100)]
        fleet.apply(batch)
        history.record(batch, fleet)
    assert all(len(history.series(f"cp{i}", 1)) == CAPACITY for i in range(0, 300, 100))
