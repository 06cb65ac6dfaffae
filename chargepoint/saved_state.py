"""state.json: what a charge point keeps across restarts (transaction references, the
authorization cache, the feature profiles' stores, the connectors)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from chargepoint.core.ocpp_config import OcppConfiguration
from chargepoint.core.state_store import StateStore
from chargepoint.model.local_auth_list import LocalAuthList
from chargepoint.model.reservation import Reservations
from chargepoint.model.smart_charging import SmartCharging, SmartChargingLimits

log = logging.getLogger(__name__)

T = TypeVar("T")


class FeatureStores(NamedTuple):
    smart_charging: SmartCharging
    reservations: Reservations
    local_list: LocalAuthList


class SavedState:
    """Loaded once at start; `save` writes the whole state again."""

    def __init__(self, path: Path, last_queued_ref: int) -> None:
        self.store = StateStore(path)
        self.loaded: dict[str, Any] = self.store.load()
        self.saved_at: float | None = self.loaded.get("saved_at")  # when the loaded state was written
        self.tx_ref = max(int(self.loaded.get("tx_ref", 0)), last_queued_ref)
        self.last_save = 0.0
        self._written = False  # by save()

    def next_ref(self) -> int:
        """A new transaction reference, unique across restarts."""
        self.tx_ref += 1
        return self.tx_ref

    def connector(self, n: int) -> Mapping[str, Any]:
        return self.loaded.get("connectors", {}).get(str(n), {})

    def feature_stores(self, config: OcppConfiguration, nb_connectors: int) -> FeatureStores:
        """The stores rebuilt with the limits their (read-only) configuration keys announce."""
        c, state = config, self.loaded
        profiles = c.items("SupportedFeatureProfiles")
        limits = SmartChargingLimits(
            max_stack_level=c.integer("ChargeProfileMaxStackLevel", 10),
            allowed_units=SmartChargingLimits.units_from_csl(c.get("ChargingScheduleAllowedChargingRateUnit")),
            max_periods=c.integer("ChargingScheduleMaxPeriods", 48),
            max_profiles=c.integer("MaxChargingProfilesInstalled", 20))
        return FeatureStores(
            smart_charging=_restore("charging profiles", state.get("smart_charging"), lambda data: (
                SmartCharging.from_dict(data, nb_connectors, limits, "SmartCharging" in profiles))),
            reservations=_restore("reservations", state.get("reservations"), lambda data: (
                Reservations.from_dict(data, nb_connectors, "Reservation" in profiles,
                                       c.boolean("ReserveConnectorZeroSupported")))),
            local_list=_restore("local authorization list", state.get("local_auth_list"), lambda data: (
                LocalAuthList.from_dict(data, "LocalAuthListManagement" in profiles,
                                        c.integer("LocalAuthListMaxLength", 1000),
                                        c.integer("SendLocalListMaxLength", 100)))))

    def save(self, now: float, data: Mapping[str, Any]) -> None:
        """Write the state. The first save of a new charge point (the one at its start) is not
        flushed to disk: a crash would only make it start again from the same fresh state, and
        an fsync per charge point would slow down a start of hundreds."""
        durable = self._written or bool(self.loaded)
        self.last_save = now
        try:
            self.store.save({"saved_at": now, "tx_ref": self.tx_ref, **data}, durable=durable)
            self._written = True
        except OSError as exc:
            log.error("cannot save %s: %s", self.store.path, exc)


def _restore(what: str, data: Any, build: Callable[[Mapping[str, Any]], T]) -> T:
    """A store rebuilt from its saved data; unreadable data is logged and dropped."""
    try:
        return build(data or {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.error("saved %s unreadable (%s): starting without them", what, exc)
        return build({})
