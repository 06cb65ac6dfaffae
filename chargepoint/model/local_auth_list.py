"""The Local Authorization List (OCPP 1.6 §3.5.2, SendLocalList, GetLocalListVersion) and
the rules that decide, for a presented id tag, whether the charge point may start on its own.

The list keeps entries in wire shape (`idTag` + `idTagInfo`), so what the CSMS sent is what
is persisted and what `lookup` gives back. Id tags compare case-insensitively (OCPP IdToken).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chargepoint.model.smart_charging import Answer, parse_datetime

# The longest id of any version (2.0.1 IdToken: 36; 1.6 idTag: 20, which its schema enforces).
ID_TAG_MAX_LENGTH = 36
ACCEPTED = "Accepted"
# 1.6 AuthorizationStatus and 2.0.1 AuthorizationStatusEnumType (each schema admits its own).
AUTHORIZATION_STATUSES = frozenset({ACCEPTED, "Blocked", "Expired", "Invalid", "ConcurrentTx", "NoCredit",
                                    "NotAllowedTypeEVSE", "NotAtThisLocation", "NotAtThisTime", "Unknown"})


class UpdateStatus(StrEnum):
    ACCEPTED = "Accepted"
    FAILED = "Failed"
    NOT_SUPPORTED = "NotSupported"
    VERSION_MISMATCH = "VersionMismatch"


class UpdateType(StrEnum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


class LocalAuthList:
    """The list a CSMS sends so the charge point can authorize without it."""

    def __init__(self, supported: bool = True, max_length: int = 1000, send_max_length: int = 100) -> None:
        self.supported = supported  # LocalAuthListManagement feature profile
        self.max_length = max_length  # LocalAuthListMaxLength
        self.send_max_length = send_max_length  # SendLocalListMaxLength
        self._version = 0
        self._entries: dict[str, dict[str, Any]] = {}  # casefolded idTag → wire entry

    @property
    def version(self) -> int:
        """GetLocalListVersion: -1 when not supported, 0 when the list is empty."""
        if not self.supported:
            return -1
        return self._version if self._entries else 0

    def __len__(self) -> int:
        return len(self._entries)

    def update(self, request: Mapping[str, Any]) -> Answer:
        """SendLocalList. A Full update replaces the list; a Differential one needs a newer
        listVersion, and its entries without idTagInfo are removed. All or nothing."""
        if not self.supported:
            return Answer(UpdateStatus.NOT_SUPPORTED, "the local authorization list is not supported")
        try:
            version = int(request["listVersion"])
            update_type = UpdateType(request["updateType"])
            entries = [_checked_entry(item) for item in request.get("localAuthorizationList") or []]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return Answer(UpdateStatus.FAILED, f"malformed request: {exc!r}")
        if len(entries) > self.send_max_length:
            return Answer(UpdateStatus.FAILED, f"more than SendLocalListMaxLength ({self.send_max_length}) entries")
        if len({e["idTag"].casefold() for e in entries}) != len(entries):
            return Answer(UpdateStatus.FAILED, "an idTag appears twice")
        if update_type is UpdateType.FULL:
            if any("idTagInfo" not in e for e in entries):
                return Answer(UpdateStatus.FAILED, "a Full update needs idTagInfo in every entry")
            new: dict[str, dict[str, Any]] = {}
        else:
            if version <= self.version:
                return Answer(UpdateStatus.VERSION_MISMATCH, f"listVersion {version} is not after {self.version}")
            new = dict(self._entries)
        for entry in entries:
            key = entry["idTag"].casefold()
            if "idTagInfo" in entry:
                new[key] = entry
            else:
                new.pop(key, None)
        if len(new) > self.max_length:
            return Answer(UpdateStatus.FAILED, f"the list would exceed LocalAuthListMaxLength ({self.max_length})")
        self._entries, self._version = new, version
        return Answer(UpdateStatus.ACCEPTED)

    def lookup(self, id_tag: str, now: datetime) -> dict[str, Any] | None:
        """The entry's idTagInfo (status, expiryDate, parentIdTag), or None if not listed; an
        Accepted entry past its expiryDate reads as Expired."""
        entry = self._entries.get(id_tag.casefold())
        if entry is None:
            return None
        info = dict(entry["idTagInfo"])
        if info["status"] == ACCEPTED and "expiryDate" in info and parse_datetime(info["expiryDate"]) <= now:
            info["status"] = "Expired"
        return info

    def to_dict(self) -> dict[str, Any]:
        return {"listVersion": self._version, "localAuthorizationList": list(self._entries.values())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], supported: bool = True, max_length: int = 1000,
                  send_max_length: int = 100) -> LocalAuthList:
        """Restore what `to_dict` saved (ValueError on a corrupt file); capacity limits are not
        re-applied to what was already accepted."""
        store = cls(supported, max_length, send_max_length)
        store._version = int(data.get("listVersion", 0))
        for item in data.get("localAuthorizationList", []):
            entry = _checked_entry(item)
            store._entries[entry["idTag"].casefold()] = entry
        return store


def _checked_entry(item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of one AuthorizationData entry; ValueError/TypeError/KeyError when malformed."""
    id_tag = item["idTag"]
    if not isinstance(id_tag, str) or not 0 < len(id_tag) <= ID_TAG_MAX_LENGTH:
        raise ValueError(f"idTag {id_tag!r} is not a string of 1..{ID_TAG_MAX_LENGTH} characters")
    entry: dict[str, Any] = {"idTag": id_tag}
    info = item.get("idTagInfo")
    if info is not None:
        if info["status"] not in AUTHORIZATION_STATUSES:
            raise ValueError(f"unknown status {info['status']!r} for {id_tag}")
        if "expiryDate" in info:
            parse_datetime(info["expiryDate"])
        entry["idTagInfo"] = {k: info[k] for k in ("status", "expiryDate", "parentIdTag") if k in info}
    return entry


class AuthAction(StrEnum):
    ACCEPT = "accept"  # start now, without asking the CSMS
    ASK_CSMS = "ask_csms"  # send Authorize and follow its answer
    REJECT = "reject"


@dataclass(frozen=True)
class AuthDecision:
    action: AuthAction
    source: str  # "local_list", "cache", "unknown": what the decision rests on


@dataclass(frozen=True)
class AuthorizationPolicy:
    """OCPP 1.6 §3.5 local authorization rules, from the charge point's configuration keys.

    The list and the cache are consulted only when enabled, the list first (its entries take
    priority). Online, a valid local entry starts at once only with LocalPreAuthorize; offline,
    a known entry decides with LocalAuthorizeOffline, and an unknown tag is accepted only with
    AllowOfflineTxForUnknownId.
    """

    local_auth_list_enabled: bool = True
    local_authorize_offline: bool = True
    local_pre_authorize: bool = False
    allow_offline_tx_for_unknown_id: bool = False
    authorization_cache_enabled: bool = True

    def decide(self, online: bool, list_status: str | None, cache_status: str | None) -> AuthDecision:
        """`list_status` / `cache_status`: the status each source's lookup gave (expiry already
        honoured), None when it does not know the tag."""
        known: tuple[str, str] | None = None
        if self.local_auth_list_enabled and list_status is not None:
            known = ("local_list", list_status)
        elif self.authorization_cache_enabled and cache_status is not None:
            known = ("cache", cache_status)
        if online:
            if self.local_pre_authorize and known is not None and known[1] == ACCEPTED:
                return AuthDecision(AuthAction.ACCEPT, known[0])
            return AuthDecision(AuthAction.ASK_CSMS, known[0] if known else "unknown")
        if self.local_authorize_offline and known is not None:
            return AuthDecision(AuthAction.ACCEPT if known[1] == ACCEPTED else AuthAction.REJECT, known[0])
        return AuthDecision(AuthAction.ACCEPT if self.allow_offline_tx_for_unknown_id else AuthAction.REJECT,
                            "unknown")
