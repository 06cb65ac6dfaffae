"""A presented id tag (an MQTT input or a remote start): what it does at once, and the
authorization it waits for (OCPP 1.6 §3.5: the local list, the cache, then the CSMS).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chargepoint.model.authorization import ACCEPTED, IdTagInfo
from chargepoint.model.connector import ConnectorStateMachine, TagOutcome
from chargepoint.model.local_auth_list import AuthAction, AuthorizationPolicy
from chargepoint.model.smart_charging import utc_from_timestamp

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger(__name__)
TOKEN_TYPES_KEPT = 100  # id tags whose presented type is remembered


class TagAuthorizer:
    def __init__(self, station: Station) -> None:
        self.station = station
        self._token_types: OrderedDict[str, str] = OrderedDict()  # id tag -> its type, latest last

    def present(self, connector_id: int, id_tag: str, profile: Mapping[str, Any] | None = None, *,
                token_type: str | None = None) -> None:
        """What the tag does at once happens now, in input order (a stop must not be overtaken
        by the next input); only what needs an authorization waits for it. `token_type`: what
        kind of identifier it is, for the protocol versions that say so (`token_type()`)."""
        if token_type is not None:
            self._token_types.pop(id_tag, None)
            self._token_types[id_tag] = token_type
            while len(self._token_types) > TOKEN_TYPES_KEPT:
                self._token_types.popitem(last=False)
        connector = self.station.connectors[connector_id]
        outcome = connector.present_tag(id_tag)
        if outcome in (TagOutcome.AUTHORIZE, TagOutcome.CHECK_GROUP):
            self.station.timers.spawn(self._authorized_tag(connector, id_tag, outcome, profile))
        elif outcome is TagOutcome.REFUSED:
            log.info("connector %d is %s: id tag %s ignored", connector_id, connector.status, id_tag)
        self.station.touch(connector_id)

    async def _authorized_tag(self, connector: ConnectorStateMachine, id_tag: str, outcome: TagOutcome,
                              profile: Mapping[str, Any] | None) -> None:
        n = connector.connector_id
        info = await self.authorize(id_tag)
        accepted = info is not None and info.accepted(self.station.clock())
        parent_id = info.parent_id if info is not None and accepted else None
        if outcome is TagOutcome.CHECK_GROUP:
            if not connector.stop_by_group(id_tag, parent_id):
                log.info("connector %d: %s may not stop this session", n, id_tag)
        elif accepted:
            self.start_authorized(connector, id_tag, parent_id, profile)
        else:
            log.info("connector %d: id tag %s refused (%s)", n, id_tag, info.status if info else "no answer")
        self.station.touch(n)

    def start_authorized(self, connector: ConnectorStateMachine, id_tag: str, parent_id: str | None,
                         profile: Mapping[str, Any] | None = None) -> None:
        """An accepted tag starts (or waits for the car) unless a reservation keeps the
        connector for someone else; a remote start's charging profile comes along."""
        n = connector.connector_id
        if not self.station.reservations.may_start(n, id_tag, parent_id, self.station.free_connectors()):
            log.info("connector %d: reserved, id tag %s may not start", n, id_tag)
            return
        if profile is not None:
            self.station.smart_charging.accept_remote_start_profile(n, profile)
        connector.accept_tag(id_tag, parent_id)

    async def authorize(self, id_tag: str) -> IdTagInfo | None:
        """Local knowledge (the local list, then the authorization cache) decides when the
        rules allow it, otherwise the CSMS; None when the tag is refused without an answer."""
        station = self.station
        now = station.clock()
        entry = station.local_list.lookup(id_tag, utc_from_timestamp(now))
        local = {"local_list": None if entry is None else IdTagInfo.from_wire(entry),
                 "cache": station.cache.lookup(id_tag, now)}
        known = {source: info.status if info else None for source, info in local.items()}
        policy = self._policy()
        decision = policy.decide(station.adapter.online, known["local_list"], known["cache"])
        if decision.action is AuthAction.ASK_CSMS:
            answer = await station.adapter.authorize(id_tag)
            if answer is not None:
                self.remember(id_tag, answer)
                return answer
            decision = policy.decide(False, known["local_list"], known["cache"])  # no answer: the offline rules
        if decision.source in local:
            return local[decision.source]
        return IdTagInfo(ACCEPTED) if decision.action is AuthAction.ACCEPT else None

    def token_type(self, id_tag: str) -> str | None:
        """The type the tag was last presented with, if it was given one."""
        return self._token_types.get(id_tag)

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """A CSMS answer about a tag, for the authorization cache."""
        self.station.cache.update(id_tag, info)
        self.station.save_later()

    def _policy(self) -> AuthorizationPolicy:
        c = self.station.config
        return AuthorizationPolicy(
            local_auth_list_enabled=self.station.local_list.supported and c.boolean("LocalAuthListEnabled"),
            local_authorize_offline=c.boolean("LocalAuthorizeOffline"),
            local_pre_authorize=c.boolean("LocalPreAuthorize"),
            allow_offline_tx_for_unknown_id=c.boolean("AllowOfflineTxForUnknownId"),
            authorization_cache_enabled=self.station.cache.enabled)
