"""The local authorization list end to end: SendLocalList version rules, GetLocalListVersion,
persistence, and the authorization rules online (LocalPreAuthorize) and offline
(LocalAuthorizeOffline, AllowOfflineTxForUnknownId), with the offline start queued."""

from __future__ import annotations

import time
from typing import Any

from tests.chargepoint.conftest import Driver, T, call, messages, wait_message


def send_list(csms: Any, version: int, update: str, *entries: tuple[str, str | None]) -> str:
    items = [{"idTag": tag} | ({"idTagInfo": {"status": status}} if status else {}) for tag, status in entries]
    request = {"listVersion": version, "updateType": update, "localAuthorizationList": items}
    return call(csms.api, "CP1", "SendLocalList", request)["status"]


def version(csms: Any) -> int:
    return call(csms.api, "CP1", "GetLocalListVersion")["listVersion"]


def test_local_list_and_offline_authorization(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, nb_connectors=2,
                    ocpp={"LocalPreAuthorize": "true", "AuthorizationCacheEnabled": "false"})
    ui.status("Accepted")
    assert version(csms) == 0
    assert send_list(csms, 1, "Full", ("TAGL", "Accepted"), ("TAGB", "Accepted")) == "Accepted"
    assert version(csms) == 1
    assert send_list(csms, 1, "Differential", ("TAGN", "Accepted")) == "VersionMismatch"
    assert send_list(csms, 3, "Full", ("TAGL", "Accepted"), ("tagl", "Blocked")) == "Failed"
    assert send_list(csms, 2, "Differential", ("TAGB", None), ("TAGN", "Accepted"), ("TAGX", "Blocked")) == \
        "Accepted"
    assert version(csms) == 2
    # online, LocalPreAuthorize: a listed tag starts without asking the CSMS
    ui.start_session(1, tag="TAGL")
    assert not messages(csms, "Authorize")
    ui.tag("TAGL")
    ui.car(cable=0)
    ui.connector("Available")
    # the list survives a restart
    cp.kill()
    ui.from_now()
    cp.start()
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
    assert version(csms) == 2
    # offline: listed and Accepted starts (queued), listed but Blocked or unknown does not
    ui.from_now()
    csms.stop()
    ui.status("Disconnected")
    ui.car(1)
    ui.tag("TAGN", 1)
    assert ui.connector("Charging", 1)["transaction_id"] is None
    ui.car(2)
    for tag in ("TAGX", "TAGB", "TAGU"):
        ui.tag(tag, 2)
    time.sleep(0.3)
    assert ui.rec.last_json(T.connector_status("CP1", 2))["status"] == "Preparing"
    csms.start()
    ui.status("Accepted", timeout=15)
    assert wait_message(csms, "StartTransaction", lambda p: p["idTag"] == "TAGN")["connectorId"] == 1
    ui.wait(T.connector_status("CP1", 1), lambda d: d["transaction_id"] is not None)  # numbered once delivered
    assert [p["idTag"] for p in messages(csms, "StartTransaction")] == ["TAGL", "TAGN"]
    # without LocalAuthorizeOffline the list is not used offline: AllowOfflineTxForUnknownId decides
    for key in ("LocalAuthorizeOffline", "AllowOfflineTxForUnknownId"):
        value = "false" if key == "LocalAuthorizeOffline" else "true"
        assert call(csms.api, "CP1", "ChangeConfiguration", {"key": key, "value": value}) == {"status": "Accepted"}
    ui.from_now()
    csms.stop()
    ui.status("Disconnected")
    ui.tag("TAGX", 2)
    ui.connector("Charging", 2)
