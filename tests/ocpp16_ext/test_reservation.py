"""Reservations: ReserveNow answers, who may start, connector-0 reservations, expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chargepoint.model.reservation import Reservations

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
ALL_FREE = {1: "Available", 2: "Available"}


def request(rid: int = 1, connector: int = 1, tag: str = "TAG1", minutes: float = 30, **extra: Any) -> dict[str, Any]:
    expiry = (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {"reservationId": rid, "connectorId": connector, "idTag": tag, "expiryDate": expiry, **extra}


@pytest.fixture
def res() -> Reservations:
    return Reservations(nb_connectors=2, connector_zero_supported=True)


def test_reserved_connector_refuses_other_tags_and_accepts_the_holder(res: Reservations) -> None:
    assert res.reserve(request(parentIdTag="GROUP"), ALL_FREE, NOW).status == "Accepted"
    assert res.for_connector(1) is not None and res.for_connector(2) is None
    assert not res.may_start(1, "OTHER")
    assert not res.may_start(1, "OTHER", parent_id="ELSEWHERE")
    assert res.may_start(1, "tag1")  # id tags are case-insensitive
    assert res.may_start(1, "OTHER", parent_id="GROUP")
    assert res.may_start(2, "OTHER")
    assert res.consume(1, "OTHER") is None
    assert res.consume(1, "MEMBER", parent_id="GROUP") == 1
    assert res.for_connector(1) is None


@pytest.mark.parametrize(("state", "status"), [
    ("Faulted", "Faulted"), ("Unavailable", "Unavailable"), ("Charging", "Occupied"),
    ("Preparing", "Occupied"), ("Finishing", "Occupied"), ("Available", "Accepted")])
def test_reserve_now_answer_follows_the_connector_state(res: Reservations, state: str, status: str) -> None:
    assert res.reserve(request(), {1: state, 2: "Available"}, NOW).status == status


def test_rejections(res: Reservations) -> None:
    assert res.reserve(request(connector=3), ALL_FREE, NOW).status == "Rejected"
    assert res.reserve(request(minutes=-1), ALL_FREE, NOW).status == "Rejected"
    assert res.reserve({"reservationId": 1}, ALL_FREE, NOW).status == "Rejected"
    assert Reservations(2).reserve(request(connector=0), ALL_FREE, NOW).status == "Rejected"
    assert Reservations(2, supported=False).reserve(request(), ALL_FREE, NOW).status == "Rejected"


def test_same_reservation_id_replaces_and_another_is_occupied(res: Reservations) -> None:
    res.reserve(request(rid=1, connector=1), ALL_FREE, NOW)
    assert res.reserve(request(rid=2, connector=1, tag="B"), {1: "Reserved", 2: "Available"}, NOW).status == "Occupied"
    assert res.reserve(request(rid=1, connector=2, tag="C"), ALL_FREE, NOW).status == "Accepted"
    assert res.for_connector(1) is None and res.for_connector(2).id_tag == "C"
    assert res.reserve(request(rid=1, connector=2, tag="D"), {1: "Available", 2: "Reserved"}, NOW).status == "Accepted"


def test_connector_zero_reservation_keeps_one_connector_free(res: Reservations) -> None:
    assert res.reserve(request(rid=5, connector=0, tag="HOLDER"), ALL_FREE, NOW).status == "Accepted"
    assert res.may_start(1, "OTHER", free_connectors=[1, 2])  # connector 2 stays free for HOLDER
    assert not res.may_start(2, "OTHER", free_connectors=[2])  # the last free one
    assert res.may_start(2, "HOLDER", free_connectors=[2])
    # A second pool reservation needs a second free connector; a specific one too.
    assert res.reserve(request(rid=6, connector=0, tag="X"), {1: "Charging", 2: "Available"}, NOW).status == "Occupied"
    assert res.reserve(request(rid=7, connector=2, tag="Y"), {1: "Charging", 2: "Available"}, NOW).status == "Occupied"
    assert res.consume(2, "HOLDER") == 5
    assert res.all() == []


def test_connector_zero_refusal_reflects_the_connectors(res: Reservations) -> None:
    assert res.reserve(request(connector=0), {1: "Faulted", 2: "Faulted"}, NOW).status == "Faulted"
    assert res.reserve(request(connector=0), {1: "Faulted", 2: "Unavailable"}, NOW).status == "Unavailable"
    assert res.reserve(request(connector=0), {1: "Charging", 2: "Faulted"}, NOW).status == "Occupied"


def test_cancel(res: Reservations) -> None:
    res.reserve(request(), ALL_FREE, NOW)
    assert res.cancel(2) == "Rejected"
    assert res.cancel(1) == "Accepted"
    assert res.for_connector(1) is None


def test_expiry(res: Reservations) -> None:
    assert res.next_expiry is None
    res.reserve(request(rid=1, minutes=10), ALL_FREE, NOW)
    res.reserve(request(rid=2, connector=2, minutes=20), ALL_FREE, NOW)
    assert res.next_expiry == NOW + timedelta(minutes=10)
    assert res.expired(NOW + timedelta(minutes=9)) == []
    assert [r.reservation_id for r in res.expired(NOW + timedelta(minutes=10))] == [1]
    assert res.next_expiry == NOW + timedelta(minutes=20)
    assert res.may_start(1, "ANYONE")


def test_round_trip_through_json(res: Reservations) -> None:
    res.reserve(request(rid=1, parentIdTag="G"), ALL_FREE, NOW)
    res.reserve(request(rid=2, connector=0, tag="Z"), ALL_FREE, NOW)
    restored = Reservations.from_dict(json.loads(json.dumps(res.to_dict())), 2, connector_zero_supported=True)
    assert restored.all() == res.all()
    assert restored.to_dict()["reservations"][0] == request(rid=1, parentIdTag="G")


def test_dry_runs_decide_without_changing_anything(res: Reservations) -> None:
    assert res.reserve(request(), ALL_FREE, NOW, dry_run=True).status == "Accepted"
    assert res.all() == []
    res.reserve(request(), ALL_FREE, NOW)
    assert res.cancel(1, dry_run=True) == "Accepted" and res.for_connector(1) is not None
    assert res.cancel(1) == "Accepted" and res.cancel(1, dry_run=True) == "Rejected"
