"""The one MQTT client every component uses, on paho-mqtt 2.x.

It hides paho's callback details behind a small API: a will, retained "state" topics that
are re-published after every (re)connection (so a will fired during a network blip never
leaves a live component marked Dead), per-filter handlers re-subscribed on reconnect, an
`error` topic reporter, and reconnection with capped backoff (paho's own loop).

Handlers run on paho's network thread unless a `dispatch` function is given (for example
`loop.call_soon_threadsafe` for asyncio or a Qt signal emitter), which then runs them.

Given an asyncio `loop`, the client runs without a thread of its own: that loop drives its
socket (`cp_simu.mqtt_async`) and its handlers; everything else is the same. Use it from that
loop's thread only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from cp_simu.broker_access import BrokerAccess
from cp_simu.failures import connection_failure
from cp_simu.models import ErrorReport
from cp_simu.mqtt_async import AsyncioNetwork
from cp_simu.topics import ParsedTopic, Topics
from cp_simu.urls import BrokerUrl

log = logging.getLogger(__name__)

Payload = str | bytes | dict[str, Any] | list[Any]


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", "replace")


def parse_json_message(topics: Topics, msg: Message) -> tuple[ParsedTopic, Any] | None:
    """What a message of the contract's tree is, with its JSON payload (None for an empty one:
    a cleared retained topic). None, and the message dropped, for a topic outside the tree or
    a payload that is not JSON: a reader of others' topics cannot answer them, the publisher's
    own component reports its bad input."""
    parsed = topics.parse(msg.topic)
    if parsed is None:
        return None
    try:
        return parsed, json.loads(msg.payload) if msg.payload else None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json can decode
        log.debug("dropping a message on %s that is not JSON", msg.topic)
        return None


Handler = Callable[[Message], None]
Dispatch = Callable[[Callable[[], None]], None]


def _encode(payload: Payload) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload, separators=(",", ":")).encode()


def _run_now(fn: Callable[[], None]) -> None:
    fn()


def _drop_unacknowledged(client: paho.Client, state: dict[str, bytes]) -> None:
    """Forget the retained publishes of `state`'s topics that the broker never acknowledged.

    paho re-sends them after `on_connect` returns, so after the current values re-published
    there: the broker would keep a stale status (a connection lost while a status change was in
    flight; two copies of a charge point taking turns on one client id). paho 2 has no public
    call for this; its queue is read under its own lock, and waiters of a dropped publish are
    released (the current value goes out instead)."""
    with client._out_message_mutex:
        stale = [mid for mid, m in client._out_messages.items() if m.retain and m.topic in state]
        for mid in stale:
            client._out_messages.pop(mid).info._set_as_published()


class MqttClient:
    """A connection to the broker owned by one component (launcher, CP, supervisor, test)."""

    def __init__(self, url: str | BrokerUrl | BrokerAccess, client_id: str, *, keepalive: int = 15,
                 dispatch: Dispatch | None = None, reconnect_min: float = 0.5, reconnect_max: float = 10.0,
                 loop: asyncio.AbstractEventLoop | None = None, quiet: bool = False) -> None:
        """`url`: a URL (credentials from the URL only) or a resolved BrokerAccess (credentials
        and TLS files). `loop`: run on that asyncio loop instead of a thread (handlers then run
        as its callbacks). `quiet`: failed connections logged at debug level only (a one-shot
        look whose caller says what a failure means). Raises ValueError for a bad URL or
        unusable TLS files."""
        self.access = BrokerAccess.of(url)
        self.url = self.access.url
        self.client_id = client_id
        self.keepalive = keepalive
        self._dispatch = dispatch or (loop.call_soon if loop else _run_now)
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=paho.MQTTv311, clean_session=True)
        self._delay_min, self._delay_max = int(max(1, reconnect_min)), int(max(1, reconnect_max))
        self._client.reconnect_delay_set(self._delay_min, self._delay_max)
        self._waits = 0  # reconnection waits paho did since the last accepted connection
        self._first_attempt = True  # paho waits twice after a failed first attempt
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(100)
        if self.url.username:
            self._client.username_pw_set(self.url.username, self.url.password)
        context = self.access.tls_context()
        if context is not None:
            self._client.tls_set_context(context)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_message = self._on_stray_message
        self._subscriptions: dict[str, int] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._state: dict[str, bytes] = {}  # retained topics re-published on every connect
        self._online = False  # under _lock: whether publish_state sends now or on connection
        self._lock = threading.Lock()
        self.connected = threading.Event()
        self.attempted = threading.Event()  # a connection attempt ended, accepted or not
        self._failure_level = logging.DEBUG if quiet else logging.WARNING
        self.refusal = ""  # why the broker refused the last connection (e.g. "Not authorized")
        self.on_connected: Callable[[], None] | None = None
        self.on_disconnected: Callable[[], None] | None = None
        self._network = None if loop is None else AsyncioNetwork(
            self._client, loop, host=self.url.host, port=self.url.port, keepalive=keepalive,
            reconnect_min=reconnect_min, reconnect_max=reconnect_max, describe=lambda: str(self.url))

    # -- lifecycle --------------------------------------------------------
    def set_will(self, topic: str, payload: Payload, retain: bool = True) -> None:
        """Takes effect at the next (re)connection, as MQTT wills do."""
        self._client.will_set(topic, _encode(payload), qos=1, retain=retain)

    def start(self) -> None:
        """Connect in the background; reconnects on its own until stop()."""
        if self._network is not None:
            self._network.start()
            return
        self._client.connect_async(self.url.host, self.url.port, keepalive=self.keepalive)
        self._client.loop_start()

    def connect(self, timeout: float = 10.0) -> MqttClient:
        """start() and wait for the first connection (raises TimeoutError)."""
        self.start()
        if not self.connected.wait(timeout):
            self.stop()
            why = f" (the broker refused: {self.refusal})" if self.refusal else ""
            raise TimeoutError(f"no MQTT connection to {self.url} within {timeout:g}s{why}")
        return self

    def stop(self, final: dict[str, Payload] | None = None, timeout: float = 3.0) -> None:
        """Publish `final` retained messages (e.g. a clean `Dead`), then disconnect.

        On an asyncio loop this cannot wait: the finals and the DISCONNECT leave in order
        (the broker stores the finals before it sees the DISCONNECT); `wait_closed()` waits
        until they are written."""
        if final and self.connected.is_set():
            infos = [self.publish(t, p, retain=True) for t, p in final.items()]
            for info in infos if self._network is None else ():
                info.wait_for_publish(timeout)
        self.connected.clear()  # first: a disconnection we asked for is no "connection lost"
        if self._network is not None:
            self._network.stop()
        self._client.disconnect()
        if self._network is not None:
            self._network.flush()
        else:
            # paho's thread may end (and clear its handle) between loop_stop's check and its join
            with contextlib.suppress(AttributeError):
                self._client.loop_stop()

    async def wait_closed(self, timeout: float = 3.0) -> None:
        """On an asyncio loop: until stop()'s last bytes are written (at most `timeout` s)."""
        if self._network is not None:
            await self._network.wait_closed(timeout)

    def abort(self) -> None:
        """On an asyncio loop: drop the connection with no DISCONNECT (the broker then publishes
        the will) and never reconnect, as a killed process would."""
        if self._network is None:
            raise RuntimeError("abort() is for a client on an asyncio loop")
        self.connected.clear()
        with self._lock:
            self._online = False
        self._network.abort()

    def __enter__(self) -> MqttClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- publishing -------------------------------------------------------
    def publish(self, topic: str, payload: Payload, *, retain: bool = False, qos: int = 1
                ) -> paho.MQTTMessageInfo:
        info = self._client.publish(topic, _encode(payload), qos=qos, retain=retain)
        self._flush()
        return info

    def publish_state(self, topic: str, payload: Payload) -> paho.MQTTMessageInfo | None:
        """Retained publish that is remembered and re-sent after every reconnection.

        While offline only the latest value is kept (None is returned): queued in paho, stale
        values would be sent after the fresh ones re-published on connection, and a broker
        may then keep a stale one (amqtt did, for a few percent of a booting fleet).
        """
        data = _encode(payload)
        with self._lock:
            self._state[topic] = data
            online = self._online
        return self.publish(topic, data, retain=True) if online else None

    def forget_state(self, topic: str) -> None:
        with self._lock:
            self._state.pop(topic, None)

    def report_error(self, error_topic: str, topic: str, error: str, raw: bytes | str) -> None:
        """Log a rejected input and tell the sender on the component's `error` topic."""
        log.warning("rejected message on %s: %s", topic, error)
        self.publish(error_topic, ErrorReport.about(topic, error, raw).to_json())

    # -- subscribing ------------------------------------------------------
    def subscribe(self, topic_filter: str, handler: Handler, qos: int = 1) -> None:
        """Handler for one filter only: a message matching no subscribed filter is ignored.
        Several handlers of one filter each get its messages (paho keeps one callback per
        filter: a second one would silently replace the first)."""
        def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            message = Message(msg.topic, msg.payload, bool(msg.retain))
            with self._lock:
                handlers = list(self._handlers.get(topic_filter, ()))
            for each in handlers:
                self._dispatch(lambda each=each: self._safe_call(each, message))

        with self._lock:
            self._handlers.setdefault(topic_filter, []).append(handler)
            first = topic_filter not in self._subscriptions
            self._subscriptions[topic_filter] = qos
        if first:
            self._client.message_callback_add(topic_filter, on_message)
        if self.connected.is_set():
            self._client.subscribe(topic_filter, qos)
            self._flush()

    def unsubscribe(self, topic_filter: str) -> None:
        """Every handler of the filter goes."""
        self._client.message_callback_remove(topic_filter)
        with self._lock:
            self._subscriptions.pop(topic_filter, None)
            self._handlers.pop(topic_filter, None)
        if self.connected.is_set():
            self._client.unsubscribe(topic_filter)
            self._flush()

    def _flush(self) -> None:
        if self._network is not None:
            self._network.flush()

    @staticmethod
    def _safe_call(handler: Handler, message: Message) -> None:
        try:
            handler(message)
        except Exception:  # a bad message must never kill the network thread
            log.exception("handler for %s failed", message.topic)

    # -- paho callbacks ---------------------------------------------------
    def _on_connect(self, client: paho.Client, _u: object, _flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refusal = str(reason)
            log.log(self._failure_level, "MQTT connection to %s refused: %s", self.url, reason)
            self.attempted.set()
            return
        self.refusal = ""
        log.info("connected to MQTT broker %s", self.url)
        self._waits, self._first_attempt = 0, False
        if self._network is not None:
            self._network.connected()
        with self._lock:
            subscriptions = list(self._subscriptions.items())
            if subscriptions:
                client.subscribe(subscriptions)
            _drop_unacknowledged(client, self._state)
            for topic, data in self._state.items():
                client.publish(topic, data, qos=1, retain=True)
            self._online = True
        self.connected.set()
        self.attempted.set()
        if self.on_connected:
            self._dispatch(self.on_connected)

    def _on_disconnect(self, _c: paho.Client, _u: object, _f: Any, reason: Any, _p: Any) -> None:
        was_connected = self.connected.is_set()
        self._waits += 1  # paho waits before its next attempt
        with self._lock:
            self._online = False
        self.connected.clear()
        if was_connected:
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.url, reason)
            if self.on_disconnected:
                self._dispatch(self.on_disconnected)

    def _on_connect_fail(self, _c: paho.Client, _u: object) -> None:
        """A (re)connection attempt failed before MQTT: say why and when the next one comes.

        paho calls this inside its `except OSError` without passing the error. Its waits
        double from the minimum up to the maximum (reset once connected); after a failed
        first attempt it waits twice before the next one."""
        exc = sys.exc_info()[1]
        waits = 2 if self._first_attempt else 1
        self._first_attempt = False
        delay = sum(min(self._delay_min * 2 ** (self._waits + i), self._delay_max) for i in range(waits))
        self._waits += waits
        why = connection_failure(exc) if exc else "connection failed"
        log.log(self._failure_level, "cannot reach broker %s (%s); retrying in %ds", self.url, why, delay)
        self.attempted.set()

    def _on_stray_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        log.debug("ignoring message on unsubscribed topic %s", msg.topic)
