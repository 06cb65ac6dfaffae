"""OCPP 1.6-J adapter: the messages the charge point initiates, over the shared connection
lifecycle (`SessionAdapter`). Transaction-related messages go through the durable offline
queue; a StartTransaction's answer numbers the messages queued after it.
"""

from __future__ import annotations

import logging
from typing import Any

from ocpp.charge_point import ChargePoint, snake_to_camel_case
from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger, TriggerMessageStatus

from chargepoint.core.connection import OcppConnection
from chargepoint.core.message_log import utc_iso
from chargepoint.core.offline_queue import QueuedMessage
from chargepoint.core.session import SessionAdapter
from chargepoint.model.authorization import IdTagInfo
from chargepoint.model.connector import Transaction, TransactionStopped
from chargepoint.model.meter import Sample
from chargepoint.ocpp16.handlers import ChargePoint16
from chargepoint.ocpp16.meter_values import meter_value
from chargepoint.protocol import Controller

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
TRIGGERS = frozenset({  # TriggerMessage of OCPP 1.6
    MessageTrigger.boot_notification, MessageTrigger.diagnostics_status_notification,
    MessageTrigger.firmware_status_notification, MessageTrigger.heartbeat, MessageTrigger.meter_values,
    MessageTrigger.status_notification})
EXTENDED_TRIGGERS = frozenset({  # ExtendedTriggerMessage of the security extension
    MessageTrigger.boot_notification, MessageTrigger.log_status_notification,
    MessageTrigger.firmware_status_notification, MessageTrigger.heartbeat, MessageTrigger.meter_values,
    MessageTrigger.sign_charge_point_certificate, MessageTrigger.status_notification})


def id_tag_info(data: dict[str, Any] | None) -> IdTagInfo | None:
    """An idTagInfo (snake_case, as the library returns it) as the model's IdTagInfo."""
    return IdTagInfo.from_wire(snake_to_camel_case(data)) if data else None


class Ocpp16Adapter(SessionAdapter):
    version = "1.6"
    subprotocol = SUBPROTOCOL
    calls = call

    def __init__(self, station: Controller) -> None:
        super().__init__(station)
        self._sent_statuses: dict[int, tuple[str, str]] = {}  # what this connection told the CSMS

    def _make_cp(self, conn: OcppConnection) -> ChargePoint16:
        return ChargePoint16(self.station.definition.id, conn, self.station, self.station.connection.call_timeout,
                             self.trigger, self.reconnect)

    async def _announce(self, cp: ChargePoint) -> None:
        """Each connector's status as it is when its turn comes, unless a change already sent it."""
        self._sent_statuses.clear()
        for connector_id in range(len(self.station.connector_statuses())):
            _, status, error_code = self.station.connector_statuses()[connector_id]
            if self._sent_statuses.get(connector_id) != (status, error_code):
                await self._status(cp, connector_id, status, error_code)

    def _boot_request(self) -> call.BootNotification:
        d = self.station.definition
        extra = d.extra
        return call.BootNotification(
            charge_point_model=d.model, charge_point_vendor=d.vendor,
            charge_point_serial_number=d.serial or None,
            firmware_version=str(extra.get("firmware_version") or "") or None,
            iccid=str(extra.get("iccid") or "") or None, imsi=str(extra.get("imsi") or "") or None,
            meter_type=str(extra.get("meter_type") or "") or None,
            meter_serial_number=d.meter_serial)

    def _accepted_boot(self, interval: int) -> None:
        if interval > 0:
            self.station.config.change("HeartbeatInterval", str(interval))  # type: ignore[attr-defined]

    # -- messages the station sends -------------------------------------------------------
    async def authorize(self, id_tag: str) -> IdTagInfo | None:
        answer = await self._ask(call.Authorize(id_tag=id_tag), f"Authorize {id_tag}")
        return None if answer is None else id_tag_info(answer.id_tag_info)

    def send_status(self, connector_id: int, status: str, error_code: str) -> None:
        if self.online and self._cp is not None and self._sent_statuses.get(connector_id) != (status, error_code):
            self._sent_statuses[connector_id] = (status, error_code)
            cp = self._cp
            self._spawn_behind_queue(lambda: self._status(cp, connector_id, status, error_code))

    async def _status(self, cp: ChargePoint16, connector_id: int, status: str, error_code: str) -> None:
        self._sent_statuses[connector_id] = (status, error_code)
        await self._send(cp, call.StatusNotification(connector_id=connector_id, error_code=error_code,
                                                     status=status, timestamp=utc_iso()))

    async def report_firmware(self, status: str) -> None:
        request_id = self.station.firmware_request_id
        if request_id is None:
            await self._report(call.FirmwareStatusNotification(status=status))
        else:
            await self._report(call.SignedFirmwareStatusNotification(status=status, request_id=request_id))

    async def report_log(self, status: str) -> None:
        await self._report(call.LogStatusNotification(status=status, request_id=self.station.log_request_id))

    async def report_diagnostics(self, status: str) -> None:
        await self._report(call.DiagnosticsStatusNotification(status=status))

    def trigger(self, message: str, connector_id: int | None, *, dry_run: bool = False,
                extended: bool = False) -> str:
        """(Extended)TriggerMessage: Rejected for a connector that does not exist (or 0 for
        MeterValues: there is no main meter); the message follows the answer, when not a dry run."""
        if message not in (EXTENDED_TRIGGERS if extended else TRIGGERS):
            return TriggerMessageStatus.not_implemented
        lowest = 1 if message == MessageTrigger.meter_values else 0
        if connector_id is not None and not lowest <= connector_id <= self.station.definition.nb_connectors:
            return TriggerMessageStatus.rejected
        if not dry_run and self._cp is not None:
            self._spawn(self._triggered(self._cp, MessageTrigger(message), connector_id, extended))
        return TriggerMessageStatus.accepted

    async def _triggered(self, cp: ChargePoint16, message: MessageTrigger, connector_id: int | None,
                         extended: bool) -> None:
        if message is MessageTrigger.boot_notification:
            answer = await self._send(cp, self._boot_request())
            if answer is not None and answer.status == "Accepted":
                self._accepted(answer.interval)
        elif message is MessageTrigger.heartbeat:
            await self._send(cp, call.Heartbeat())
        elif message is MessageTrigger.status_notification:
            for n, status, error_code in self.station.connector_statuses():
                if connector_id in (None, n):
                    await self._status(cp, n, status, error_code)
        elif message is MessageTrigger.meter_values:
            self.station.trigger_meter_values(connector_id)
        elif message is MessageTrigger.firmware_status_notification and extended:
            await self._send(cp, call.SignedFirmwareStatusNotification(
                status=self.station.firmware_status, request_id=self.station.firmware_request_id))
        elif message is MessageTrigger.firmware_status_notification:
            await self._send(cp, call.FirmwareStatusNotification(status=self.station.firmware_status))
        elif message is MessageTrigger.sign_charge_point_certificate:
            await self.sign_certificate(cp)
        elif message is MessageTrigger.log_status_notification:
            await self._send(cp, call.LogStatusNotification(status=self.station.log_status,
                                                            request_id=self.station.log_request_id))
        elif message is MessageTrigger.diagnostics_status_notification:
            await self._send(cp, call.DiagnosticsStatusNotification(status=self.station.diagnostics_status))

    async def sign_certificate(self, cp: ChargePoint16) -> None:
        """A new key pair and its CSR; the CSMS answers later with CertificateSigned."""
        answer = await self._send(cp, call.SignCertificate(csr=self.station.security.new_csr()))
        if answer is not None and answer.status != "Accepted":
            log.warning("SignCertificate: %s", answer.status)

    def transaction_started(self, tx: Transaction) -> None:
        tx.awaiting_confirmation = self.online  # a start the CSMS answers Blocked never charges
        payload: dict[str, Any] = {"connector_id": tx.connector_id, "id_tag": tx.id_tag,
                                   "meter_start": tx.meter_start, "timestamp": utc_iso(tx.started_at)}
        if tx.reservation_id is not None:
            payload["reservation_id"] = tx.reservation_id
        self._enqueue("StartTransaction", payload, tx.ref)

    def transaction_stopped(self, event: TransactionStopped) -> None:
        tx = event.transaction
        payload: dict[str, Any] = {"meter_stop": event.meter_stop, "timestamp": utc_iso(event.stopped_at),
                                   "transaction_id": tx.transaction_id, "reason": event.reason.value}
        if event.id_tag:
            payload["id_tag"] = event.id_tag
        data = [meter_value(Sample.from_dict(s), self._dc) for s in tx.data]
        data = [mv for mv in data if mv["sampled_value"]]
        if data:
            payload["transaction_data"] = data
        self._enqueue("StopTransaction", payload, tx.ref)

    def meter_values(self, connector_id: int, tx: Transaction | None, samples: list[Sample]) -> None:
        values = [mv for mv in (meter_value(s, self._dc) for s in samples) if mv["sampled_value"]]
        if not values:
            return
        payload: dict[str, Any] = {"connector_id": connector_id, "meter_value": values}
        if tx is not None:
            payload["transaction_id"] = tx.transaction_id
            self._enqueue("MeterValues", payload, tx.ref)
        else:  # not transaction-related: dropped while offline
            self._send_now(call.MeterValues(**payload))

    @property
    def _dc(self) -> bool:
        return self.station.definition.is_dc

    def ocpp_status(self, status: str) -> str:
        return status

    def charging_rate_changed(self, tx: Transaction) -> None:
        """OCPP 1.6 has no message for it (the next MeterValues show it)."""

    def reservation_ended(self, reservation_id: int, expired: bool) -> None:
        """OCPP 1.6 has no message for it."""

    def _prepare(self, entry: QueuedMessage) -> dict[str, Any] | None:
        """A message about a transaction whose start was queued gets the CSMS's id now."""
        payload = dict(entry.payload)
        queue = self.station.queue
        if entry.action != "StartTransaction" and payload.get("transaction_id") is None:
            payload["transaction_id"] = queue.transaction_id(entry.ref) if entry.ref is not None else None
            if payload["transaction_id"] is None:
                log.error("dropping queued %s: its StartTransaction was never answered", entry.action)
                return None
        return payload

    def _given_up(self, entry: QueuedMessage) -> None:
        if entry.action == "StartTransaction" and entry.ref is not None:  # charges without the answer
            self.station.charge_unconfirmed(entry.ref)

    def _delivered(self, entry: QueuedMessage, payload: dict[str, Any], answer: Any) -> None:
        if entry.action == "StartTransaction" and entry.ref is not None:
            self.station.queue.map_transaction(entry.ref, answer.transaction_id)
            info = id_tag_info(answer.id_tag_info) or IdTagInfo("Invalid")
            self.station.transaction_confirmed(entry.ref, answer.transaction_id, info)
        elif entry.action == "StopTransaction" and payload.get("id_tag"):
            info = id_tag_info(answer.id_tag_info)
            if info is not None:
                self.station.remember_tag(payload["id_tag"], info)
