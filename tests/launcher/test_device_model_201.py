"""The 2.0.1 device model end to end: a station started by the real launcher (fork server and
subprocess), driven by the demo CSMS's control API over a real WebSocket."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from chargepoint.ocpp201.device_model import ComponentRef, DeviceModel
from cp_simu.device_model_file import DEVICE_MODEL_FILE, default_text
from tests.launcher.conftest import TOPICS, definition
from tests.procs import wait_until


def api(csms, path: str, body: Any = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{csms.api}/api{path}", data=data, method="GET" if body is None else "POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def ask(csms, cp_id: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    reply = api(csms, f"/cps/{cp_id}/call/{action}", payload)
    assert reply["status"] == "ok", reply
    return reply["response"]


def variable(component: str, name: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    comp, _, evse = component.partition("@")
    item: dict[str, Any] = {"component": {"name": comp} | ({"evse": {"id": int(evse)}} if evse else {}),
                            "variable": {"name": name}, **extra}
    if value is not None:
        item["attributeValue"] = value
    return item


def values(csms, cp_id: str, *items: dict[str, Any]) -> list[str | None]:
    answer = ask(csms, cp_id, "GetVariables", {"getVariableData": list(items)})
    return [r.get("attributeValue") for r in answer["getVariableResult"]]


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_set_variables_survive_restart_and_the_full_inventory_lists_every_variable(
        launcher_factory, csms, spawn_mode: str):
    run = launcher_factory("--spawn-mode", spawn_mode)
    run.start(definition("DM1", csms.url, ocpp_version="2.0.1", nb_connectors=2))
    first = run.wait_status("DM1", "Accepted", timeout=30)
    directory = run.instance("DM1")

    answer = ask(csms, "DM1", "SetVariables", {"setVariableData": [
        variable("OCPPCommCtrlr", "OfflineThreshold", "120"),
        variable("SmartChargingCtrlr", "LimitChangeSignificance", "16.5"),
        variable("SampledDataCtrlr", "TxUpdatedInterval", "10.0"),  # not an integer
        variable("OCPPCommCtrlr", "FileTransferProtocols", "FTP"),  # read-only
        variable("EVSE@2", "Nope", "1"),
    ]})
    assert [r["attributeStatus"] for r in answer["setVariableResult"]] == [
        "Accepted", "Accepted", "Rejected", "Rejected", "UnknownVariable"]
    threshold, significance = variable("OCPPCommCtrlr", "OfflineThreshold"), variable(
        "SmartChargingCtrlr", "LimitChangeSignificance")
    assert values(csms, "DM1", threshold, significance) == ["120", "16.5"]

    run.rec.publish(TOPICS.cp_cmd("DM1"), json.dumps({"type": "ocpp_config"}))
    flat = run.rec.wait_json(TOPICS.cp_ocpp_config("DM1"),
                             lambda d: d.get("OCPPCommCtrlr/OfflineThreshold") == "120", 15)
    assert flat["EVSE@2/AvailabilityState"] == "Available" and "SecurityCtrlr/BasicAuthPassword" not in flat

    run.rec.publish(TOPICS.connector_car("DM1", 1), json.dumps({"cable": 32.0}))  # a car on EVSE 1
    wait_until(lambda: values(csms, "DM1", variable("EVSE@1", "AvailabilityState"))[0] == "Occupied", 15,
               what="EVSE 1 Occupied in the device model")
    assert values(csms, "DM1", variable("EVSE@2", "AvailabilityState")) == ["Available"]

    run.kill("DM1")
    run.wait_status("DM1", "Dead", pid=first["pid"])
    run.send({"type": "restart", "charge_points": [definition("DM1", csms.url, ocpp_version="2.0.1",
                                                              nb_connectors=2)]})
    run.wait_status("DM1", "Accepted", timeout=30, not_pids=(first["pid"],))
    assert values(csms, "DM1", threshold, significance) == ["120", "16.5"]

    assert ask(csms, "DM1", "GetBaseReport", {"requestId": 42, "reportBase": "FullInventory"}) == {
        "status": "Accepted"}

    def pages() -> list[dict[str, Any]] | None:
        found = [m["payload"] for m in api(csms, "/messages?cp_id=DM1&action=NotifyReport&limit=1000")["messages"]
                 if m["direction"] == "in" and m["payload"]["requestId"] == 42]
        return found if found and not found[-1].get("tbc") else None

    report = wait_until(pages, 20, what="the last NotifyReport page")
    assert [p["seqNo"] for p in report] == list(range(len(report))) and len(report) > 1
    reported = sorted(_key(d) for p in report for d in p["reportData"])
    expected = sorted(v.key for v in DeviceModel.from_document(json.loads(default_text()), nb_evse=2))
    assert reported == expected
    saved = DeviceModel.load(directory, nb_evse=2)
    assert saved.value("OCPPCommCtrlr/OfflineThreshold") == "120"
    assert (directory / DEVICE_MODEL_FILE).stat().st_mode & 0o077 == 0


def _key(data: dict[str, Any]) -> str:
    """The flat key of a ReportDataType as on the wire (camelCase)."""
    c, v = data["component"], data["variable"]
    evse = c.get("evse") or {}
    ref = ComponentRef(c["name"], c.get("instance"), evse.get("id"), evse.get("connectorId"))
    return f"{ref.key}/{v['name']}" + (f":{v['instance']}" if v.get("instance") else "")
