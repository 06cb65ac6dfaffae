"""End to end with an EV model: a charge point process, the demo CSMS and a broker. The car stops
drawing at its target SoC (SuspendedEV at the CSMS), the DC station reports the car's SoC, and
the energy delivered is what the model needed."""

from __future__ import annotations

import pytest

from tests.chargepoint.conftest import ANY, Driver, T, messages, wait_message
from tests.procs import wait_until

SOC_READINGS = {"MeterValueSampleInterval": "1", "MeterValuesSampledData": "SoC,Energy.Active.Import.Register"}


def needed_wh(capacity_kwh: float, soc: float, target: float, efficiency: float) -> float:
    return (target - soc) / 100 * capacity_kwh * 1000 / efficiency


def soc_values(payloads: list[dict], key: str) -> list[float]:
    """The SoC measurand of every MeterValues / TransactionEvent payload, in order."""
    return [float(v["value"]) for p in payloads for mv in p.get(key, [])
            for v in mv["sampledValue"] if v.get("measurand") == "SoC"]


def test_ac_ev_stops_at_its_target_16(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ev = {"capacity_kwh": 0.5, "soc": 78, "target_soc": 80, "ac_max_current": 16.5, "efficiency": 0.9}
    ui.car(cable=32.0, ev=ev)
    ui.tag("TAG1")
    charging = ui.connector("Charging", transaction_id=ANY, ev="custom")
    assert charging["power_w"] == pytest.approx(3 * 230 * 16.5) and charging["car_consumption_l1"] == 16.5
    start_wh = charging["energy_wh"]
    suspended = ui.connector("SuspendedEV", timeout=15)
    assert suspended["power_w"] == 0.0 and suspended["soc"] == pytest.approx(80.0, abs=0.01)
    assert suspended["energy_wh"] - start_wh == pytest.approx(needed_wh(0.5, 78, 80, 0.9), abs=0.3)
    wait_message(csms, "StatusNotification", lambda p: p["status"] == "SuspendedEV")
    ui.car(cable=0.0)
    stop = wait_message(csms, "StopTransaction")
    start = wait_message(csms, "StartTransaction")
    assert stop["meterStop"] - start["meterStart"] == pytest.approx(needed_wh(0.5, 78, 80, 0.9), abs=1.5)


def test_dc_station_reports_the_rising_soc_of_the_ev_16(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, type="DC", nb_phases=1, voltage=400.0, max_setpoint=150_000,
               max_setpoint_per_connector=150_000, ocpp=SOC_READINGS)
    ui.status("Accepted")
    ui.car(cable=20_000.5, ev={"preset": "dc_800v", "capacity_kwh": 1.0, "soc": 77.5, "target_soc": 80})
    ui.tag("TAG1")
    charging = ui.connector("Charging", transaction_id=ANY, ev="dc_800v")
    assert charging["power_w"] == 20_000.5  # the curve allows more: the cable's limit
    suspended = ui.connector("SuspendedEV", timeout=15)
    assert suspended["soc"] == pytest.approx(80.0, abs=0.01)
    assert suspended["energy_wh"] - charging["energy_wh"] == pytest.approx(needed_wh(1.0, 77.5, 80, 0.93), abs=0.5)
    wait_message(csms, "StatusNotification", lambda p: p["status"] == "SuspendedEV")
    readings = wait_until(lambda: (s := soc_values(messages(csms, "MeterValues"), "meterValue"))
                          and s[-1] == 80 and s, what="SoC 80 in MeterValues")
    assert readings == sorted(readings) and readings[0] <= 78 < 80 == readings[-1]
    assert len(set(readings)) >= 2


def test_dc_ev_at_its_target_201(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp_version="2.0.1", type="DC", nb_phases=1, voltage=400.0,
               max_setpoint=150_000, max_setpoint_per_connector=150_000, ocpp=SOC_READINGS)
    ui.status("Accepted")
    ui.car(cable=16_000.0, ev={"preset": "suv", "capacity_kwh": 0.8, "soc": 78.0, "target_soc": 80.0,
                               "efficiency": 0.95})
    ui.tag("TAG1")
    charging = ui.connector("Charging", transaction_id=ANY, ev="suv")
    suspended = ui.connector("SuspendedEV", timeout=15)
    assert suspended["ocpp_status"] == "Occupied" and suspended["power_w"] == 0.0
    assert suspended["energy_wh"] - charging["energy_wh"] == pytest.approx(needed_wh(0.8, 78, 80, 0.95), abs=0.5)
    changed = wait_message(csms, "TransactionEvent",
                           lambda p: p["transactionInfo"].get("chargingState") == "SuspendedEV")
    assert changed["eventType"] == "Updated" and changed["triggerReason"] == "ChargingStateChanged"
    readings = wait_until(lambda: (s := soc_values(messages(csms, "TransactionEvent"), "meterValue"))
                          and s[-1] == 80 and s, what="SoC 80 in TransactionEvent")
    assert readings == sorted(readings) and readings[0] <= 79 < 80 == readings[-1]
    ui.car(cable=0.0)
    ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"


def test_bad_ev_values_are_refused_on_the_error_topic(broker, csms, recorder_factory, cp_factory) -> None:
    rec = recorder_factory(broker.url)
    ui = Driver(rec)
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.car(cable=32.0, ev={"preset": "suv", "soc": 120.5})
    error = ui.wait(T.cp_error("CP1"), lambda d: True)
    assert error["error"] == "ev.soc: must be <= 100, got 120.5"
    assert error["topic"] == T.connector_car("CP1", 1)
    ui.car(cable=32.0, ev="phev")  # the process carries on; a good one is taken
    preparing = ui.connector("Preparing", ev="phev")
    assert preparing["soc"] == 20.0
