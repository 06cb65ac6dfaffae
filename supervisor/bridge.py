"""The supervisor's MQTT connection, delivering parsed events to the GUI thread in batches.

paho calls our handlers on its network thread. They only parse the message (pure Python,
`fleet_model.parse_message`) and append the event to a queue; the first event of a burst
emits a queued signal that arms a short timer on the GUI thread, which then hands the whole
batch over at once. 1,000 retained statuses arriving together thus cost a few model updates
instead of thousands of event-loop wake-ups, and no widget is ever touched from paho's thread.

paho's thread must never emit on a bridge that is being destroyed (a use-after-free that once
crashed the supervisor on Ctrl+C with `bool_dealloc`): a handler emits only under the lock and
only for the current connection, and closing takes the same lock, so after close() returns no
handler reaches Qt; close(wait=True) also joins paho's thread before the window goes.
"""

from __future__ import annotations

import itertools
import os
import socket
import sys
import threading
import time
from collections import deque

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from cp_simu.broker_access import BrokerAccess
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics
from supervisor.fleet_model import Event, SessionStart, parse_message

BATCH_INTERVAL_MS = 50  # at most 20 batches a second
# Events handed over per turn of the event loop, adapted so handling one batch takes about
# BATCH_BUDGET_S: a retained flood is swallowed in a few big bites without freezing the window.
BATCH_BUDGET_S = 0.02
MIN_BATCH, MAX_BATCH = 100, 5000
GIL_SWITCH_INTERVAL_S = 0.001


class ConnectionState:
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"


class MqttBridge(QObject):
    events = Signal(list)  # list[Event], on the GUI thread
    state_changed = Signal(str)  # a ConnectionState value
    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        # Every Qt -> Python call (each data() of a paint or a sort) re-takes the GIL; behind
        # paho's busy thread the default 5 ms switch interval turns a retained flood into
        # 100 ms freezes. 1 ms keeps the GUI thread's waits short.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL_S))
        self.topics = Topics()
        self.state = ConnectionState.DISCONNECTED
        self._client: MqttClient | None = None
        self._generation = itertools.count(1)
        self._current = 0
        self._queue: deque[tuple[int, Event]] = deque()
        self._lock = threading.Lock()
        self._woken = False
        self._batch_size = MIN_BATCH
        self._extra_filters: dict[str, int] = {}  # ocpp_config / ocpp_log filters -> users
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._drain)
        self._wake.connect(self._on_wake, Qt.ConnectionType.QueuedConnection)

    # -- connection ----------------------------------------------------------
    def open(self, url: str | BrokerAccess, root: str) -> None:
        """Connect in the background (never blocks); raises ValueError for a bad URL or
        unusable TLS files."""
        self.close()
        self.topics = Topics(root)
        generation = next(self._generation)
        client = MqttClient(url, f"supervisor-{socket.gethostname()[:20]}-{os.getpid()}-{generation}")
        self._current = generation
        client.on_connected = lambda: self._on_connection(generation, True)
        client.on_disconnected = lambda: self._on_connection(generation, False)
        t = self.topics
        for topic_filter in (*t.all_launchers, t.all_cp_statuses, t.all_connector_statuses, t.all_cp_errors,
                             t.scenario_status, *self._extra_filters):
            client.subscribe(topic_filter, self._handler(generation))
        self._client = client
        self._set_state(ConnectionState.CONNECTING)
        client.start()

    def close(self, wait: bool = False) -> None:
        """Forget the connection now; paho's thread is joined in the background, or before
        returning with `wait` (when the window closes: no Python thread may outlive it)."""
        client, self._client = self._client, None
        with self._lock:
            self._current = 0
            self._queue.clear()
            self._woken = False
        if client is not None:
            if wait:
                client.stop()
            else:
                threading.Thread(target=client.stop, name="mqtt-close", daemon=True).start()
        self._set_state(ConnectionState.DISCONNECTED)

    @property
    def connected(self) -> bool:
        return self.state == ConnectionState.CONNECTED

    # -- traffic -------------------------------------------------------------
    def publish(self, topic: str, payload: str, retain: bool = False) -> bool:
        if self._client is None or not self.connected:
            return False
        self._client.publish(topic, payload, retain=retain)
        return True

    def watch(self, topic_filter: str) -> None:
        """An extra subscription (a CP's ocpp_config or ocpp_log) while some view needs it."""
        self._extra_filters[topic_filter] = self._extra_filters.get(topic_filter, 0) + 1
        if self._extra_filters[topic_filter] == 1 and self._client is not None:
            self._client.subscribe(topic_filter, self._handler(self._current))

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._extra_filters)

    def unwatch(self, topic_filter: str) -> None:
        users = self._extra_filters.get(topic_filter, 0) - 1
        if users > 0:
            self._extra_filters[topic_filter] = users
            return
        self._extra_filters.pop(topic_filter, None)
        if self._client is not None:
            self._client.unsubscribe(topic_filter)

    # -- paho thread side ----------------------------------------------------
    def _handler(self, generation: int):
        topics = self.topics

        def on_message(message: Message) -> None:
            event = parse_message(topics, message.topic, message.payload)
            if event is not None:
                self._enqueue(generation, event)

        return on_message

    def _on_connection(self, generation: int, up: bool) -> None:
        if up:  # before any retained message of this session, so ordering is kept
            self._enqueue(generation, SessionStart())
        else:
            self._enqueue(generation, _Lost())

    def _enqueue(self, generation: int, event: Event | _Lost) -> None:
        with self._lock:
            if generation != self._current:
                return  # a closed connection: the bridge may already be gone
            self._queue.append((generation, event))
            if not self._woken:
                self._woken = True
                self._wake.emit()  # queued to the GUI thread; under the lock so close() waits for it

    # -- GUI thread side -----------------------------------------------------
    def _on_wake(self) -> None:
        if not self._timer.isActive():
            self._timer.start(BATCH_INTERVAL_MS)

    def _drain(self) -> None:
        with self._lock:
            count = min(len(self._queue), self._batch_size)
            items = [self._queue.popleft() for _ in range(count)]
            more = bool(self._queue)
            self._woken = more
        batch: list[Event] = []
        for generation, event in items:
            if generation != self._current:
                continue  # from a connection the user already closed
            if isinstance(event, SessionStart):
                self._set_state(ConnectionState.CONNECTED)
            elif isinstance(event, _Lost):
                self._set_state(ConnectionState.RECONNECTING)
                continue
            batch.append(event)
        if batch:
            started = time.perf_counter()
            self.events.emit(batch)
            self._adapt(len(batch), time.perf_counter() - started)
        if more:
            self._timer.start(0)

    def _adapt(self, handled: int, seconds: float) -> None:
        if seconds > BATCH_BUDGET_S:
            self._batch_size = max(MIN_BATCH, self._batch_size // 2)
        elif seconds < BATCH_BUDGET_S / 4 and handled >= self._batch_size:
            self._batch_size = min(MAX_BATCH, self._batch_size * 2)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)


class _Lost:
    """Queue marker: the connection dropped (paho reconnects on its own)."""
