"""Local Authorization List (SendLocalList, GetLocalListVersion, lookup) and the local
authorization policy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chargepoint.model.local_auth_list import AuthAction, AuthorizationPolicy, LocalAuthList

NOW = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)


def entry(tag: str, status: str | None = "Accepted", **info: Any) -> dict[str, Any]:
    return {"idTag": tag} if status is None else {"idTag": tag, "idTagInfo": {"status": status, **info}}


def send(lst: LocalAuthList, version: int, kind: str, *entries: dict[str, Any]) -> str:
    return lst.update({"listVersion": version, "updateType": kind, "localAuthorizationList": list(entries)}).status


def test_full_then_differential_updates() -> None:
    lst = LocalAuthList()
    assert lst.version == 0
    assert send(lst, 3, "Full", entry("A"), entry("B", "Blocked"), entry("C", parentIdTag="G")) == "Accepted"
    assert (lst.version, len(lst)) == (3, 3)
    assert lst.lookup("c", NOW) == {"status": "Accepted", "parentIdTag": "G"}
    assert send(lst, 4, "Differential", entry("A", None), entry("B"), entry("D", "Invalid")) == "Accepted"
    assert lst.lookup("A", NOW) is None
    assert lst.lookup("B", NOW)["status"] == "Accepted"
    assert lst.lookup("D", NOW)["status"] == "Invalid"
    assert send(lst, 1, "Full", entry("E")) == "Accepted"  # a Full update may go back in version
    assert (lst.version, len(lst)) == (1, 1)


def test_differential_with_an_old_version_is_a_mismatch() -> None:
    lst = LocalAuthList()
    send(lst, 5, "Full", entry("A"))
    assert send(lst, 5, "Differential", entry("B")) == "VersionMismatch"
    assert send(lst, 4, "Differential", entry("B")) == "VersionMismatch"
    assert lst.lookup("B", NOW) is None and lst.version == 5


def test_empty_list_reports_version_zero() -> None:
    lst = LocalAuthList()
    send(lst, 7, "Full")
    assert lst.version == 0
    assert send(lst, 1, "Differential", entry("A")) == "Accepted"


@pytest.mark.parametrize("entries", [
    [entry("A", None)],  # Full without idTagInfo
    [entry("A"), entry("a")],  # twice
    [entry("A", "Happy")],
    [entry("X" * 37)],
    [entry("A", expiryDate="tomorrow")],
])
def test_malformed_updates_fail_and_change_nothing(entries: list[dict[str, Any]]) -> None:
    lst = LocalAuthList()
    send(lst, 1, "Full", entry("KEEP"))
    assert send(lst, 2, "Full", *entries) == "Failed"
    assert (lst.version, lst.lookup("KEEP", NOW)) == (1, {"status": "Accepted"})


def test_length_limits() -> None:
    lst = LocalAuthList(max_length=3, send_max_length=2)
    assert send(lst, 1, "Full", entry("A"), entry("B"), entry("C")) == "Failed"  # per message
    assert send(lst, 1, "Full", entry("A"), entry("B")) == "Accepted"
    assert send(lst, 2, "Differential", entry("C"), entry("D")) == "Failed"  # in total
    assert send(lst, 2, "Differential", entry("C")) == "Accepted"


def test_not_supported() -> None:
    lst = LocalAuthList(supported=False)
    assert send(lst, 1, "Full", entry("A")) == "NotSupported"
    assert lst.version == -1


def test_lookup_honours_expiry() -> None:
    lst = LocalAuthList()
    send(lst, 1, "Full", entry("A", expiryDate="2025-03-10T09:00:00Z"), entry("B", "Blocked",
                                                                           expiryDate="2025-01-01T00:00:00Z"))
    assert lst.lookup("A", NOW)["status"] == "Accepted"
    assert lst.lookup("A", datetime(2025, 3, 10, 9, tzinfo=UTC))["status"] == "Expired"
    assert lst.lookup("B", NOW)["status"] == "Blocked"


def test_round_trip_through_json() -> None:
    lst = LocalAuthList()
    send(lst, 9, "Full", entry("A", expiryDate="2025-03-10T09:00:00Z", parentIdTag="P"), entry("B", "Blocked"))
    restored = LocalAuthList.from_dict(json.loads(json.dumps(lst.to_dict())))
    assert restored.to_dict() == lst.to_dict() and restored.version == 9
    assert restored.lookup("a", NOW) == lst.lookup("A", NOW)


# --- the policy -------------------------------------------------------------------------------

DEFAULTS = AuthorizationPolicy()


def test_offline_start_with_a_listed_tag_is_accepted() -> None:
    decision = DEFAULTS.decide(online=False, list_status="Accepted", cache_status=None)
    assert (decision.action, decision.source) == (AuthAction.ACCEPT, "local_list")


def test_offline_known_but_invalid_tag_is_rejected_and_the_list_beats_the_cache() -> None:
    assert DEFAULTS.decide(False, "Blocked", "Accepted").action == AuthAction.REJECT
    cached = DEFAULTS.decide(False, None, "Accepted")
    assert (cached.action, cached.source) == (AuthAction.ACCEPT, "cache")
    assert DEFAULTS.decide(False, None, "Expired").action == AuthAction.REJECT


def test_offline_unknown_tag_follows_allow_offline_tx_for_unknown_id() -> None:
    assert DEFAULTS.decide(False, None, None).action == AuthAction.REJECT
    lenient = AuthorizationPolicy(allow_offline_tx_for_unknown_id=True)
    assert lenient.decide(False, None, None).action == AuthAction.ACCEPT
    # Without LocalAuthorizeOffline the list is not consulted offline: every tag is unknown.
    blind = AuthorizationPolicy(local_authorize_offline=False, allow_offline_tx_for_unknown_id=True)
    assert blind.decide(False, "Blocked", None).action == AuthAction.ACCEPT
    assert AuthorizationPolicy(local_authorize_offline=False).decide(False, "Accepted", None).action == "reject"


def test_online_asks_the_csms_unless_pre_authorized_locally() -> None:
    assert DEFAULTS.decide(True, "Accepted", "Accepted").action == AuthAction.ASK_CSMS
    pre = AuthorizationPolicy(local_pre_authorize=True)
    assert pre.decide(True, "Accepted", None).action == AuthAction.ACCEPT
    assert pre.decide(True, None, "Accepted").source == "cache"
    assert pre.decide(True, "Blocked", "Accepted").action == AuthAction.ASK_CSMS
    assert pre.decide(True, None, None).action == AuthAction.ASK_CSMS


def test_disabled_sources_are_ignored() -> None:
    policy = AuthorizationPolicy(local_auth_list_enabled=False, authorization_cache_enabled=False)
    assert policy.decide(False, "Accepted", "Accepted").action == AuthAction.REJECT
    assert AuthorizationPolicy(local_auth_list_enabled=False).decide(False, "Blocked", "Accepted").action == "accept"
