"""What the CSMS asks of the charge point: the `Controller` its protocol adapter calls.

Requests with side effects are first decided (`dry_run=True`), then carried out, so the
adapter can answer before the effects are seen. Every change ends in the station's
coalesced update (`Station.touch`). Nothing here knows which OCPP version is talking.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chargepoint.maintenance import Retries
from chargepoint.model.authorization import ACCEPTED, IdTagInfo
from chargepoint.model.connector import StopReason, Transaction
from chargepoint.model.smart_charging import Answer, utc_from_timestamp
from chargepoint.security import SECURITY_LOG

if TYPE_CHECKING:
    from chargepoint.model.meter import Sample
    from chargepoint.station import Station

log = logging.getLogger(__name__)


class CsmsRequests:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.definition = station.definition
        self.config = station.config
        self.queue = station.queue
        self.message_log = station.message_log
        self.connection = station.connection
        self.security = station.security
        self.network = station.network
        # GetLog's file name per request id, as announced in the answer: the upload that
        # follows carries that very name, even once the clock has passed the next second
        self._announced_logs: dict[int, str] = {}

    # -- registration and what the adapter reports ----------------------------------------
    def record_call(self, action: str, outcome: str, seconds: float) -> None:
        self.station.call_stats.record(action, outcome, seconds)

    def set_registration(self, status: str, reason: str = "") -> None:
        self.station.set_registration(status, reason)

    def connector_statuses(self) -> list[tuple[int, str, str]]:
        return self.station.connector_statuses()

    def transaction_confirmed(self, ref: int, transaction_id: int | str, info: IdTagInfo) -> None:
        for connector in self.station.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.ref == ref:
                self.remember_tag(tx.id_tag, info)
                tx.parent_id = info.parent_id or tx.parent_id
                connector.transaction_confirmed(transaction_id, info.accepted(self.station.clock()))
                self.station.touch(connector.connector_id, save=True)

    def charge_unconfirmed(self, ref: int | None = None) -> None:
        for connector in self.station.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.awaiting_confirmation and ref in (None, tx.ref):
                connector.charge_unconfirmed()
                self.station.touch(connector.connector_id)

    def transaction_for(self, connector_id: int) -> Transaction | None:
        connector = self.station.connectors.get(connector_id)
        return None if connector is None else connector.transaction

    def connector_status(self, connector_id: int) -> str:
        return self.station.connectors[connector_id].status.value

    def connector_facts(self, connector_id: int) -> tuple[bool, str | None]:
        connector = self.station.connectors[connector_id]
        return connector.car.plugged, connector.authorized[0] if connector.authorized else None

    def token_type(self, id_tag: str) -> str | None:
        return self.station.authorizer.token_type(id_tag)

    def remember_tag(self, id_tag: str, info: IdTagInfo) -> None:
        self.station.authorizer.remember(id_tag, info)

    def supports(self, feature_profile: str) -> bool:
        return self.station.supports(feature_profile)

    # -- transactions and connectors ------------------------------------------------------
    def remote_start(self, connector_id: int | None, id_tag: str, profile: Mapping[str, Any] | None = None, *,
                     dry_run: bool = False) -> int | None:
        station = self.station
        free = station.free_connectors()
        usable = [c for c in station.connectors.values()
                  if c.can_start() and station.reservations.may_start(c.connector_id, id_tag, None, free)
                  and connector_id in (None, 0, c.connector_id)]
        # the CP chooses (no or 0 connector): a connector with a car waiting first
        chosen = next((c for c in usable if c.car.plugged), usable[0] if usable else None)
        if chosen is None:
            return None
        n = chosen.connector_id
        if profile is not None:
            answer = station.smart_charging.accept_remote_start_profile(n, profile, dry_run=True)
            if answer.status != ACCEPTED:
                log.info("RemoteStartTransaction refused: %s", answer.reason)
                return None
        if dry_run:
            return n
        if self.config.boolean("AuthorizeRemoteTxRequests"):
            station.authorizer.present(n, id_tag, profile)
        else:
            station.authorizer.start_authorized(chosen, id_tag, None, profile)
            station.touch(n)
        return n

    def remote_stop(self, transaction_id: int | str, *, dry_run: bool = False) -> bool:
        for connector in self.station.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.transaction_id == transaction_id:
                if not dry_run:
                    connector.stop(StopReason.REMOTE)
                    self.station.touch(connector.connector_id)
                return True
        return False

    async def reset(self, hard: bool) -> None:
        log.warning("%s reset", "hard" if hard else "soft")
        await self.station.reboot(StopReason.HARD_RESET if hard else StopReason.SOFT_RESET)

    def reset_evse(self, connector_id: int) -> None:
        """One EVSE starts over (2.0.1 Reset with evseId): its session ends, its transient state goes."""
        connector = self.station.connectors[connector_id]
        connector.stop(StopReason.HARD_RESET)
        connector.reboot()
        self.station.touch(connector_id, save=True)

    def unlock(self, connector_id: int, *, dry_run: bool = False) -> str:
        connector = self.station.connectors.get(connector_id)
        if connector is None:
            return "NotSupported"
        if not dry_run:
            connector.stop(StopReason.UNLOCK_COMMAND)
            self.station.touch(connector_id)
        return "Unlocked"

    def change_availability(self, connector_id: int, operative: bool, *, dry_run: bool = False) -> str:
        """Connector 0 is the whole charge point; Scheduled while a session runs."""
        connectors = self.station.connectors
        targets = list(connectors.values()) if connector_id == 0 else (
            [connectors[connector_id]] if connector_id in connectors else [])
        if not targets:
            return "Rejected"
        if dry_run:
            busy = any(c.transaction is not None for c in targets)
            return "Scheduled" if busy and not operative else "Accepted"
        results = [c.set_operative(operative) for c in targets]
        self.station.touch(*(c.connector_id for c in targets), save=True)
        return "Scheduled" if "Scheduled" in results else "Accepted"

    def trigger_meter_values(self, connector_id: int | None) -> None:
        self.station.meter_reports.trigger(connector_id)

    def meter_reading(self, connector_id: int, context: str, measurands: tuple[str, ...]) -> Sample:
        return self.station.meter_reports.reading(self.station.connectors[connector_id], context, measurands)

    def data_transfer(self, vendor_id: str, message_id: str | None, data: str | None
                      ) -> tuple[str, str | None]:
        log.info("DataTransfer from the CSMS: vendor %s, message %s", vendor_id, message_id)
        return "UnknownVendorId", None

    # -- authorization: cache and local list ----------------------------------------------
    def clear_cache(self) -> bool:
        self.station.cache.clear()
        self.station.touch(save=True)
        return True

    def send_local_list(self, request: Mapping[str, Any]) -> str:
        local_list = self.station.local_list
        answer = local_list.update(request)
        if answer.status == ACCEPTED:
            log.info("local list version %d: %d id tag(s)", local_list.version, len(local_list))
            self.station.touch(save=True)
        else:
            log.info("SendLocalList: %s (%s)", answer.status, answer.reason)
        return str(answer.status)

    def local_list_version(self) -> int:
        return self.station.local_list.version

    # -- smart charging -------------------------------------------------------------------
    def set_charging_profile(self, connector_id: int, profile: Mapping[str, Any], *, dry_run: bool = False) -> str:
        connector = self.station.connectors.get(connector_id)
        tx = connector.transaction if connector is not None else None
        tx_id = tx.transaction_id if tx is not None else None
        answer = self.station.smart_charging.install(connector_id, profile, tx_id, dry_run=dry_run)
        return self._profiles_changed("SetChargingProfile", answer, dry_run)

    def clear_charging_profile(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
                               stack_level: int | None, *, dry_run: bool = False) -> str:
        answer = self.station.smart_charging.clear(profile_id, connector_id, purpose, stack_level, dry_run=dry_run)
        return self._profiles_changed("ClearChargingProfile", answer, dry_run)

    def _profiles_changed(self, action: str, answer: Answer, dry_run: bool) -> str:
        """Applied: every setpoint is re-evaluated and published at once."""
        _log_outcome(action, answer, dry_run)
        if answer.status == ACCEPTED and not dry_run:
            self.station.touch(*self.station.connectors, save=True)
        return str(answer.status)

    def charging_profiles(self) -> list[dict[str, Any]]:
        return self.station.smart_charging.installed()

    async def sessions_ended(self) -> None:
        await self.station.no_session.wait()

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any]:
        d = self.definition
        hardware = d.max_setpoint if connector_id == 0 else d.max_setpoint_per_connector
        return self.station.setpoints.limits.composite_schedule(
            connector_id, duration, unit, self.station.clock(), hardware)

    # -- reservations ---------------------------------------------------------------------
    def reserve_now(self, request: Mapping[str, Any], *, dry_run: bool = False) -> str:
        station = self.station
        states = {n: c.status.value for n, c in station.connectors.items()}
        answer = station.reservations.reserve(request, states, utc_from_timestamp(station.clock()), dry_run=dry_run)
        _log_outcome("ReserveNow", answer, dry_run)
        if answer.status == ACCEPTED and not dry_run:
            station.sync_reservations()
        return str(answer.status)

    def cancel_reservation(self, reservation_id: int, *, dry_run: bool = False) -> str:
        status = self.station.reservations.cancel(reservation_id, dry_run=dry_run)
        if status == ACCEPTED and not dry_run:
            self.station.sync_reservations()
        return str(status)

    # -- firmware and diagnostics ---------------------------------------------------------
    @property
    def firmware_status(self) -> str:
        return self.station.firmware.status

    @property
    def diagnostics_status(self) -> str:
        return self.station.diagnostics.status

    def update_firmware(self, location: str, retrieve_at: float, retries: int | None,
                        retry_interval: int | None, request_id: int | None = None) -> None:
        self.station.firmware.start(location, retrieve_at, Retries.from_request(retries, retry_interval),
                                    request_id=request_id)

    def diagnostics_file_name(self, kind: str = "diagnostics") -> str:
        stamp = utc_from_timestamp(self.station.clock()).strftime("%Y%m%dT%H%M%SZ")
        return f"{kind}-{self.definition.id.replace(':', '_')}-{stamp}.zip"

    @property
    def firmware_request_id(self) -> int | None:
        return self.station.firmware.request_id

    @property
    def log_status(self) -> str:
        return self.station.logs.status

    @property
    def log_request_id(self) -> int | None:
        return self.station.logs.request_id

    def signed_update_firmware(self, request_id: int, location: str, retrieve_at: float, signing_certificate: str,
                               signature: str, retries: int | None, retry_interval: int | None, *,
                               dry_run: bool = False) -> str:
        """Accepted only for a signing certificate that chains to an installed manufacturer root;
        the image is installed only if its signature verifies."""
        status = self.security.check_firmware_certificate(signing_certificate)
        if status == ACCEPTED and not dry_run:
            self.station.firmware.start(location, retrieve_at, Retries.from_request(retries, retry_interval),
                                        request_id=request_id,
                                        verify=self.security.firmware_verifier(signing_certificate, signature))
        return status

    def get_log(self, log_type: str, request_id: int, location: str, window: tuple[float | None, float | None],
                retries: int | None, retry_interval: int | None, *, dry_run: bool = False) -> str:
        """GetLog: the file name the upload will have ("" when refused)."""
        security_log = log_type == "SecurityLog"
        fresh = self.diagnostics_file_name("security-log" if security_log else "diagnostics-log")
        if dry_run:
            self._announced_logs = {request_id: fresh}  # only the latest request gets applied
            return fresh
        file_name = self._announced_logs.pop(request_id, fresh)
        logs = self.station.logs
        logs.request_id = request_id
        include = (lambda name: name.startswith(SECURITY_LOG)) if security_log else (lambda name: True)
        logs.start(file_name, location, window, Retries.from_request(retries, retry_interval), include)
        return file_name

    def upload_diagnostics(self, file_name: str, location: str, start: float | None, stop: float | None,
                           retries: int | None, retry_interval: int | None) -> None:
        retry = Retries.from_request(retries, retry_interval)
        self.station.diagnostics.start(file_name, location, (start, stop), retry)


def _log_outcome(action: str, answer: Answer, dry_run: bool) -> None:
    """Once per CSMS request: a refusal when decided (the dry run), an acceptance when applied."""
    if answer.status != ACCEPTED or not dry_run:
        log.info("%s: %s%s", action, answer.status, f" ({answer.reason})" if answer.reason else "")
