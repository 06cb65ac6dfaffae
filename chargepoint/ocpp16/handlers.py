"""CSMS-initiated OCPP 1.6 calls: thin handlers that ask the station and report its answer.

A call with side effects is decided in its `@on` handler (a dry run on the station) and
carried out in its `@after` handler, so the CSMS always gets the answer before the
messages the action causes (StatusNotification, StopTransaction, BootNotification…). The
`@after` acts only when its `@on` said yes (`_decide`): a refusal never turns into an action
because something changed in between.
Payloads the domain keeps in wire shape (charging profiles, reservations, the local list)
go back to camelCase: the library hands them over in snake_case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    AvailabilityType,
    ClearCacheStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
)

from chargepoint.core.call_routing import CallRouting
from chargepoint.core.call_timing import TimedCalls
from chargepoint.core.ocpp_config import ChangeResult
from chargepoint.model.smart_charging import parse_datetime
from chargepoint.protocol import Controller

Trigger = Callable[..., str]  # (requested message, connector id, dry_run=, extended=) -> status
SECURITY_PROFILE = "SecurityProfile"
RECONNECTING_KEYS = frozenset({SECURITY_PROFILE, "AuthorizationKey"})
ACCEPTED = "Accepted"
# Actions offered only with a feature profile (SupportedFeatureProfiles) that has no status
# of its own to refuse with; the others answer NotSupported in their status field.
FEATURE_PROFILES = {Action.trigger_message: "RemoteTrigger", Action.update_firmware: "FirmwareManagement",
                    Action.get_diagnostics: "FirmwareManagement"}


def _accepted(ok: bool) -> RemoteStartStopStatus:
    return RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected


def _wire(data: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if data is None else snake_to_camel_case(data)


def _snake(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [camel_to_snake_case(item) for item in items]


def _timestamp(text: str | None) -> float | None:
    return None if text is None else parse_datetime(text).timestamp()


def _window(log: dict[str, Any]) -> tuple[float | None, float | None]:
    """GetLog's time window (LogParametersType, snake_case)."""
    return _timestamp(log.get("oldest_timestamp")), _timestamp(log.get("latest_timestamp"))


class ChargePoint16(CallRouting, TimedCalls, ChargePoint):
    """One WebSocket session with the CSMS, seen from the charge point."""

    def __init__(self, cp_id: str, connection: Any, station: Controller, response_timeout: float,
                 trigger: Trigger, reconnect: Callable[[], None]) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.station = station
        self._trigger = trigger
        self._reconnect = reconnect

    def refusal(self, action: str) -> str | None:
        profile = FEATURE_PROFILES.get(Action(action))
        if profile is None or self.station.supports(profile):
            return None
        return f"the {profile} feature profile is not supported"

    # -- transactions ---------------------------------------------------------------------
    @on(Action.remote_start_transaction)
    def on_remote_start(self, call_unique_id: str, id_tag: str, connector_id: int | None = None,
                        charging_profile: dict[str, Any] | None = None) -> call_result.RemoteStartTransaction:
        chosen = self.station.remote_start(connector_id, id_tag, _wire(charging_profile), dry_run=True)
        return call_result.RemoteStartTransaction(
            status=self._decide(call_unique_id, _accepted(chosen is not None), chosen is not None))

    @after(Action.remote_start_transaction)
    def after_remote_start(self, call_unique_id: str, id_tag: str, connector_id: int | None = None,
                           charging_profile: dict[str, Any] | None = None) -> None:
        if self._decided(call_unique_id):
            self.station.remote_start(connector_id, id_tag, _wire(charging_profile))

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, call_unique_id: str, transaction_id: int) -> call_result.RemoteStopTransaction:
        known = self.station.remote_stop(transaction_id, dry_run=True)
        return call_result.RemoteStopTransaction(status=self._decide(call_unique_id, _accepted(known), known))

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, call_unique_id: str, transaction_id: int) -> None:
        if self._decided(call_unique_id):
            self.station.remote_stop(transaction_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, call_unique_id: str, connector_id: int) -> call_result.UnlockConnector:
        status = self.station.unlock(connector_id, dry_run=True)
        return call_result.UnlockConnector(status=self._decide(call_unique_id, status, status == "Unlocked"))

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str, connector_id: int) -> None:
        if self._decided(call_unique_id):
            self.station.unlock(connector_id)

    # -- charge point ---------------------------------------------------------------------
    @on(Action.reset)
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    async def after_reset(self, type: str) -> None:
        await self.station.reset(hard=type == ResetType.hard)

    @on(Action.change_availability)
    def on_change_availability(self, call_unique_id: str, connector_id: int, type: str
                               ) -> call_result.ChangeAvailability:
        status = AvailabilityStatus(self.station.change_availability(
            connector_id, type == AvailabilityType.operative, dry_run=True))
        return call_result.ChangeAvailability(
            status=self._decide(call_unique_id, status, status is not AvailabilityStatus.rejected))

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, connector_id: int, type: str) -> None:
        if self._decided(call_unique_id):
            self.station.change_availability(connector_id, type == AvailabilityType.operative)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known, unknown = self.station.config.lookup(key)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k.name, "readonly": k.readonly, "value": value}
                               for k, value in known],
            unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, call_unique_id: str, key: str, value: str) -> call_result.ChangeConfiguration:
        """SecurityProfile is only raised, and only to a profile the charge point can make
        (then it reconnects); a new AuthorizationKey also makes it reconnect, with the new key."""
        if key == SECURITY_PROFILE:
            status = self.station.security.check_profile(value)
        else:
            status = self.station.config.change(key, value)
        accepted = status is ChangeResult.ACCEPTED
        return call_result.ChangeConfiguration(
            status=self._decide(call_unique_id, status.value, accepted and key in RECONNECTING_KEYS))

    @after(Action.change_configuration)
    def after_change_configuration(self, call_unique_id: str, key: str, value: str) -> None:
        if not self._decided(call_unique_id):
            return
        security = self.station.security
        if key == SECURITY_PROFILE:
            if security.raise_profile(value):
                self._reconnect()
        else:
            security.event("ReconfigurationOfSecurityParameters", f"{key} changed")
            if security.profile in (1, 2):
                self._reconnect()

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        ok = self.station.clear_cache()
        return call_result.ClearCache(status=ClearCacheStatus.accepted if ok else ClearCacheStatus.rejected)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None) -> call_result.DataTransfer:
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=answer)

    # -- smart charging -------------------------------------------------------------------
    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, call_unique_id: str, connector_id: int, cs_charging_profiles: dict[str, Any]
                                ) -> call_result.SetChargingProfile:
        status = self.station.set_charging_profile(connector_id, snake_to_camel_case(cs_charging_profiles),
                                                   dry_run=True)
        return call_result.SetChargingProfile(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str, connector_id: int,
                                   cs_charging_profiles: dict[str, Any]) -> None:
        if self._decided(call_unique_id):
            self.station.set_charging_profile(connector_id, snake_to_camel_case(cs_charging_profiles))

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, call_unique_id: str, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None
                                  ) -> call_result.ClearChargingProfile:
        status = self.station.clear_charging_profile(id, connector_id, charging_profile_purpose, stack_level,
                                                     dry_run=True)
        return call_result.ClearChargingProfile(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str, id: int | None = None,
                                     connector_id: int | None = None, charging_profile_purpose: str | None = None,
                                     stack_level: int | None = None) -> None:
        if self._decided(call_unique_id):
            self.station.clear_charging_profile(id, connector_id, charging_profile_purpose, stack_level)

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None
                                  ) -> call_result.GetCompositeSchedule:
        schedule = self.station.composite_schedule(connector_id, duration, charging_rate_unit)
        return call_result.GetCompositeSchedule(**camel_to_snake_case(schedule))

    # -- reservations ---------------------------------------------------------------------
    @on(Action.reserve_now)
    def on_reserve_now(self, call_unique_id: str, **request: Any) -> call_result.ReserveNow:
        status = self.station.reserve_now(snake_to_camel_case(request), dry_run=True)
        return call_result.ReserveNow(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **request: Any) -> None:
        if self._decided(call_unique_id):
            self.station.reserve_now(snake_to_camel_case(request))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, call_unique_id: str, reservation_id: int) -> call_result.CancelReservation:
        status = self.station.cancel_reservation(reservation_id, dry_run=True)
        return call_result.CancelReservation(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, reservation_id: int) -> None:
        if self._decided(call_unique_id):
            self.station.cancel_reservation(reservation_id)

    # -- local authorization list ---------------------------------------------------------
    @on(Action.send_local_list)
    def on_send_local_list(self, **request: Any) -> call_result.SendLocalList:
        return call_result.SendLocalList(status=self.station.send_local_list(snake_to_camel_case(request)))

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(list_version=self.station.local_list_version())

    # -- remote trigger -------------------------------------------------------------------
    @on(Action.trigger_message)
    def on_trigger_message(self, call_unique_id: str, requested_message: str, connector_id: int | None = None
                           ) -> call_result.TriggerMessage:
        status = self._trigger(requested_message, connector_id, dry_run=True)
        return call_result.TriggerMessage(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, requested_message: str,
                              connector_id: int | None = None) -> None:
        if self._decided(call_unique_id):
            self._trigger(requested_message, connector_id)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, call_unique_id: str, requested_message: str,
                                    connector_id: int | None = None) -> call_result.ExtendedTriggerMessage:
        status = self._trigger(requested_message, connector_id, dry_run=True, extended=True)
        return call_result.ExtendedTriggerMessage(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.extended_trigger_message)
    def after_extended_trigger_message(self, call_unique_id: str, requested_message: str,
                                       connector_id: int | None = None) -> None:
        if self._decided(call_unique_id):
            self._trigger(requested_message, connector_id, extended=True)

    # -- security extension: certificates -------------------------------------------------
    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str) -> call_result.InstallCertificate:
        return call_result.InstallCertificate(
            status=self.station.security.install_certificate(certificate_type, certificate))

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: str) -> call_result.GetInstalledCertificateIds:
        found = self.station.security.installed_certificates(certificate_type)
        return call_result.GetInstalledCertificateIds(
            status="Accepted" if found else "NotFound", certificate_hash_data=_snake(found) or None)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any]) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(
            status=self.station.security.delete_certificate(snake_to_camel_case(certificate_hash_data)))

    @on(Action.certificate_signed)
    def on_certificate_signed(self, call_unique_id: str, certificate_chain: str) -> call_result.CertificateSigned:
        accepted = self.station.security.certificate_signed(certificate_chain)
        return call_result.CertificateSigned(
            status=self._decide(call_unique_id, "Accepted" if accepted else "Rejected", accepted))

    @after(Action.certificate_signed)
    def after_certificate_signed(self, call_unique_id: str, certificate_chain: str) -> None:
        """Under profile 3 the new certificate is used at once: a new connection."""
        if self._decided(call_unique_id) and self.station.security.profile == 3:
            self._reconnect()

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(self, call_unique_id: str, request_id: int, firmware: dict[str, Any],
                                  retries: int | None = None, retry_interval: int | None = None
                                  ) -> call_result.SignedUpdateFirmware:
        status = self.station.signed_update_firmware(
            request_id, firmware["location"], parse_datetime(firmware["retrieve_date_time"]).timestamp(),
            firmware["signing_certificate"], firmware["signature"], retries, retry_interval, dry_run=True)
        return call_result.SignedUpdateFirmware(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, call_unique_id: str, request_id: int, firmware: dict[str, Any],
                                     retries: int | None = None, retry_interval: int | None = None) -> None:
        if self._decided(call_unique_id):
            self.station.signed_update_firmware(
                request_id, firmware["location"], parse_datetime(firmware["retrieve_date_time"]).timestamp(),
                firmware["signing_certificate"], firmware["signature"], retries, retry_interval)

    @on(Action.get_log)
    def on_get_log(self, call_unique_id: str, log_type: str, request_id: int, log: dict[str, Any],
                   retries: int | None = None, retry_interval: int | None = None) -> call_result.GetLog:
        file_name = self.station.get_log(log_type, request_id, log["remote_location"], _window(log), retries,
                                         retry_interval, dry_run=True)
        return call_result.GetLog(status=self._decide(call_unique_id, ACCEPTED), filename=file_name)

    @after(Action.get_log)
    def after_get_log(self, call_unique_id: str, log_type: str, request_id: int, log: dict[str, Any],
                      retries: int | None = None, retry_interval: int | None = None) -> None:
        if self._decided(call_unique_id):
            self.station.get_log(log_type, request_id, log["remote_location"], _window(log), retries,
                                 retry_interval)

    # -- firmware management --------------------------------------------------------------
    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                           retry_interval: int | None = None) -> call_result.UpdateFirmware:
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, location: str, retrieve_date: str, retries: int | None = None,
                              retry_interval: int | None = None) -> None:
        self.station.update_firmware(location, parse_datetime(retrieve_date).timestamp(), retries, retry_interval)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, call_unique_id: str, location: str, **_: Any) -> call_result.GetDiagnostics:
        return call_result.GetDiagnostics(file_name=self._decide(call_unique_id, self.station.diagnostics_file_name()))

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, location: str, retries: int | None = None,
                              retry_interval: int | None = None, start_time: str | None = None,
                              stop_time: str | None = None) -> None:
        file_name = self._decided(call_unique_id)
        if file_name:
            self.station.upload_diagnostics(file_name, location, _timestamp(start_time), _timestamp(stop_time),
                                            retries, retry_interval)
