"""A fleet mixing OCPP 1.6 and 2.0.1 charge points, started by the real launcher in each spawn mode."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.launcher.conftest import TOPICS, definition
from tests.procs import wait_until


def control_call(csms, cp_id: str, action: str, payload: dict) -> dict:
    request = urllib.request.Request(f"{csms.api}/api/cps/{cp_id}/call/{action}", method="POST",
                                     data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as reply:
        return json.loads(reply.read())["response"]


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_mixed_fleet_registers_and_reports(launcher_factory, csms, mode: str) -> None:
    run = launcher_factory("--spawn-mode", mode)
    run.start(definition("M16", csms.url), definition("M201", csms.url, ocpp_version="2.0.1", nb_connectors=2))
    assert run.wait_status("M16", "Accepted", timeout=40)["ocpp_version"] == "1.6"  # fork server warm-up first
    status = run.wait_status("M201", "Accepted")
    assert status["ocpp_version"] == "2.0.1" and status["nb_connectors"] == 2
    (boot,) = csms.messages("BootNotification", cp_id="M201", direction="in")
    assert boot["ocpp_version"] == "2.0.1" and boot["payload"]["reason"] == "PowerUp"
    wait_until(lambda: {(m["payload"]["evseId"], m["payload"]["connectorStatus"])
                        for m in csms.messages("StatusNotification", cp_id="M201", direction="in")}
               == {(1, "Available"), (2, "Available")}, what="StatusNotification of both EVSEs")
    for n in (1, 2):
        connector = run.rec.wait_json(TOPICS.connector_status("M201", n), lambda d: d["ocpp_status"] == "Available")
        assert connector["status"] == "Available" and connector["transaction_id"] is None
    assert control_call(csms, "M201", "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
    wait_until(lambda: csms.messages("Heartbeat", cp_id="M201", direction="in"), what="a triggered Heartbeat")
    assert (run.instance("M201") / "device_model.json").exists()
    assert control_call(csms, "M16", "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
