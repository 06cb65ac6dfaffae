"""Smart charging limits written with a decimal point, sent to charge points the launcher
started in each spawn mode (packed processes too): every CSMS call that carries such a limit (SetChargingProfile,
RemoteStartTransaction with a profile, GetCompositeSchedule whose answer carries them) is
answered on the same connection and the limit is applied."""

from __future__ import annotations

import json
import time

import pytest

from tests.chargepoint.conftest import CAR, call
from tests.launcher.conftest import TOPICS, definition
from tests.ocpp16_ext.profiles import charging_profile


@pytest.mark.parametrize("mode", [("--spawn-mode", "fork"), ("--spawn-mode", "subprocess"),
                                  ("--cps-per-process", "4")], ids=["fork", "subprocess", "packed"])
def test_fractional_limits_are_accepted_and_applied_on_the_same_connection(launcher_factory, csms,
                                                                           mode: tuple[str, str]) -> None:
    run = launcher_factory(*mode)
    run.start(definition("DEC1", csms.url), definition("DEC2", csms.url))  # packed: two in one process
    pid = run.wait_status("DEC1", "Accepted", timeout=60)["pid"]  # after the fork server's warm-up
    if "--cps-per-process" in mode:
        assert run.wait_status("DEC2", "Accepted", timeout=60)["pid"] == pid  # one packed process
    connector = TOPICS.connector_status("DEC1", 1)

    def limit_shown(amps: float) -> None:
        run.rec.wait_json(connector, lambda d: d["ocpp_setpoint"] == amps, timeout=5)

    for pid_, stack, amps in ((1, 0, 16.5), (2, 1, 10.0)):
        profile = charging_profile(pid=pid_, stack=stack, periods=[(0, amps)])
        answer = call(csms.api, "DEC1", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})
        assert answer == {"status": "Accepted"}
        limit_shown(amps)

    schedule = call(csms.api, "DEC1", "GetCompositeSchedule", {"connectorId": 1, "duration": 600})
    assert schedule["status"] == "Accepted"
    assert [p["limit"] for p in schedule["chargingSchedule"]["chargingSchedulePeriod"]] == [10.0]

    run.rec.publish(TOPICS.connector_car("DEC1", 1), json.dumps(CAR))
    tx_profile = charging_profile(pid=3, stack=2, purpose="TxProfile", kind="Relative", periods=[(0, 13.5)])
    answer = call(csms.api, "DEC1", "RemoteStartTransaction",
                  {"connectorId": 1, "idTag": "DECTAG", "chargingProfile": tx_profile})
    assert answer == {"status": "Accepted"}
    charging = run.rec.wait_json(connector, lambda d: d["status"] == "Charging" and d["ocpp_setpoint"] == 13.5)
    assert charging["consumption_l1"] == 13.5

    time.sleep(0.5)  # a dropped session would show by now
    assert len(csms.messages("BootNotification", cp_id="DEC1", direction="in")) == 1, "the CP reconnected"
    statuses = [json.loads(m.payload)["status"] for m in run.rec.on_topic(TOPICS.cp_status("DEC1"))]
    assert "Disconnected" not in statuses[statuses.index("Accepted"):], "the CP lost its OCPP connection"
    assert run.status("DEC1")["pid"] == pid
