"""EV models on charge points the launcher started, in each spawn mode and packed two to a
process: a 1.6 AC station and a 2.0.1 DC station each charge a car from 78 % to its 80 %
target, stop drawing (SuspendedEV at the CSMS) and deliver the energy the model needed."""

from __future__ import annotations

import json

import pytest

from tests.chargepoint.conftest import call
from tests.launcher.conftest import TOPICS, definition
from tests.procs import wait_until


def needed_wh(capacity_kwh: float, soc: float, target: float, efficiency: float) -> float:
    return (target - soc) / 100 * capacity_kwh * 1000 / efficiency


def calls(csms, action: str, cp_id: str) -> list[dict]:
    return [m["payload"] for m in csms.messages(action=action, cp_id=cp_id, direction="in")
            if m.get("message_type") == "call"]


@pytest.mark.parametrize("options", [("--spawn-mode", "fork"), ("--spawn-mode", "subprocess"),
                                     ("--cps-per-process", "2")], ids=["fork", "subprocess", "packed"])
def test_evs_stop_at_their_target_under_the_launcher(launcher_factory, csms, options: tuple[str, ...]) -> None:
    run = launcher_factory(*options)
    run.start(definition("EV16", csms.url, max_setpoint_per_connector=32.0),
              definition("EV201", csms.url, ocpp_version="2.0.1", type="DC", nb_phases=1, voltage=400.0,
                         max_setpoint=150_000.0, max_setpoint_per_connector=150_000.0))
    for cp_id in ("EV16", "EV201"):
        run.wait_status(cp_id, "Accepted", timeout=60)  # after the fork server's warm-up
    cars = {"EV16": {"cable": 32.0, "ev": {"preset": "city_car", "capacity_kwh": 0.5, "soc": 78, "target_soc": 80,
                                           "ac_max_current": 16.5}},
            "EV201": {"cable": 20_000.5, "ev": {"preset": "dc_800v", "capacity_kwh": 0.5, "soc": 77.5,
                                                "target_soc": 80.0}}}
    for cp_id, car in cars.items():
        run.rec.publish(TOPICS.connector_car(cp_id, 1), json.dumps(car))
        assert call(csms.api, cp_id, "RemoteStartTransaction" if cp_id == "EV16" else "RequestStartTransaction",
                    {"connectorId": 1, "idTag": "EVTAG"} if cp_id == "EV16" else
                    {"evseId": 1, "remoteStartId": 7, "idToken": {"idToken": "EVTAG", "type": "ISO14443"}}
                    )["status"] == "Accepted"
    for cp_id, (soc, efficiency) in {"EV16": (78, 0.9), "EV201": (77.5, 0.93)}.items():
        topic = TOPICS.connector_status(cp_id, 1)
        suspended = run.rec.wait_json(topic, lambda d: d["status"] == "SuspendedEV", timeout=15)
        charging = next(d for m in run.rec.on_topic(topic) if (d := json.loads(m.payload))["status"] == "Charging")
        assert suspended["soc"] == pytest.approx(80.0, abs=0.01) and suspended["power_w"] == 0.0
        assert suspended["energy_wh"] - charging["energy_wh"] == pytest.approx(
            needed_wh(0.5, soc, 80, efficiency), abs=0.5)
    wait_until(lambda: any(p["status"] == "SuspendedEV" for p in calls(csms, "StatusNotification", "EV16")),
               what="StatusNotification SuspendedEV (1.6)")
    wait_until(lambda: any(p["transactionInfo"].get("chargingState") == "SuspendedEV"
                           for p in calls(csms, "TransactionEvent", "EV201")),
               what="TransactionEvent chargingState SuspendedEV (2.0.1)")
