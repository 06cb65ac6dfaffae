"""Provisioning and authorization-data handlers, between two real `ocpp` library peers joined
by in-memory queues (no socket): every frame goes through the library's 2.0.1 schema checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from chargepoint.model.authorization import AuthorizationCache, IdTagInfo
from chargepoint.model.local_auth_list import LocalAuthList
from chargepoint.model.smart_charging import utc_from_timestamp
from chargepoint.ocpp201.auth_data import AuthDataHandlers
from chargepoint.ocpp201.device_model import DeviceModel
from chargepoint.ocpp201.provisioning import ProvisioningHandlers, component_ref
from cp_simu.csms.calls import CallErrorReceived, call_raw

NOW = 1_700_000_000.0


class Pipe:
    """One direction pair of an in-memory OCPP-J connection."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.peer: Pipe | None = None

    async def recv(self) -> str:
        return await self.inbox.get()

    async def send(self, message: str) -> None:
        assert self.peer is not None
        await self.peer.inbox.put(message)


class AuthData:
    """The station side the authorization mixin talks to, over the real models."""

    def __init__(self) -> None:
        self.cache = AuthorizationCache()
        self.local_list = LocalAuthList(max_length=3, send_max_length=2)

    def clear_cache(self) -> bool:
        self.cache.clear()
        return self.cache.enabled

    def send_local_list(self, request: Any) -> str:
        return self.local_list.update(request).status

    def local_list_version(self) -> int:
        return self.local_list.version


class Station(ProvisioningHandlers, AuthDataHandlers, ChargePoint):
    def __init__(self, connection: Pipe, device_model: DeviceModel) -> None:
        super().__init__("CS1", connection)
        self.device_model = device_model
        self.station = AuthData()  # type: ignore[assignment]


class Csms(ChargePoint):
    def __init__(self, connection: Pipe) -> None:
        super().__init__("CS1", connection)
        self.reports: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    @on(Action.notify_report, skip_schema_validation=False)
    def on_notify_report(self, **payload: Any) -> call_result.NotifyReport:
        self.reports.put_nowait(payload)
        return call_result.NotifyReport()

    async def ask(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return await call_raw(self, action, payload, timeout=5)

    async def report(self) -> list[dict[str, Any]]:
        """NotifyReport pages (snake_case) until one says it is the last."""
        got = [await asyncio.wait_for(self.reports.get(), 5)]
        while got[-1].get("tbc"):
            got.append(await asyncio.wait_for(self.reports.get(), 5))
        return got


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[tuple[Csms, Station]]:
    a, b = Pipe(), Pipe()
    a.peer, b.peer = b, a
    station = Station(a, DeviceModel.load(tmp_path, nb_evse=2))
    csms = Csms(b)
    tasks = [asyncio.create_task(station.start()), asyncio.create_task(csms.start())]
    yield csms, station
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def item(component: str, variable: str, **extra: Any) -> dict[str, Any]:
    name, _, evse = component.partition("@")
    c: dict[str, Any] = {"name": name}
    if evse:
        n, _, connector = evse.partition(".")
        c["evse"] = {"id": int(n)} | ({"connectorId": int(connector)} if connector else {})
    v_name, _, instance = variable.partition(":")
    return {"component": c, "variable": {"name": v_name} | ({"instance": instance} if instance else {}), **extra}


async def test_get_variables_every_status(peers: tuple[Csms, Station]):
    csms, _ = peers
    answer = await csms.ask("GetVariables", {"getVariableData": [
        item("OCPPCommCtrlr", "HeartbeatInterval"),
        item("OCPPCommCtrlr", "MessageAttempts:TransactionEvent"),
        item("EVSE@2", "AvailabilityState"),
        item("EVSE@1", "Power", attributeType="MaxSet"),
        item("NoSuchCtrlr", "HeartbeatInterval"),
        item("OCPPCommCtrlr", "NoSuchVariable"),
        item("OCPPCommCtrlr", "HeartbeatInterval", attributeType="Target"),
        item("SecurityCtrlr", "BasicAuthPassword"),
    ]})
    results = answer["getVariableResult"]
    assert [(r["attributeStatus"], r.get("attributeValue")) for r in results] == [
        ("Accepted", "300"), ("Accepted", "3"), ("Accepted", "Available"), ("Accepted", "0"),
        ("UnknownComponent", None), ("UnknownVariable", None), ("NotSupportedAttributeType", None),
        ("Rejected", None)]
    assert results[1]["variable"] == {"name": "MessageAttempts", "instance": "TransactionEvent"}
    assert results[2]["component"] == {"name": "EVSE", "evse": {"id": 2}}
    assert results[7]["attributeStatusInfo"]["reasonCode"] == "WriteOnly"


async def test_set_variables_persist_and_announce_after_the_answer(peers: tuple[Csms, Station], tmp_path: Path):
    csms, station = peers
    heard: list[tuple[str, str]] = []
    station.device_model.listeners.append(lambda key, value: heard.append((key, value)))
    answer = await csms.ask("SetVariables", {"setVariableData": [
        item("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="120"),
        item("SampledDataCtrlr", "TxUpdatedInterval", attributeValue="10.0"),
        item("SmartChargingCtrlr", "LimitChangeSignificance", attributeValue="16.5"),
        item("OCPPCommCtrlr", "FileTransferProtocols", attributeValue="FTP"),
        item("OCPPCommCtrlr", "NetworkConfigurationPriority", attributeValue="1"),
        item("SampledDataCtrlr", "TxUpdatedMeasurands", attributeValue="Sunrise"),
        item("Nope", "HeartbeatInterval", attributeValue="1"),
        item("TxCtrlr", "Nope", attributeValue="1"),
        item("TxCtrlr", "TxStartPoint", attributeValue="Authorized", attributeType="MinSet"),
        item("SecurityCtrlr", "BasicAuthPassword", attributeValue="a-password-of-24-chars!!"),
    ]})
    results = answer["setVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted", "Rejected", "Accepted", "Rejected", "RebootRequired", "Rejected", "UnknownComponent",
        "UnknownVariable", "NotSupportedAttributeType", "Accepted"]
    assert results[1]["attributeStatusInfo"]["reasonCode"] == "InvalidValue"  # 10.0 is no integer
    assert results[3]["attributeStatusInfo"]["reasonCode"] == "ReadOnly"
    await asyncio.sleep(0.05)  # the @after runs once the answer is out
    assert ("OCPPCommCtrlr/HeartbeatInterval", "120") in heard
    assert ("SmartChargingCtrlr/LimitChangeSignificance", "16.5") in heard
    assert not any(key.endswith("NetworkConfigurationPriority") for key, _ in heard)

    again = DeviceModel.load(tmp_path, nb_evse=2)
    assert again.value("OCPPCommCtrlr/HeartbeatInterval") == "120"
    assert again.value("SecurityCtrlr/BasicAuthPassword") == "a-password-of-24-chars!!"
    check = await csms.ask("GetVariables", {"getVariableData": [item("OCPPCommCtrlr", "HeartbeatInterval")]})
    assert check["getVariableResult"][0]["attributeValue"] == "120"


async def test_too_many_items_is_a_call_error(peers: tuple[Csms, Station]):
    csms, station = peers
    most = station.device_model.integer("DeviceDataCtrlr/ItemsPerMessage:GetVariables")
    with pytest.raises(CallErrorReceived) as info:
        await csms.ask("GetVariables", {"getVariableData": [item("OCPPCommCtrlr", "HeartbeatInterval")] * (most + 1)})
    assert info.value.details["error_code"] == "OccurenceConstraintViolation"


async def test_full_inventory_pages_list_every_variable(peers: tuple[Csms, Station]):
    csms, station = peers
    answer = await csms.ask("GetBaseReport", {"requestId": 7, "reportBase": "FullInventory"})
    assert answer == {"status": "Accepted"}
    pages = await csms.report()
    per_page = station.device_model.integer("DeviceDataCtrlr/ItemsPerMessage:GetReport")
    assert [p["seq_no"] for p in pages] == list(range(len(pages))) and len(pages) > 1
    assert {p["request_id"] for p in pages} == {7}
    assert [p["tbc"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(len(p["report_data"]) <= per_page for p in pages)
    reported = [_key(d) for p in pages for d in p["report_data"]]
    assert sorted(reported) == sorted(v.key for v in station.device_model)
    assert len(reported) == len(set(reported))


async def test_configuration_and_summary_inventories(peers: tuple[Csms, Station]):
    csms, _ = peers
    await csms.ask("GetBaseReport", {"requestId": 1, "reportBase": "ConfigurationInventory"})
    data = [d for p in await csms.report() for d in p["report_data"]]
    assert all(any(a["mutability"] != "ReadOnly" for a in d["variable_attribute"]) for d in data)
    assert "OCPPCommCtrlr/HeartbeatInterval" in {_key(d) for d in data}
    password = next(d for d in data if d["variable"]["name"] == "BasicAuthPassword")
    assert "value" not in password["variable_attribute"][0]
    await csms.ask("GetBaseReport", {"requestId": 2, "reportBase": "SummaryInventory"})
    data = [d for p in await csms.report() for d in p["report_data"]]
    assert "EVSE@2/AvailabilityState" in {_key(d) for d in data}


async def test_custom_report_with_component_variables_and_criteria(peers: tuple[Csms, Station]):
    csms, station = peers
    answer = await csms.ask("GetReport", {"requestId": 3, "componentVariable": [
        {"component": {"name": "EVSE"}, "variable": {"name": "AvailabilityState"}},
        {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "MessageAttempts"}}]})
    assert answer == {"status": "Accepted"}
    data = [d for p in await csms.report() for d in p["report_data"]]
    assert sorted(_key(d) for d in data) == ["EVSE@1/AvailabilityState", "EVSE@2/AvailabilityState",
                                             "OCPPCommCtrlr/MessageAttempts:TransactionEvent"]
    assert await csms.ask("GetReport", {"requestId": 4, "componentCriteria": ["Problem"]}) == {
        "status": "EmptyResultSet"}
    station.device_model.update("ChargingStation/Problem", True)
    assert await csms.ask("GetReport", {"requestId": 5, "componentCriteria": ["Problem"]}) == {"status": "Accepted"}
    data = [d for p in await csms.report() for d in p["report_data"]]
    assert {d["component"]["name"] for d in data} == {"ChargingStation"}
    assert await csms.ask("GetReport", {"requestId": 6, "componentVariable": [
        {"component": {"name": "Nope"}}]}) == {"status": "EmptyResultSet"}


async def test_local_list_and_cache(peers: tuple[Csms, Station]):
    csms, station = peers

    def entry(token: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"idToken": {"idToken": token, "type": "ISO14443"}}
        if status is not None:
            out["idTokenInfo"] = {"status": status, **info}
        return out

    assert await csms.ask("GetLocalListVersion", {}) == {"versionNumber": 0}
    long_token = "T" * 36  # longer than a 1.6 idTag
    assert (await csms.ask("SendLocalList", {"versionNumber": 3, "updateType": "Full", "localAuthorizationList": [
        entry(long_token, groupIdToken={"idToken": "FLEET", "type": "Central"}),
        entry("B", "NoCredit", cacheExpiryDateTime="2030-01-01T00:00:00Z")]}))["status"] == "Accepted"
    assert await csms.ask("GetLocalListVersion", {}) == {"versionNumber": 3}
    lookup = station.station.local_list.lookup
    assert lookup(long_token.lower(), utc_from_timestamp(NOW)) == {"status": "Accepted", "parentIdTag": "FLEET"}
    assert lookup("B", utc_from_timestamp(NOW))["status"] == "NoCredit"  # type: ignore[index]
    assert (await csms.ask("SendLocalList", {"versionNumber": 3, "updateType": "Differential",
                                             "localAuthorizationList": [entry("C")]}))["status"] == "VersionMismatch"
    assert (await csms.ask("SendLocalList", {"versionNumber": 4, "updateType": "Differential",
                                             "localAuthorizationList": [entry("B", None)]}))["status"] == "Accepted"
    assert lookup("B", utc_from_timestamp(NOW)) is None
    assert (await csms.ask("SendLocalList", {"versionNumber": 5, "updateType": "Full", "localAuthorizationList": [
        entry("A"), entry("B"), entry("C")]}))["status"] == "Failed"  # more than ItemsPerMessage

    station.station.cache.update("X", IdTagInfo("Accepted"))
    assert await csms.ask("ClearCache", {}) == {"status": "Accepted"}
    assert len(station.station.cache) == 0
    station.station.cache.enabled = False
    assert await csms.ask("ClearCache", {}) == {"status": "Rejected"}
    station.station.local_list.supported = False
    answer = await csms.ask("SendLocalList", {"versionNumber": 9, "updateType": "Full"})
    assert answer == {"status": "Failed", "statusInfo": {"reasonCode": "NotEnabled"}}


def _key(data: dict[str, Any]) -> str:
    """The flat key of a ReportDataType as the library hands it over (snake_case)."""
    v = data["variable"]
    return f"{component_ref(data['component']).key}/{v['name']}" + (f":{v['instance']}" if v.get("instance") else "")
