"""CSMS-initiated OCPP 2.0.1 calls: thin handlers that ask the station and report its answer.

As in 1.6, a call with side effects is decided in its `@on` handler (a dry run on the
station) and carried out in its `@after` handler only when the `@on` said yes, so the CSMS
gets the answer before the messages the action causes. EVSE n is the station's connector n.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from chargepoint.core.call_routing import CallRouting
from chargepoint.core.call_timing import TimedCalls
from chargepoint.model.smart_charging import parse_datetime
from chargepoint.ocpp201 import shapes
from chargepoint.ocpp201.auth_data import AuthDataHandlers
from chargepoint.ocpp201.provisioning import ProvisioningHandlers
from chargepoint.ocpp201.security_handlers import SecurityHandlers
from chargepoint.protocol import Controller

if TYPE_CHECKING:
    from chargepoint.ocpp201.adapter import Ocpp201Adapter

log = logging.getLogger(__name__)
ACCEPTED = "Accepted"


def _timestamp(text: str | None) -> float | None:
    return None if text is None else parse_datetime(text).timestamp()


class ChargePoint201(CallRouting, TimedCalls, ProvisioningHandlers, AuthDataHandlers, SecurityHandlers,
                     ChargePoint):
    """One WebSocket session with the CSMS, seen from the charging station: the device model
    and authorization data handlers (mixins) and the functional blocks below."""

    def __init__(self, cp_id: str, connection: Any, station: Controller, response_timeout: float,
                 adapter: Ocpp201Adapter) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.station = station
        self.adapter = adapter
        self.device_model = adapter.device_model.model

    def _evse(self, evse_id: int | None) -> bool:
        return evse_id is not None and 1 <= evse_id <= self.station.definition.nb_connectors

    # -- F: remote control ----------------------------------------------------------------
    @on(Action.request_start_transaction)
    def on_request_start(self, call_unique_id: str, id_token: dict[str, Any], remote_start_id: int,
                         evse_id: int | None = None, charging_profile: dict[str, Any] | None = None,
                         **_: Any) -> call_result.RequestStartTransaction:
        profile = None
        if charging_profile is not None:
            try:
                profile = shapes.profile_to_model(snake_to_camel_case(charging_profile))
            except ValueError as exc:
                log.info("RequestStartTransaction refused: %s", exc)
                return call_result.RequestStartTransaction(status="Rejected")
        chosen = self.station.remote_start(evse_id, id_token["id_token"], profile, dry_run=True)
        if chosen is None:
            return call_result.RequestStartTransaction(status="Rejected")
        self._decide(call_unique_id, (chosen, profile))
        # a transaction a start point (EVConnected) already began there: the remote start joins it
        return call_result.RequestStartTransaction(status=ACCEPTED,
                                                   transaction_id=self.adapter.early_transaction_id(chosen))

    @after(Action.request_start_transaction)
    def after_request_start(self, call_unique_id: str, id_token: dict[str, Any], remote_start_id: int,
                            **_: Any) -> None:
        decided = self._decided(call_unique_id)
        if decided:
            chosen, profile = decided
            self.adapter.remote_start_requested(chosen, remote_start_id, id_token)
            self.station.remote_start(chosen, id_token["id_token"], profile)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, call_unique_id: str, transaction_id: str, **_: Any
                        ) -> call_result.RequestStopTransaction:
        known = self.station.remote_stop(transaction_id, dry_run=True)
        return call_result.RequestStopTransaction(
            status=self._decide(call_unique_id, ACCEPTED if known else "Rejected", known))

    @after(Action.request_stop_transaction)
    def after_request_stop(self, call_unique_id: str, transaction_id: str, **_: Any) -> None:
        if self._decided(call_unique_id):
            self.station.remote_stop(transaction_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        """A connector whose transaction is authorized stays locked (F05)."""
        if not self._evse(evse_id) or connector_id != 1:
            return call_result.UnlockConnector(status="UnknownConnector")
        if self.station.transaction_for(evse_id) is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status=self.station.unlock(evse_id))

    @on(Action.trigger_message)
    def on_trigger_message(self, call_unique_id: str, requested_message: str, evse: dict[str, Any] | None = None,
                           **_: Any) -> call_result.TriggerMessage:
        evse_id = None if evse is None else evse["id"]
        status = self.adapter.trigger(requested_message, evse_id, dry_run=True)
        return call_result.TriggerMessage(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, requested_message: str,
                              evse: dict[str, Any] | None = None, **_: Any) -> None:
        if self._decided(call_unique_id):
            self.adapter.trigger(requested_message, None if evse is None else evse["id"])

    # -- B: reset -------------------------------------------------------------------------
    @on(Action.reset)
    def on_reset(self, call_unique_id: str, type: str, evse_id: int | None = None, **_: Any) -> call_result.Reset:
        """Immediate: the transactions (of that EVSE) end and the station reboots (the EVSE
        starts over); OnIdle: Scheduled while a transaction runs there, done once none does."""
        if evse_id is not None and not self._evse(evse_id):
            return call_result.Reset(status="Rejected")
        evses = range(1, self.station.definition.nb_connectors + 1) if evse_id is None else [evse_id]
        busy = any(self.station.transaction_for(n) for n in evses)
        status = "Scheduled" if busy and type == "OnIdle" else ACCEPTED
        return call_result.Reset(status=self._decide(call_unique_id, status))

    @after(Action.reset)
    async def after_reset(self, call_unique_id: str, type: str, evse_id: int | None = None, **_: Any) -> None:
        status = self._decided(call_unique_id)
        if evse_id is not None:
            if status == ACCEPTED:  # an idle EVSE has nothing to start over; OnIdle: once its session ended
                self.station.reset_evse(evse_id)
        elif status == "Scheduled":
            self.adapter.reset_when_idle()
        elif status:
            await self.station.reset(hard=True)

    # -- G: availability ------------------------------------------------------------------
    @on(Action.change_availability)
    def on_change_availability(self, call_unique_id: str, operational_status: str,
                               evse: dict[str, Any] | None = None, **_: Any) -> call_result.ChangeAvailability:
        target = 0 if evse is None else evse["id"]
        if evse is not None and (not self._evse(target) or evse.get("connector_id", 1) != 1):
            return call_result.ChangeAvailability(status="Rejected")
        status = self.station.change_availability(target, operational_status == "Operative", dry_run=True)
        return call_result.ChangeAvailability(status=self._decide(call_unique_id, status, status != "Rejected"))

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, operational_status: str,
                                  evse: dict[str, Any] | None = None, **_: Any) -> None:
        if self._decided(call_unique_id):
            self.station.change_availability(0 if evse is None else evse["id"], operational_status == "Operative")

    # -- E: transactions ------------------------------------------------------------------
    @on(Action.get_transaction_status)
    def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any
                                  ) -> call_result.GetTransactionStatus:
        queued = [e for e in self.station.queue if e.action == "TransactionEvent"]
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=bool(queued))
        ongoing = any((tx := self.station.transaction_for(n)) is not None and tx.transaction_id == transaction_id
                      for n in range(1, self.station.definition.nb_connectors + 1))
        mine = any(e.payload["transaction_info"]["transaction_id"] == transaction_id for e in queued)
        return call_result.GetTransactionStatus(messages_in_queue=mine, ongoing_indicator=ongoing)

    # -- H: reservation -------------------------------------------------------------------
    @on(Action.reserve_now)
    def on_reserve_now(self, call_unique_id: str, **request: Any) -> call_result.ReserveNow:
        if request.get("evse_id") is not None and not self._evse(request["evse_id"]):
            return call_result.ReserveNow(status="Rejected")
        status = self.station.reserve_now(shapes.reservation_to_model(snake_to_camel_case(request)), dry_run=True)
        return call_result.ReserveNow(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **request: Any) -> None:
        if self._decided(call_unique_id):
            self.station.reserve_now(shapes.reservation_to_model(snake_to_camel_case(request)))

    @on(Action.cancel_reservation)
    def on_cancel_reservation(self, call_unique_id: str, reservation_id: int, **_: Any
                              ) -> call_result.CancelReservation:
        status = self.station.cancel_reservation(reservation_id, dry_run=True)
        return call_result.CancelReservation(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, reservation_id: int, **_: Any) -> None:
        if self._decided(call_unique_id):
            self.station.cancel_reservation(reservation_id)

    # -- K: smart charging ----------------------------------------------------------------
    def _profile(self, charging_profile: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return shapes.profile_to_model(snake_to_camel_case(charging_profile))
        except ValueError as exc:
            log.info("SetChargingProfile: Rejected (%s)", exc)
            return None

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, call_unique_id: str, evse_id: int, charging_profile: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        profile = self._profile(charging_profile)
        status = "Rejected" if profile is None else self.station.set_charging_profile(evse_id, profile, dry_run=True)
        status = ACCEPTED if status == ACCEPTED else "Rejected"  # 2.0.1 knows no NotSupported here
        return call_result.SetChargingProfile(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.set_charging_profile)
    def after_set_charging_profile(self, call_unique_id: str, evse_id: int, charging_profile: dict[str, Any],
                                   **_: Any) -> None:
        profile = self._profile(charging_profile)
        if self._decided(call_unique_id) and profile is not None:
            self.station.set_charging_profile(evse_id, profile)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, call_unique_id: str, charging_profile_id: int | None = None,
                                  charging_profile_criteria: dict[str, Any] | None = None, **_: Any
                                  ) -> call_result.ClearChargingProfile:
        status = self._clear(charging_profile_id, charging_profile_criteria, dry_run=True)
        return call_result.ClearChargingProfile(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.clear_charging_profile)
    def after_clear_charging_profile(self, call_unique_id: str, charging_profile_id: int | None = None,
                                     charging_profile_criteria: dict[str, Any] | None = None, **_: Any) -> None:
        if self._decided(call_unique_id):
            self._clear(charging_profile_id, charging_profile_criteria)

    def _clear(self, profile_id: int | None, criteria: dict[str, Any] | None, *, dry_run: bool = False) -> str:
        c = criteria or {}
        return self.station.clear_charging_profile(
            profile_id, c.get("evse_id"), shapes.purpose_to_model(c.get("charging_profile_purpose")),
            c.get("stack_level"), dry_run=dry_run)

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, call_unique_id: str, request_id: int, charging_profile: dict[str, Any],
                                 evse_id: int | None = None, **_: Any) -> call_result.GetChargingProfiles:
        found = self._matching_profiles(charging_profile, evse_id)
        self._decide(call_unique_id, found, bool(found))
        return call_result.GetChargingProfiles(status=ACCEPTED if found else "NoProfiles")

    @after(Action.get_charging_profiles)
    async def after_get_charging_profiles(self, call_unique_id: str, request_id: int, **_: Any) -> None:
        """One ReportChargingProfiles per EVSE (0: the station), tbc on all but the last."""
        found: dict[int, list[dict[str, Any]]] | None = self._decided(call_unique_id)
        if not found:
            return
        evses = sorted(found)
        for i, evse in enumerate(evses):
            profiles = [camel_to_snake_case(p) for p in found[evse]]
            await self.call(call.ReportChargingProfiles(
                request_id=request_id, charging_limit_source="CSO", evse_id=evse, charging_profile=profiles,
                tbc=i < len(evses) - 1), suppress=True)

    def _matching_profiles(self, criteria: dict[str, Any], evse_id: int | None) -> dict[int, list[dict[str, Any]]]:
        if any(source != "CSO" for source in criteria.get("charging_limit_source") or ["CSO"]):
            return {}
        ids = criteria.get("charging_profile_id")
        purpose = criteria.get("charging_profile_purpose")
        stack_level = criteria.get("stack_level")
        found: dict[int, list[dict[str, Any]]] = {}
        for item in self.station.charging_profiles():
            profile = shapes.profile_from_model(item["csChargingProfiles"])
            if ((evse_id is None or item["connectorId"] == evse_id)
                    and (not ids or profile["id"] in ids)
                    and purpose in (None, profile["chargingProfilePurpose"])
                    and stack_level in (None, profile["stackLevel"])):
                found.setdefault(item["connectorId"], []).append(profile)
        return found

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        if evse_id != 0 and not self._evse(evse_id):
            return call_result.GetCompositeSchedule(status="Rejected")
        answer = self.station.composite_schedule(evse_id, duration, charging_rate_unit)
        return call_result.GetCompositeSchedule(**camel_to_snake_case(shapes.composite_from_model(answer, evse_id)))

    # -- L: firmware, N: logs -------------------------------------------------------------
    @on(Action.update_firmware)
    def on_update_firmware(self, call_unique_id: str, request_id: int, firmware: dict[str, Any],
                           retries: int | None = None, retry_interval: int | None = None, **_: Any
                           ) -> call_result.UpdateFirmware:
        """Signed (a signingCertificate and a signature): only with a certificate that chains to
        an installed manufacturer root, the image installed only if the signature verifies."""
        status = self._firmware(request_id, firmware, retries, retry_interval, dry_run=True)
        return call_result.UpdateFirmware(status=self._decide(call_unique_id, status, status == ACCEPTED))

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, request_id: int, firmware: dict[str, Any],
                              retries: int | None = None, retry_interval: int | None = None, **_: Any) -> None:
        if self._decided(call_unique_id):
            self._firmware(request_id, firmware, retries, retry_interval)

    def _firmware(self, request_id: int, firmware: dict[str, Any], retries: int | None, retry_interval: int | None,
                  *, dry_run: bool = False) -> str:
        retrieve_at = parse_datetime(firmware["retrieve_date_time"]).timestamp()
        if firmware.get("signing_certificate") and firmware.get("signature"):
            return self.station.signed_update_firmware(
                request_id, firmware["location"], retrieve_at, firmware["signing_certificate"], firmware["signature"],
                retries, retry_interval, dry_run=dry_run)
        if not dry_run:
            self.station.update_firmware(firmware["location"], retrieve_at, retries, retry_interval, request_id)
        return ACCEPTED

    @on(Action.get_log)
    def on_get_log(self, call_unique_id: str, log_type: str, request_id: int, log: dict[str, Any],
                   retries: int | None = None, retry_interval: int | None = None, **_: Any) -> call_result.GetLog:
        file_name = self._log(log_type, request_id, log, retries, retry_interval, dry_run=True)
        self._decide(call_unique_id, file_name)
        return call_result.GetLog(status=ACCEPTED, filename=file_name)

    @after(Action.get_log)
    def after_get_log(self, call_unique_id: str, log_type: str, request_id: int, log: dict[str, Any],
                      retries: int | None = None, retry_interval: int | None = None, **_: Any) -> None:
        if self._decided(call_unique_id):
            self._log(log_type, request_id, log, retries, retry_interval)

    def _log(self, log_type: str, request_id: int, log: dict[str, Any], retries: int | None,
             retry_interval: int | None, *, dry_run: bool = False) -> str:
        window = (_timestamp(log.get("oldest_timestamp")), _timestamp(log.get("latest_timestamp")))
        return self.station.get_log(log_type, request_id, log["remote_location"], window, retries, retry_interval,
                                    dry_run=dry_run)

    # -- P: data transfer -----------------------------------------------------------------
    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
                         ) -> call_result.DataTransfer:
        status, answer = self.station.data_transfer(vendor_id, message_id, None if data is None else str(data))
        return call_result.DataTransfer(status=status, data=answer)
