"""The OCPP 1.6 handlers carry out in `@after` only what their `@on` accepted."""

from __future__ import annotations

from typing import Any

from chargepoint.ocpp16.handlers import ChargePoint16


class Station:
    """Answers ReserveNow from `answers` (one per call) and records the real calls."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.carried_out: list[dict[str, Any]] = []

    def reserve_now(self, request: dict[str, Any], *, dry_run: bool = False) -> str:
        if not dry_run:
            self.carried_out.append(request)
        return self.answers.pop(0)


def test_after_acts_only_on_what_on_accepted() -> None:
    station = Station("Occupied", "Accepted", "Accepted", "Accepted")
    cp = ChargePoint16("CP1", None, station, 5, trigger=lambda *a, **k: "Accepted",  # type: ignore[arg-type]
                       reconnect=lambda: None)
    request = {"connector_id": 1, "expiry_date": "2099-01-01T00:00:00Z", "id_tag": "T", "reservation_id": 7}
    assert cp.on_reserve_now("call-1", **request).status == "Occupied"
    cp.after_reserve_now("call-1", **request)  # the connector became free meanwhile: still not reserved
    assert station.carried_out == []
    assert cp.on_reserve_now("call-2", **request).status == "Accepted"
    cp.after_reserve_now("call-2", **request)
    assert station.carried_out == [{"connectorId": 1, "expiryDate": "2099-01-01T00:00:00Z", "idTag": "T",
                                    "reservationId": 7}]
    cp.after_reserve_now("call-2", **request)  # once only
    assert len(station.carried_out) == 1
