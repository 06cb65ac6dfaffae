"""Reservations (OCPP 1.6 §5.13 ReserveNow, §5.2 CancelReservation).

The charge point passes in what this object cannot know (connector states, the parent id of
a presented tag, the current time) and asks it who may start where. A reservation on
connector 0 holds no particular connector: it only guarantees that one connector stays free
for its holder, so other tags may start as long as enough free connectors remain.
Id tags compare case-insensitively (OCPP IdToken).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chargepoint.model.smart_charging import Answer, format_datetime, parse_datetime

FREE_STATES = ("Available", "Reserved")  # a Reserved connector is free for its own reservation


class ReservationStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAULTED = "Faulted"
    OCCUPIED = "Occupied"
    REJECTED = "Rejected"
    UNAVAILABLE = "Unavailable"


class CancelStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


@dataclass(frozen=True)
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    expiry: datetime
    parent_id_tag: str | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Reservation:
        """A ReserveNow request payload; ValueError when a field is missing or malformed."""
        try:
            return cls(int(data["reservationId"]), int(data["connectorId"]), str(data["idTag"]),
                       parse_datetime(data["expiryDate"]), data.get("parentIdTag"))
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]}") from None
        except TypeError as exc:
            raise ValueError(f"malformed reservation: {exc}") from None

    def to_wire(self) -> dict[str, Any]:
        wire = {"reservationId": self.reservation_id, "connectorId": self.connector_id,
                "idTag": self.id_tag, "expiryDate": format_datetime(self.expiry)}
        return wire | ({} if self.parent_id_tag is None else {"parentIdTag": self.parent_id_tag})

    def held_by(self, id_tag: str, parent_id: str | None = None) -> bool:
        """The reserved tag itself, or any tag of the reservation's parent id (group)."""
        if id_tag.casefold() == self.id_tag.casefold():
            return True
        return (self.parent_id_tag is not None and parent_id is not None
                and parent_id.casefold() == self.parent_id_tag.casefold())


class Reservations:
    """The reservations of one charge point with connectors 1..nb_connectors."""

    def __init__(self, nb_connectors: int, supported: bool = True, connector_zero_supported: bool = False) -> None:
        self.nb_connectors = nb_connectors
        self.supported = supported  # Reservation feature profile
        self.connector_zero_supported = connector_zero_supported  # ReserveConnectorZeroSupported
        self._by_id: dict[int, Reservation] = {}

    def reserve(self, request: Mapping[str, Any], connector_states: Mapping[int, str], now: datetime, *,
                dry_run: bool = False) -> Answer:
        """ReserveNow. `connector_states`: OCPP status of each connector 1..N. A reservation with
        the same reservationId is replaced. `dry_run` only decides."""
        try:
            new = Reservation.from_wire(request)
        except ValueError as exc:
            return Answer(ReservationStatus.REJECTED, str(exc))
        if not self.supported:
            return Answer(ReservationStatus.REJECTED, "reservations are not supported")
        if not 0 <= new.connector_id <= self.nb_connectors:
            return Answer(ReservationStatus.REJECTED, f"unknown connector {new.connector_id}")
        if new.connector_id == 0 and not self.connector_zero_supported:
            return Answer(ReservationStatus.REJECTED, "ReserveConnectorZeroSupported is false")
        if new.expiry <= now:
            return Answer(ReservationStatus.REJECTED, "expiryDate is in the past")
        others = [r for r in self._by_id.values() if r.reservation_id != new.reservation_id]
        free = self._free(connector_states, others)
        pool_holders = sum(1 for r in others if r.connector_id == 0)
        if new.connector_id == 0:
            if len(free) > pool_holders:
                return self._accept(new, dry_run)
            return self._refusal([connector_states.get(c, "Unavailable") for c in range(1, self.nb_connectors + 1)])
        state = connector_states.get(new.connector_id, "Unavailable")
        if any(r.connector_id == new.connector_id for r in others):
            return Answer(ReservationStatus.OCCUPIED, f"connector {new.connector_id} is already reserved")
        if new.connector_id not in free:
            return self._refusal([state])
        if len(free) - 1 < pool_holders:
            return Answer(ReservationStatus.OCCUPIED, "the free connectors are held by connector-0 reservations")
        return self._accept(new, dry_run)

    def cancel(self, reservation_id: int, *, dry_run: bool = False) -> CancelStatus:
        """CancelReservation."""
        if reservation_id not in self._by_id:
            return CancelStatus.REJECTED
        if not dry_run:
            del self._by_id[reservation_id]
        return CancelStatus.ACCEPTED

    def expired(self, now: datetime) -> list[Reservation]:
        """Remove and return the reservations whose expiryDate has passed."""
        gone = [r for r in self._by_id.values() if r.expiry <= now]
        for reservation in gone:
            del self._by_id[reservation.reservation_id]
        return gone

    @property
    def next_expiry(self) -> datetime | None:
        """When `expired` will next have something to remove: the one timer to arm."""
        return min((r.expiry for r in self._by_id.values()), default=None)

    def for_connector(self, connector_id: int) -> Reservation | None:
        """The reservation holding that connector (its status shows Reserved), if any."""
        return next((r for r in self._by_id.values() if r.connector_id == connector_id), None)

    def all(self) -> list[Reservation]:
        return list(self._by_id.values())

    def may_start(self, connector_id: int, id_tag: str, parent_id: str | None = None,
                  free_connectors: Collection[int] = ()) -> bool:
        """Whether this tag may start a transaction on this connector now.

        `free_connectors`: the connectors that are Available (the one asked about included or
        not). A connector-0 reservation of another holder needs one of them to stay free."""
        own = self.for_connector(connector_id)
        if own is not None:
            return own.held_by(id_tag, parent_id)
        pool = [r for r in self._by_id.values() if r.connector_id == 0 and not r.held_by(id_tag, parent_id)]
        if not pool:
            return True
        left = [c for c in free_connectors if c != connector_id and self.for_connector(c) is None]
        return len(left) >= len(pool)

    def consume(self, connector_id: int, id_tag: str, parent_id: str | None = None) -> int | None:
        """The reservationId to put in StartTransaction, if this start uses a reservation
        (the connector's own, else a connector-0 one of this holder); it ends the reservation."""
        own = self.for_connector(connector_id)
        candidates = [own] if own is not None else [r for r in self._by_id.values() if r.connector_id == 0]
        used = next((r for r in candidates if r.held_by(id_tag, parent_id)), None)
        if used is None:
            return None
        del self._by_id[used.reservation_id]
        return used.reservation_id

    def to_dict(self) -> dict[str, Any]:
        return {"reservations": [r.to_wire() for r in self._by_id.values()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], nb_connectors: int, supported: bool = True,
                  connector_zero_supported: bool = False) -> Reservations:
        store = cls(nb_connectors, supported, connector_zero_supported)
        for item in data.get("reservations", []):
            store._accept(Reservation.from_wire(item))
        return store

    def _accept(self, reservation: Reservation, dry_run: bool = False) -> Answer:
        if not dry_run:
            self._by_id[reservation.reservation_id] = reservation
        return Answer(ReservationStatus.ACCEPTED)

    def _free(self, connector_states: Mapping[int, str], reservations: Collection[Reservation]) -> set[int]:
        """Connectors no one uses and no given reservation holds."""
        held = {r.connector_id for r in reservations}
        return {c for c in range(1, self.nb_connectors + 1)
                if connector_states.get(c) in FREE_STATES and c not in held}

    @staticmethod
    def _refusal(states: list[str]) -> Answer:
        """Why no connector is free: Faulted when all are, Unavailable when all are out of
        service, else Occupied."""
        reason = f"no free connector ({', '.join(states)})"
        if all(s == ReservationStatus.FAULTED for s in states):
            return Answer(ReservationStatus.FAULTED, reason)
        if all(s in (ReservationStatus.FAULTED, ReservationStatus.UNAVAILABLE) for s in states):
            return Answer(ReservationStatus.UNAVAILABLE, reason)
        return Answer(ReservationStatus.OCCUPIED, reason)
