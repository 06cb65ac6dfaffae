"""OCPP 1.6-J adapter: connection lifecycle, registration, heartbeat, and the messages the
charge point initiates. Transaction-related messages go through the durable offline queue
and are delivered strictly in order by one sender per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import ocpp.messages
from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from ocpp.v16.enums import MessageTrigger, TriggerMessageStatus
from websockets.exceptions import ConnectionClosed

from chargepoint.core.connection import Backoff, OcppConnection, open_connection
from chargepoint.core.message_log import utc_iso
from chargepoint.model.authorization import IdTagInfo
from chargepoint.model.connector import Transaction, TransactionStopped
from chargepoint.model.meter import Sample
from chargepoint.ocpp16.handlers import ChargePoint16
from chargepoint.ocpp16.meter_values import meter_value
from chargepoint.protocol import Controller
from cp_simu import failures, redact
from cp_simu.urls import csms_endpoint

log = logging.getLogger(__name__)

# Validate in the calling thread: same checks, no thread pool per process.
ocpp.messages.ASYNC_VALIDATION = False

SUBPROTOCOL = "ocpp1.6"
BOOT_RETRY_MIN = 1.0  # s, shortest wait between two BootNotifications
BOOT_RETRY_ON_ERROR = 10.0  # s, after a BootNotification got no usable answer
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


class Ocpp16Adapter:
    version = "1.6"

    def __init__(self, station: Controller) -> None:
        self.station = station
        self._cp: ChargePoint16 | None = None
        self._conn: OcppConnection | None = None
        self._registered = False  # BootNotification accepted since the last (re)boot
        self._boot_accepted = asyncio.Event()  # any BootNotification accepted, a triggered one too
        self._connected_registered = False
        self._wake = asyncio.Event()  # the offline queue has something to send
        self._heartbeat_changed = asyncio.Event()
        self._closing = False
        self._rebooting = False
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self.connect = open_connection  # opens the WebSocket (the fork server's warm-up: in memory)
        station.config.listeners.append(self._config_changed)
        self._events_waiting = asyncio.Event()  # a security event is to be sent
        station.security.event_listeners.append(self._events_waiting.set)

    @property
    def online(self) -> bool:
        return self._cp is not None and self._connected_registered

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        settings = self.station.connection
        security = self.station.security
        backoff = Backoff(settings.reconnect_min, settings.reconnect_max)
        url = csms_endpoint(self.station.definition.central_system, self.station.definition.id)
        while not self._closing:
            transport = security.transport()
            try:
                conn = await self.connect(
                    url, SUBPROTOCOL, self.station.message_log, security=transport,
                    ping_interval=self.station.config.integer("WebSocketPingInterval", 30))
            except Exception as exc:  # refused, DNS, TLS, handshake, timeout: all mean "retry later"
                delay = backoff.next()
                why = failures.connection_failure(exc)
                security.connection_failed(exc)
                log.info("cannot connect to %s (security profile %d): %s; retrying in %.1fs",
                         redact.url(transport.target(url)), transport.profile, why, delay)
                self.station.set_registration("Disconnected", why)
                await asyncio.sleep(delay)
                continue
            log.info("connected to %s (security profile %d)", redact.url(transport.target(url)),
                     transport.profile)
            security.connected()
            backoff.reset()
            try:
                await self._session(conn)
            finally:
                self._cp = self._conn = None
                self._connected_registered = False
                self.station.charge_unconfirmed()  # no answer to a start can come now
                if not self._closing:
                    self.station.set_registration(
                        "Disconnected", "rebooting (Reset)" if self._rebooting else conn.close_reason())
            if self._rebooting:
                self._rebooting = False  # reconnect at once, as a rebooted CP would
            elif not self._closing:
                await asyncio.sleep(backoff.next())

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 3)

    def reboot(self) -> None:
        """Reset: drop the connection; the next one starts with a BootNotification."""
        self._registered = False
        self._boot_accepted.clear()
        self.reconnect()

    def reconnect(self) -> None:
        """Drop the connection and open a new one at once (new security settings); still registered."""
        self._rebooting = True
        if self._conn is not None:
            self._spawn(self._conn.close())

    async def _session(self, conn: OcppConnection) -> None:
        settings = self.station.connection
        cp = ChargePoint16(self.station.definition.id, conn, self.station, settings.call_timeout, self.trigger,
                           self.reconnect)
        self._cp, self._conn = cp, conn
        receiver = asyncio.create_task(cp.start())
        flow = asyncio.create_task(self._registered_flow(cp))
        try:
            done, _ = await asyncio.wait({receiver, flow}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() and not isinstance(
                        task.exception(), ConnectionClosed):
                    log.error("OCPP session failed", exc_info=task.exception())
        finally:
            for task in (receiver, flow, *self._session_tasks):
                task.cancel()
            await asyncio.gather(receiver, flow, *self._session_tasks, return_exceptions=True)
            self._session_tasks.clear()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 3)
            log.info("OCPP connection closed")

    async def _registered_flow(self, cp: ChargePoint16) -> None:
        if not self._registered:
            await self._boot(cp)
        self._connected_registered = True
        self.station.set_registration("Accepted")
        for connector_id, status, error_code in self.station.connector_statuses():
            await self._status(cp, connector_id, status, error_code)
        self._wake.set()
        await asyncio.gather(self._heartbeat(cp), self._deliver(cp), self._security_events(cp))

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

    async def _boot(self, cp: ChargePoint16) -> None:
        """BootNotification until Accepted, waiting the interval the CSMS asks for, unless
        the CSMS accepts one sooner (a BootNotification it triggered while Pending)."""
        request = self._boot_request()
        while not self._registered:
            try:
                answer = await cp.call(request, suppress=False)
            except (OCPPError, TimeoutError) as exc:
                log.warning("BootNotification failed (%s); retrying", exc)
                self.station.set_registration("Disconnected", failures.boot_failed(exc, BOOT_RETRY_ON_ERROR))
                await self._until_accepted(BOOT_RETRY_ON_ERROR)
                continue
            if answer.status == "Accepted":
                self._accepted_boot(answer.interval)
            else:
                interval = max(BOOT_RETRY_MIN, answer.interval)
                self.station.set_registration(answer.status, failures.boot_refused(answer.status, interval))
                await self._until_accepted(interval)

    async def _until_accepted(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._boot_accepted.wait(), delay)

    def _accepted_boot(self, interval: int) -> None:
        """Registered from now on; the interval becomes the HeartbeatInterval."""
        if interval > 0:
            self.station.config.change("HeartbeatInterval", str(interval))
        self._registered = True
        self._boot_accepted.set()

    async def _heartbeat(self, cp: ChargePoint16) -> None:
        while True:
            interval = self.station.config.integer("HeartbeatInterval", 300)
            self._heartbeat_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_changed.wait(), interval if interval > 0 else None)
                continue  # a new interval: start counting again
            await self._send(cp, call.Heartbeat())

    async def _security_events(self, cp: ChargePoint16) -> None:
        """SecurityEventNotification for every event, in order, once registered; an event
        leaves the queue only once the CSMS answered it (a dropped connection keeps it)."""
        security = self.station.security
        while True:
            self._events_waiting.clear()
            while (event := security.next_event()) is not None:
                try:
                    await cp.call(call.SecurityEventNotification(
                        type=event.type, timestamp=event.timestamp, tech_info=event.tech_info or None), suppress=False)
                except OCPPError as exc:  # answered with an error: not worth sending again
                    log.info("SecurityEventNotification failed: %s", exc)
                except TimeoutError:
                    log.info("SecurityEventNotification unanswered: kept for the next connection")
                    return
                security.event_sent(event)
            await self._events_waiting.wait()

    def _config_changed(self, key: str, _value: str) -> None:
        if key == "HeartbeatInterval":
            self._heartbeat_changed.set()

    # -- messages the station sends -------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task that ends with the connection (a call in flight is then abandoned)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)
        return task

    async def authorize(self, id_tag: str) -> IdTagInfo | None:
        cp = self._cp
        if cp is None or not self.online:
            return None
        request = self._spawn(cp.call(call.Authorize(id_tag=id_tag), suppress=False))
        try:
            answer = await request
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:
            log.warning("Authorize %s failed: %s", id_tag, exc)
            return None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if request.cancelled() and not (current and current.cancelling()):
                return None  # the connection dropped: decide offline, at once
            raise
        return id_tag_info(answer.id_tag_info)

    def send_status(self, connector_id: int, status: str, error_code: str) -> None:
        if self.online and self._cp is not None:
            self._spawn(self._status(self._cp, connector_id, status, error_code))

    async def _status(self, cp: ChargePoint16, connector_id: int, status: str, error_code: str) -> None:
        await self._send(cp, call.StatusNotification(connector_id=connector_id, error_code=error_code,
                                                     status=status, timestamp=utc_iso()))

    @staticmethod
    async def _send(cp: ChargePoint16, request: Any) -> Any | None:
        """A call whose failure only matters to the log: its answer, or None."""
        try:
            return await cp.call(request, suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:
            log.info("%s failed: %s", type(request).__name__, exc)
            return None

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

    async def _report(self, request: Any) -> None:
        if self.online and self._cp is not None:
            await self._send(self._cp, request)
        else:
            log.info("offline: %s not sent", request)

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
                self._accepted_boot(answer.interval)
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
        elif self.online and self._cp is not None:  # not transaction-related: dropped while offline
            self._spawn(self._send(self._cp, call.MeterValues(**payload)))

    @property
    def _dc(self) -> bool:
        return self.station.definition.is_dc

    def _enqueue(self, action: str, payload: dict[str, Any], ref: int) -> None:
        self.station.queue.append(action, payload, ref)
        self._wake.set()

    async def _deliver(self, cp: ChargePoint16) -> None:
        """Send the queued transaction messages in order, honouring
        TransactionMessageAttempts / TransactionMessageRetryInterval on failures."""
        queue = self.station.queue
        config = self.station.config
        while True:
            entry = queue.peek()
            if entry is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            payload = dict(entry.payload)
            if entry.action != "StartTransaction" and payload.get("transaction_id") is None:
                payload["transaction_id"] = queue.transaction_id(entry.ref) if entry.ref is not None else None
                if payload["transaction_id"] is None:
                    log.error("dropping queued %s: its StartTransaction was never answered", entry.action)
                    queue.done(entry)
                    continue
            try:
                answer = await cp.call(getattr(call, entry.action)(**payload), suppress=False)
            except (OCPPError, TimeoutError) as exc:
                entry.attempts += 1
                attempts = max(1, config.integer("TransactionMessageAttempts", 3))
                if entry.attempts >= attempts:
                    log.error("giving up %s after %d attempt(s): %s", entry.action, entry.attempts, exc)
                    queue.done(entry)
                    if entry.action == "StartTransaction" and entry.ref is not None:
                        self.station.charge_unconfirmed(entry.ref)
                else:
                    delay = config.integer("TransactionMessageRetryInterval", 30) * entry.attempts
                    log.warning("%s failed (%s); attempt %d in %ds", entry.action, exc,
                                entry.attempts + 1, delay)
                    await asyncio.sleep(delay)
                continue
            if entry.action == "StartTransaction" and entry.ref is not None:
                queue.map_transaction(entry.ref, answer.transaction_id)
                info = id_tag_info(answer.id_tag_info) or IdTagInfo("Invalid")
                self.station.transaction_confirmed(entry.ref, answer.transaction_id, info)
            elif entry.action == "StopTransaction" and payload.get("id_tag"):
                info = id_tag_info(answer.id_tag_info)
                if info is not None:
                    self.station.remember_tag(payload["id_tag"], info)
            queue.done(entry)
