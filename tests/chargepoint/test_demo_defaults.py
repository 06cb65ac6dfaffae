"""Demo defaults: MeterValues every ≤ 10 s with the measurands real AC/DC stations send, a
plausible SoC from DC stations (there is no EV model: it rises with the session's energy), and
the heartbeat interval the CSMS sets."""

from __future__ import annotations

from chargepoint.model.meter import START_SOC, Readings, Sample, estimated_soc
from chargepoint.ocpp16.config_keys import REGISTRY
from chargepoint.ocpp16.meter_values import sampled_values
from cp_simu.config import load_config
from tests.chargepoint.conftest import ANY, Driver, call, messages, wait_message
from tests.procs import wait_until

REAL_STATION = {"Energy.Active.Import.Register", "Current.Import", "Current.Offered", "Power.Active.Import"}
DC = {"type": "DC", "nb_phases": 1, "voltage": 400.0, "max_setpoint": 50_000.0,
      "max_setpoint_per_connector": 50_000.0}


def test_shipped_template_samples_often_with_what_real_stations_send():
    ocpp = load_config(None).ocpp
    assert 0 < int(ocpp["MeterValueSampleInterval"]) <= 10
    assert REAL_STATION | {"SoC"} <= set(ocpp["MeterValuesSampledData"].split(","))
    built_in = {k.name: k.default for k in REGISTRY}  # a config.ini without the key
    assert 0 < int(built_in["MeterValueSampleInterval"]) <= 10


def test_soc_starts_plausibly_rises_with_energy_and_stops_at_full():
    assert estimated_soc(0) == START_SOC
    assert START_SOC < estimated_soc(10_000) < estimated_soc(20_000) < 100
    assert estimated_soc(1e9) == 100


def _sample(soc: float | None) -> Sample:
    readings = Readings(1234.0, 50_000.0, (125.0,), 400.0, 50_000.0, 50_000.0, soc)
    return Sample(0.0, "Sample.Periodic", ("Energy.Active.Import.Register", "SoC"), readings)


def test_soc_is_sent_only_when_known():
    with_soc = sampled_values(_sample(37.4), dc=True)
    assert [(v["measurand"], v["value"], v["unit"], v["location"]) for v in with_soc] == [
        ("Energy.Active.Import.Register", "1234", "Wh", "Outlet"), ("SoC", "37", "Percent", "EV")]
    assert [v["measurand"] for v in sampled_values(_sample(None), dc=False)] == ["Energy.Active.Import.Register"]


def test_dc_session_reports_soc_and_ac_does_not(broker, csms, recorder_factory, cp_factory):
    sampled = {"MeterValueSampleInterval": "1",
               "MeterValuesSampledData": load_config(None).ocpp["MeterValuesSampledData"]}
    cp_factory(csms.url, broker.url, "DC1", ocpp=sampled, **DC)
    cp_factory(csms.url, broker.url, "AC1", ocpp=sampled)
    dc, ac = Driver(recorder_factory(broker.url), "DC1"), Driver(recorder_factory(broker.url), "AC1")
    for driver in (dc, ac):
        driver.status("Accepted")
    dc.car(cable=125.0, consumption_l1=50_000.0)
    ac.car()
    for driver in (dc, ac):
        driver.tag("TAG1")
        driver.connector("Charging", transaction_id=ANY)

    def periodic(cp: str) -> dict:
        return wait_message(csms, "MeterValues", lambda p: len([
            1 for m in messages(csms, "MeterValues", cp)
            if m["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic"]) >= 2
            and p["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Periodic", cp)

    dc_values = {v["measurand"]: v for v in periodic("DC1")["meterValue"][0]["sampledValue"]}
    assert REAL_STATION | {"SoC"} <= set(dc_values)
    assert (dc_values["SoC"]["unit"], dc_values["SoC"]["location"]) == ("Percent", "EV")
    assert START_SOC <= float(dc_values["SoC"]["value"]) < 100
    ac_values = [v["measurand"] for v in periodic("AC1")["meterValue"][0]["sampledValue"]]
    assert set(ac_values) >= REAL_STATION and "SoC" not in ac_values


def test_heartbeat_interval_is_the_one_the_csms_sets(broker, csms_factory, recorder_factory, cp_factory):
    csms = csms_factory("--heartbeat-interval", "2")
    cp_factory(csms.url, broker.url)  # its config.ini says 300
    Driver(recorder_factory(broker.url)).status("Accepted")
    wait_until(lambda: len(messages(csms, "Heartbeat")) >= 2, 8, what="two heartbeats 2 s apart")
    config = call(csms.api, "CP1", "GetConfiguration", {"key": ["HeartbeatInterval"]})
    assert config["configurationKey"][0]["value"] == "2"
