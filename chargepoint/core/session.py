"""What every OCPP version's adapter does the same way: connect with backoff, register with
a BootNotification until Accepted, heartbeat, and deliver the durable offline queue strictly
in order (one sender per connection). A version subclass says which messages these are
(`calls`, its `ocpp.ChargePoint` class) and what happens around them (the hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from types import ModuleType
from typing import Any

import ocpp.messages
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError
from websockets.exceptions import ConnectionClosed

from chargepoint.core.call_timing import TimedCalls
from chargepoint.core.connection import Backoff, OcppConnection, open_connection
from chargepoint.core.offline_queue import QueuedMessage
from chargepoint.core.transport_security import TransportSecurity
from chargepoint.model.connector import StopReason
from chargepoint.protocol import Controller
from cp_simu import failures, redact
from cp_simu.urls import csms_endpoint

log = logging.getLogger(__name__)

# Validate in the calling thread: same checks, no thread pool per process.
ocpp.messages.ASYNC_VALIDATION = False

BOOT_RETRY_MIN = 1.0  # s, shortest wait between two BootNotifications
BOOT_RETRY_ON_ERROR = 10.0  # s, after a BootNotification got no usable answer


class SessionAdapter:
    """The connection lifecycle of a `ProtocolAdapter`; subclasses fill in the messages."""

    version: str
    subprotocol: str
    calls: ModuleType  # the version's `ocpp.vXX.call` module

    def __init__(self, station: Controller) -> None:
        self.station = station
        self._cp: ChargePoint | None = None
        self._conn: OcppConnection | None = None
        self._registered = False  # BootNotification accepted since the last (re)boot
        self._boot_accepted = asyncio.Event()  # any BootNotification accepted, a triggered one too
        self._connected_registered = False
        self._wake = asyncio.Event()  # the offline queue has something to send
        self._queue_moved = asyncio.Event()  # a queued message left the queue
        self._behind_queue: asyncio.Task[Any] | None = None  # the last send waiting behind the queue
        self._heartbeat_changed = asyncio.Event()
        self._closing = False
        self._rebooting = False
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self.connect = open_connection  # opens the WebSocket (the fork server's warm-up: in memory)
        station.config.listeners.append(self._config_changed)
        self._events_waiting = asyncio.Event()  # a security event is to be sent
        station.security.event_listeners.append(self._events_waiting.set)

    # -- what a version supplies ----------------------------------------------------------
    def _make_cp(self, conn: OcppConnection) -> ChargePoint:
        raise NotImplementedError

    def _target(self) -> tuple[str, TransportSecurity]:
        """Where the next connection goes and how it is secured."""
        return (csms_endpoint(self.station.definition.central_system, self.station.definition.id),
                self.station.security.transport())

    def _connection_failed(self) -> None:
        """A connection attempt to `_target()` failed (a version may then try another)."""

    def _connected(self, transport: TransportSecurity) -> None:
        """A connection to `_target()` opened."""

    def _boot_request(self) -> Any:
        raise NotImplementedError

    def _accepted_boot(self, interval: int) -> None:
        """The interval of an accepted BootNotification becomes the HeartbeatInterval."""

    def _accepted(self, interval: int) -> None:
        """A BootNotification (a triggered one too) was accepted: registered from now on."""
        self._accepted_boot(interval)
        self._registered = True
        self._boot_accepted.set()

    async def _announce(self, cp: ChargePoint) -> None:
        """Right after registration: the statuses the CSMS must know."""

    def _prepare(self, entry: QueuedMessage) -> dict[str, Any] | None:
        """The payload to send for a queued message (None: drop it)."""
        return dict(entry.payload)

    def _delivered(self, entry: QueuedMessage, payload: dict[str, Any], answer: Any) -> None:
        """The CSMS answered a queued message."""

    def _given_up(self, entry: QueuedMessage) -> None:
        """A queued message failed every attempt and was dropped."""

    @property
    def online(self) -> bool:
        return self._cp is not None and self._connected_registered

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        settings = self.station.connection
        security = self.station.security
        backoff = Backoff(settings.reconnect_min, settings.reconnect_max)
        network = self.station.network
        while not self._closing:
            url, transport = self._target()
            if network.down_for() > 0:
                self.station.set_registration("Disconnected", failures.INJECTED_DROP)
                await network.wait_up()
                continue
            try:
                if network.refusing():
                    raise ConnectionRefusedError(failures.INJECTED_REFUSAL)
                conn = await self.connect(
                    url, self.subprotocol, self.station.message_log, security=transport,
                    ping_interval=self.station.config.integer("WebSocketPingInterval", 30))
            except Exception as exc:  # refused, DNS, TLS, handshake, timeout: all mean "retry later"
                delay = backoff.next()
                why = failures.connection_failure(exc)
                security.connection_failed(exc)
                self._connection_failed()
                log.info("cannot connect to %s (security profile %d): %s; retrying in %.1fs",
                         redact.url(transport.target(url)), transport.profile, why, delay)
                self.station.set_registration("Disconnected", why)
                await network.pause(delay)
                continue
            if network.down_for() > 0:  # dropped while the connection was being opened
                conn.abort()
                continue
            conn.latency = network.latency
            log.info("connected to %s (security profile %d)", redact.url(transport.target(url)),
                     transport.profile)
            security.connected()
            self._connected(transport)
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
                await network.pause(backoff.next())

    async def close(self) -> None:
        self._closing = True
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._conn.close(), 3)

    def drop(self) -> None:
        """Power cut: the WebSocket goes without a close frame and is not opened again."""
        self._closing = True
        if self._conn is not None:
            self._conn.abort()

    def reboot(self, reason: StopReason) -> None:
        """Reset: drop the connection; the next one starts with a BootNotification."""
        self._registered = False
        self._boot_accepted.clear()
        self.reconnect()

    def cut(self) -> None:
        """An injected network drop: the connection goes without a close frame; the run loop
        reconnects once the link is back."""
        if self._conn is not None:
            self._conn.abort()

    def reconnect(self) -> None:
        """Drop the connection and open a new one at once (new security settings); still registered."""
        self._rebooting = True
        if self._conn is not None:
            self._spawn(self._conn.close())

    async def _session(self, conn: OcppConnection) -> None:
        cp = self._make_cp(conn)
        if isinstance(cp, TimedCalls):
            cp.on_call = self.station.record_call
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

    async def _registered_flow(self, cp: ChargePoint) -> None:
        if not self._registered:
            await self._boot(cp)
        self._connected_registered = True
        self.station.set_registration("Accepted")
        await self._announce(cp)
        self._wake.set()
        await asyncio.gather(self._heartbeat(cp), self._deliver(cp), self._security_events(cp))

    async def _boot(self, cp: ChargePoint) -> None:
        """BootNotification until Accepted, waiting the interval the CSMS asks for, unless
        the CSMS accepts one sooner (a BootNotification it triggered while Pending)."""
        while not self._registered:
            try:
                answer = await cp.call(self._boot_request(), suppress=False)
            except (OCPPError, TimeoutError) as exc:
                log.warning("BootNotification failed (%s); retrying", exc)
                self.station.set_registration("Disconnected", failures.boot_failed(exc, BOOT_RETRY_ON_ERROR))
                await self._until_accepted(BOOT_RETRY_ON_ERROR)
                continue
            if answer.status == "Accepted":
                self._accepted(answer.interval)
            else:
                interval = max(BOOT_RETRY_MIN, answer.interval)
                self.station.set_registration(answer.status, failures.boot_refused(answer.status, interval))
                await self._until_accepted(interval)

    async def _until_accepted(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._boot_accepted.wait(), delay)

    async def _heartbeat(self, cp: ChargePoint) -> None:
        while True:
            interval = self.station.config.integer("HeartbeatInterval", 300)
            self._heartbeat_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heartbeat_changed.wait(), interval if interval > 0 else None)
                continue  # a new interval: start counting again
            await self._send(cp, self.calls.Heartbeat())

    async def _security_events(self, cp: ChargePoint) -> None:
        """SecurityEventNotification for every event, in order, once registered; an event
        leaves the queue only once the CSMS answered it (a dropped connection keeps it)."""
        security = self.station.security
        while True:
            self._events_waiting.clear()
            while (event := security.next_event()) is not None:
                try:
                    await cp.call(self.calls.SecurityEventNotification(
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

    # -- sending --------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task that ends with the connection (a call in flight is then abandoned)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)
        return task

    @staticmethod
    async def _send(cp: ChargePoint, request: Any) -> Any | None:
        """A call whose failure only matters to the log: its answer, or None."""
        try:
            return await cp.call(request, suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:
            log.info("%s failed: %s", type(request).__name__, exc)
            return None

    def _send_now(self, request: Any) -> None:
        """Send in the background if online; dropped otherwise (not transaction-related)."""
        if self.online and self._cp is not None:
            self._spawn(self._send(self._cp, request))

    async def _report(self, request: Any) -> None:
        if self.online and self._cp is not None:
            await self._send(self._cp, request)
        else:
            log.info("offline: %s not sent", request)

    async def _ask(self, request: Any, what: str) -> Any | None:
        """A call whose answer decides something now: None when offline, failed or the
        connection dropped meanwhile (the caller then decides offline, at once)."""
        cp = self._cp
        if cp is None or not self.online:
            return None
        task = self._spawn(cp.call(request, suppress=False))
        try:
            return await task
        except (OCPPError, TimeoutError, ConnectionClosed) as exc:
            log.warning("%s failed: %s", what, exc)
            return None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                return None
            raise

    def _spawn_behind_queue(self, send: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """`send()` once every transaction message queued before now has left the queue, and
        after what this was called for before: a status change must not reach the CSMS before
        the StopTransaction (or TransactionEvent) of the stop that caused it, which may wait
        behind another connector's, nor before an earlier status."""
        queue, mark, before = self.station.queue, self.station.queue.last_seq, self._behind_queue

        async def behind() -> None:
            while not queue.left_through(mark):
                self._queue_moved.clear()
                await self._queue_moved.wait()
            if before is not None:
                await asyncio.wait([before])
            await send()

        self._behind_queue = self._spawn(behind())

    def _enqueue(self, action: str, payload: dict[str, Any], ref: int | None) -> None:
        self.station.queue.append(action, payload, ref)
        self._wake.set()

    def _left(self, entry: QueuedMessage) -> None:
        self.station.queue.done(entry)
        self._queue_moved.set()

    async def _deliver(self, cp: ChargePoint) -> None:
        """Send the queued transaction messages in order, honouring the message attempts and
        retry interval (TransactionMessageAttempts / TransactionMessageRetryInterval) on failures."""
        queue = self.station.queue
        config = self.station.config
        while True:
            entry = queue.peek()
            if entry is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            payload = self._prepare(entry)
            if payload is None:
                self._left(entry)
                continue
            try:
                answer = await cp.call(getattr(self.calls, entry.action)(**payload), suppress=False)
            except (OCPPError, TimeoutError) as exc:
                entry.attempts += 1
                attempts = max(1, config.integer("TransactionMessageAttempts", 3))
                if entry.attempts >= attempts:
                    log.error("giving up %s after %d attempt(s): %s", entry.action, entry.attempts, exc)
                    self._left(entry)
                    self._given_up(entry)
                else:
                    delay = config.integer("TransactionMessageRetryInterval", 30) * entry.attempts
                    log.warning("%s failed (%s); attempt %d in %ds", entry.action, exc,
                                entry.attempts + 1, delay)
                    await asyncio.sleep(delay)
                continue
            self._delivered(entry, payload, answer)
            self._left(entry)
