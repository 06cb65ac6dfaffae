"""OCPP 2.0.1 authorization data (C11, D01, D02): ClearCache, SendLocalList, GetLocalListVersion.

`AuthDataHandlers` is a mixin for the station's `ocpp.v201.ChargePoint` subclass; it needs
`self.station`, a `chargepoint.protocol.Controller` (`clear_cache`, `send_local_list`,
`local_list_version`). The authorization cache and the local list are the version-neutral
models of `chargepoint.model`; this module only maps 2.0.1 shapes onto them: an IdToken's
`idToken` is the model's id (its `type` is not part of the key), `cacheExpiryDateTime` its
expiry and `groupIdToken` its group (the model's parent id).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action, ClearCacheStatusEnumType, SendLocalListStatusEnumType

from chargepoint.model.local_auth_list import UpdateStatus

if TYPE_CHECKING:
    from chargepoint.protocol import Controller


def model_entry(authorization: dict[str, Any]) -> dict[str, Any]:
    """One 2.0.1 AuthorizationData (snake_case, as the library hands it over) in the model's shape."""
    entry: dict[str, Any] = {"idTag": authorization["id_token"]["id_token"]}
    info = authorization.get("id_token_info")
    if info is not None:
        entry["idTagInfo"] = {"status": info["status"]}
        if info.get("cache_expiry_date_time"):
            entry["idTagInfo"]["expiryDate"] = info["cache_expiry_date_time"]
        if info.get("group_id_token"):
            entry["idTagInfo"]["parentIdTag"] = info["group_id_token"]["id_token"]
    return entry


class AuthDataHandlers:
    """Authorization cache and local list handlers of a 2.0.1 station (mixin, see the module docstring)."""

    station: Controller

    @on(Action.clear_cache)
    def on_clear_cache(self, **_: Any) -> call_result.ClearCache:
        ok = self.station.clear_cache()
        return call_result.ClearCache(status=ClearCacheStatusEnumType.accepted if ok
                                      else ClearCacheStatusEnumType.rejected)

    @on(Action.send_local_list)
    def on_send_local_list(self, version_number: int, update_type: str,
                           local_authorization_list: list[dict[str, Any]] | None = None,
                           **_: Any) -> call_result.SendLocalList:
        status = self.station.send_local_list({
            "listVersion": version_number, "updateType": update_type,
            "localAuthorizationList": [model_entry(a) for a in local_authorization_list or []]})
        if status == UpdateStatus.NOT_SUPPORTED:  # 2.0.1 has no NotSupported answer
            return call_result.SendLocalList(status=SendLocalListStatusEnumType.failed,
                                             status_info={"reasonCode": "NotEnabled"})
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self, **_: Any) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(version_number=max(self.station.local_list_version(), 0))
