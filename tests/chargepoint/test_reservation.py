"""Reservations end to end: ReserveNow / CancelReservation from the demo CSMS, the Reserved
status, who may start, reservationId in StartTransaction, expiry, connector 0, persistence."""

from __future__ import annotations

import time
from typing import Any

from chargepoint.model.smart_charging import format_datetime
from tests.chargepoint.conftest import ANY, Driver, T, call, messages, utc, wait_message
from tests.procs import wait_until


def reserve(csms: Any, reservation_id: int, connector_id: int = 1, tag: str = "TAGR", seconds: float = 60,
            **extra: Any) -> str:
    request = {"reservationId": reservation_id, "connectorId": connector_id, "idTag": tag,
               "expiryDate": format_datetime(utc(time.time() + seconds)), **extra}
    return call(csms.api, "CP1", "ReserveNow", request)["status"]


def connector_statuses(csms: Any, connector_id: int = 1) -> list[str]:
    return [p["status"] for p in messages(csms, "StatusNotification") if p["connectorId"] == connector_id]


def test_reservation_refuses_other_tags_and_starts_the_holder(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    assert reserve(csms, 1) == "Accepted"
    ui.connector("Reserved")
    wait_message(csms, "StatusNotification", lambda p: p["status"] == "Reserved")
    assert reserve(csms, 2, tag="OTHER") == "Occupied"
    assert reserve(csms, 2, connector_id=3) == "Rejected"
    assert reserve(csms, 2, seconds=-5) == "Rejected"
    # reservations survive a restart
    cp.kill()
    ui.from_now()
    cp.start()
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d["pid"] == cp.process.pid)
    ui.connector("Reserved")
    # another tag may not start, neither at the connector nor remotely
    ui.car()
    ui.connector("Preparing")
    ui.tag("TAGX")
    wait_message(csms, "Authorize", lambda p: p["idTag"] == "TAGX")
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"connectorId": 1, "idTag": "TAGX"}) == \
        {"status": "Rejected"}
    time.sleep(0.3)
    assert not messages(csms, "StartTransaction")
    # the holder starts, the reservation is used up
    ui.tag("tagr")  # id tags compare case-insensitively
    start = wait_message(csms, "StartTransaction")
    assert start["reservationId"] == 1 and start["idTag"] == "tagr"
    ui.connector("Charging", transaction_id=ANY)
    assert call(csms.api, "CP1", "CancelReservation", {"reservationId": 1}) == {"status": "Rejected"}
    ui.tag("tagr")
    ui.car(cable=0)
    ui.connector("Available")
    # cancelled, then expired
    assert reserve(csms, 3) == "Accepted"
    ui.connector("Reserved")
    ui.from_now()
    assert call(csms.api, "CP1", "CancelReservation", {"reservationId": 3}) == {"status": "Accepted"}
    ui.connector("Available")
    reported = len(connector_statuses(csms))
    ui.from_now()
    assert reserve(csms, 4, seconds=1.5) == "Accepted"
    ui.connector("Reserved")
    ui.from_now()
    ui.connector("Available", timeout=3)
    wait_until(lambda: connector_statuses(csms)[reported:] == ["Reserved", "Available"], what="the expiry reported")
    ui.car()
    ui.tag("TAGX")  # free again
    assert "reservationId" not in wait_message(csms, "StartTransaction", lambda p: p["idTag"] == "TAGX")


def test_connector_zero_and_group_reservations(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, nb_connectors=2, ocpp={"LocalPreAuthorize": "true"})
    ui.status("Accepted")
    # connector 0: no connector shows Reserved, but one stays free for the holder
    assert reserve(csms, 5, connector_id=0, tag="TAGZ") == "Accepted"
    ui.start_session(1, tag="TAGX")  # one connector is still free for TAGZ
    ui.car(2)
    ui.tag("TAGY", 2)
    wait_message(csms, "Authorize", lambda p: p["idTag"] == "TAGY")
    time.sleep(0.3)
    assert [p["idTag"] for p in messages(csms, "StartTransaction")] == ["TAGX"]
    ui.tag("TAGZ", 2)
    assert wait_message(csms, "StartTransaction", lambda p: p["idTag"] == "TAGZ")["reservationId"] == 5
    for n, tag in ((1, "TAGX"), (2, "TAGZ")):
        ui.tag(tag, n)
        ui.car(n, cable=0)
        ui.connector("Available", n)
    # a reservation for a group: a tag whose parent id (from the local list) is the group starts
    local_list = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "MEMBER", "idTagInfo": {"status": "Accepted", "parentIdTag": "GROUP"}}]}
    assert call(csms.api, "CP1", "SendLocalList", local_list) == {"status": "Accepted"}
    assert reserve(csms, 6, connector_id=2, tag="LEADER", parentIdTag="GROUP") == "Accepted"
    ui.connector("Reserved", 2)
    ui.car(2)
    ui.tag("MEMBER", 2)
    start = wait_message(csms, "StartTransaction", lambda p: p["idTag"] == "MEMBER")
    assert start["reservationId"] == 6 and start["connectorId"] == 2
