"""What the charge point knows about id tags: `IdTagInfo` and the authorization cache.
The rules that use them are `local_auth_list.AuthorizationPolicy`."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chargepoint.model.smart_charging import parse_datetime

ACCEPTED = "Accepted"


@dataclass(frozen=True)
class IdTagInfo:
    """What is known about an id tag, whichever OCPP version told us."""

    status: str  # Accepted, Blocked, Expired, Invalid, ConcurrentTx
    parent_id: str | None = None
    expiry: float | None = None  # wall-clock seconds

    def accepted(self, now: float) -> bool:
        return self.status == ACCEPTED and (self.expiry is None or self.expiry > now)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "parent_id": self.parent_id, "expiry": self.expiry}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdTagInfo:
        return cls(str(data["status"]), data.get("parent_id"), data.get("expiry"))

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> IdTagInfo:
        """An `idTagInfo` as the CSMS writes it (OCPP 1.6 camelCase); an unreadable expiryDate
        is ignored rather than trusted."""
        expiry = None
        if data.get("expiryDate"):
            with contextlib.suppress(ValueError):
                expiry = parse_datetime(str(data["expiryDate"])).timestamp()
        return cls(str(data["status"]), data.get("parentIdTag"), expiry)


class AuthorizationCache:
    """Id tags the CSMS answered recently (OCPP 1.6 §3.5.1), least recently used dropped first.

    An entry past its expiry is no longer trusted: the CP must ask again.
    """

    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self.enabled = True
        self._entries: OrderedDict[str, IdTagInfo] = OrderedDict()

    def lookup(self, id_tag: str, now: float) -> IdTagInfo | None:
        if not self.enabled:
            return None
        info = self._entries.get(id_tag)
        if info is None:
            return None
        if info.expiry is not None and info.expiry <= now:
            del self._entries[id_tag]
            return None
        self._entries.move_to_end(id_tag)
        return info

    def update(self, id_tag: str, info: IdTagInfo) -> None:
        if not self.enabled:
            return
        self._entries[id_tag] = info
        self._entries.move_to_end(id_tag)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def to_dict(self) -> dict[str, Any]:
        return {tag: info.to_dict() for tag, info in self._entries.items()}

    def load(self, data: dict[str, Any]) -> None:
        self._entries = OrderedDict((tag, IdTagInfo.from_dict(info)) for tag, info in data.items())
