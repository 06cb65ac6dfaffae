"""Warm-up of a fork server: run a charge point's code paths once, before forking it.

The launcher's fork server (`launcher.spawner`) imports the charge point and its libraries
once and forks every charge point from it, so they share those pages. What a child still
copies is every shared page it writes to. In CPython 3.11 that includes the bytecode of
every function it runs for the first few times (adaptive specialisation rewrites it in
place after ~8 calls) and every cache a library fills lazily on first use (ocpp's schema
validators and dataclass lookups, enum and `re` caches, type attribute caches…). Calling
`preload()` in the fork server does that work once, in pages the children then share.

`preload()` first builds the `ocpp` library's schema validators of every OCPP version, the
way calls use them (`chargepoint.core.validators`: a validator built any other way breaks the
calls that carry charging limits), then runs a complete, realistic session of an OCPP 1.6 charge point, a few times:
a new instance directory created and loaded, a `Station` built on it, booted
against an in-process CSMS (BootNotification, StatusNotification, Heartbeat, GetConfiguration,
TriggerMessage, and SetChargingProfile and GetCompositeSchedule with a fractional limit, from
the CSMS: a refusal fails the warm-up), a charging session driven by MQTT inputs (id tag, car,
Authorize, StartTransaction, MeterValues, StopTransaction), a rejected input, the
coalesced status updates, state.json, ocpp.log and the log lines written, the station closed.

It talks to nothing outside the process: the CSMS is served in the same event loop over a
socket pair (so websockets' and asyncio's transport code runs too), the MQTT client is
never started (no paho thread, no network socket); no thread, no signal handler; the event
loop and the socket pair are closed and the temporary directory removed before it returns,
and the logging configuration is restored. Safe to call more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import logging.handlers
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from websockets.protocol import State

from cp_simu.logs import FORMAT
from cp_simu.mqtt import MqttClient

ITERATIONS = 12  # CPython 3.11 specialises a code object after ~8 executions
CP_ID = "WARMUP"
BROKER = "mqtt://127.0.0.1:1883"  # never connected to
CSMS = "ws://127.0.0.1:9/"  # never connected to: the session runs over InMemoryCsms
TAG = "WARMTAG1"
PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
           "chargingProfileKind": "Relative", "chargingSchedule": {
               "chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5}]}}
CAR = {"cable": 32.0, "ready": True, "consumption_l1": 16.0, "consumption_l2": 16.0, "consumption_l3": 16.0}

# What the in-memory CSMS answers (n: how many calls it received); {} for any other call.
ANSWERS: dict[str, Callable[[int], dict[str, Any]]] = {
    "BootNotification": lambda _n: {"status": "Accepted", "currentTime": _now(), "interval": 60},
    "Heartbeat": lambda _n: {"currentTime": _now()},
    "Authorize": lambda _n: {"idTagInfo": {"status": "Accepted"}},
    "StartTransaction": lambda n: {"transactionId": n, "idTagInfo": {"status": "Accepted"}},
    "StopTransaction": lambda _n: {"idTagInfo": {"status": "Accepted"}},
}

log = logging.getLogger(__name__)


def preload(iterations: int = ITERATIONS) -> None:
    """Import what a charge point uses and run its code paths `iterations` times, without
    any I/O outside a temporary directory (removed afterwards)."""
    for _ in steps(iterations):
        pass


def steps(iterations: int = ITERATIONS) -> Iterator[None]:
    """`preload()` one step at a time (the validators, then each session), each complete when
    it yields: a fork server forks between steps rather than make a start wait for all."""
    import chargepoint.cli  # the entry module and, through it, the libraries
    import chargepoint.ocpp16.adapter  # noqa: F401
    from chargepoint.core.validators import warm_validators

    warm_validators()
    yield
    for _ in range(iterations):
        with tempfile.TemporaryDirectory(prefix="ocpp-simu-preload-") as tmp, _quiet_logging(Path(tmp)):
            _one_session(Path(tmp) / "cp")
        yield


@contextlib.contextmanager
def _quiet_logging(directory: Path) -> Any:
    """Log records are built and formatted as in a charge point (chargepoint.log, INFO), but
    into the temporary directory only; the caller's configuration comes back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    libraries = {name: logging.getLogger(name).level for name in ("websockets", "ocpp", "paho")}
    handler = logging.handlers.RotatingFileHandler(directory / "chargepoint.log", maxBytes=1_000_000,
                                                   backupCount=1)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in libraries:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in libraries.items():
            logging.getLogger(name).setLevel(level)
        handler.close()


def _one_session(directory: Path) -> None:
    from chargepoint.cli import prepare_instance
    from cp_simu.process import write_marker

    options = {"cp_id": CP_ID, "central_system": CSMS, "cp_type": "AC", "connectors": 2, "phases": 3,
               "voltage": 230.0, "max_setpoint": 32.0, "max_setpoint_per_connector": 32.0, "vendor": None,
               "model": None, "serial": None, "ocpp_version": None}
    instance = prepare_instance(directory, options, BROKER)
    write_marker(directory)
    with asyncio.Runner() as runner:  # as asyncio.run() runs a charge point (no SIGINT handler here: ignored)
        runner.run(_serve(instance))


async def _serve(instance: Any) -> None:
    """Station.run() with the in-process CSMS and broker."""
    from chargepoint.station import Station

    station = Station(instance)
    csms = InMemoryCsms()
    station.adapter.connect = csms.connect  # type: ignore[attr-defined]
    broker = InProcessBroker(station.mqtt.make_client(asyncio.get_running_loop().call_soon_threadsafe))
    station.mqtt.attach(broker.client)
    task = asyncio.create_task(station.run(connect_mqtt=False))
    pump = asyncio.create_task(broker.pump())
    try:
        await _scenario(station, csms, broker)
    finally:
        station.mqtt.attach(None)  # disconnected here, without waiting for the `Dead` publication
        station.close()
        try:
            await task
        finally:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            broker.close()
            await csms.aclose()


async def _scenario(station: Any, csms: InMemoryCsms, broker: InProcessBroker) -> None:
    await _until(lambda: station.adapter.online and broker.client.connected.is_set(), "the connections")
    await csms.call("GetConfiguration", {})
    await csms.call("TriggerMessage", {"requestedMessage": "Heartbeat"})
    await csms.call("TriggerMessage", {"requestedMessage": "StatusNotification", "connectorId": 1})
    for action, payload in (("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": PROFILE}),
                            ("GetCompositeSchedule", {"connectorId": 1, "duration": 600})):
        answer = await csms.call(action, payload)
        if not isinstance(answer, dict) or answer.get("status") != "Accepted":
            raise RuntimeError(f"preload: {action} answered {answer!r}")
    await _until(lambda: csms.received.count("Heartbeat") >= 1, "the heartbeat")
    cp = station.mqtt.topics.cp(CP_ID)
    broker.publish(f"{cp}/connectors/1/id_tag", {"id": TAG})
    broker.publish(f"{cp}/connectors/1/car", CAR)
    await _until(lambda: station.connectors[1].transaction is not None
                 and station.connectors[1].transaction.transaction_id is not None, "the transaction")
    station.meter_reports.trigger(1)
    station.meter_reports.trigger(None)
    await _until(lambda: csms.received.count("MeterValues") >= 2, "the meter values")
    broker.publish(f"{cp}/connectors/1/car", {"consumption_l1": 10.0, "ready": False})
    broker.publish(f"{cp}/connectors/1/faulted", b"not json")  # answered on the error topic
    broker.publish(f"{cp}/connectors/99/car", CAR)
    broker.publish(f"{cp}/connectors/1/id_tag", {"id": TAG})  # stops the session (Local)
    await _until(lambda: "StopTransaction" in csms.received and not len(station.queue), "the stop")
    broker.publish(f"{cp}/connectors/1/car", {"cable": 0})
    broker.publish(f"{cp}/cmd", {"type": "ocpp_config"})
    await _until(lambda: broker.idle(), "the last MQTT inputs")
    await asyncio.sleep(0.01)


async def _until(predicate: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"preload: timed out waiting for {what}")
        await asyncio.sleep(0.001)


def _run_now(fn: Callable[[], None]) -> None:
    fn()


class InMemoryCsms:
    """A CSMS in the same event loop, at the other end of a socket pair: a real WebSocket
    (websockets' sans-I/O server side), which answers every call of the charge point with a
    valid OCPP 1.6 payload and sends it calls. `connect` stands in for `open_connection`."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self._answers: dict[str, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._protocol: Any = None
        self._writer: asyncio.StreamWriter | None = None
        self._server: asyncio.Task[None] | None = None

    async def connect(self, url: str, subprotocol: str, message_log: Any, **options: Any) -> Any:
        from websockets.server import ServerProtocol
        from websockets.typing import Subprotocol

        from chargepoint.core.connection import open_connection

        ours, theirs = socket.socketpair()
        try:
            reader, self._writer = await asyncio.open_connection(sock=ours)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        self._protocol = ServerProtocol(subprotocols=[Subprotocol(subprotocol)])
        self._server = asyncio.create_task(self._serve(reader))
        try:
            return await open_connection(url, subprotocol, message_log, **options, sock=theirs)
        except BaseException:
            theirs.close()
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """After the charge point closed its side: the server's side and task."""
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._server), 1)
            self._server.cancel()
            with contextlib.suppress(BaseException):
                await self._server
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        self._next_id += 1
        unique_id = f"csms-{self._next_id}"
        answer = self._answers[unique_id] = asyncio.get_running_loop().create_future()
        self._send(json.dumps([2, unique_id, action, payload]))
        return await asyncio.wait_for(answer, 5)

    def _send(self, text: str) -> None:
        if self._protocol.state is not State.OPEN:
            return  # an answer that crosses the charge point's close has no one to reach
        self._protocol.send_text(text.encode())
        self._flush()

    def _flush(self) -> None:
        writer = self._writer
        for data in self._protocol.data_to_send():
            if writer is None or writer.is_closing():
                return
            if data:
                writer.write(data)
            else:  # the closing handshake is over: the server closes the TCP connection
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader) -> None:
        from websockets.frames import Opcode
        from websockets.http11 import Request

        protocol = self._protocol
        while True:
            data = await reader.read(65536)
            if data:
                protocol.receive_data(data)
            else:
                protocol.receive_eof()
            for event in protocol.events_received():
                if isinstance(event, Request):
                    protocol.send_response(protocol.accept(event))
                elif event.opcode is Opcode.TEXT:
                    self._on_frame(event.data.decode())
            self._flush()
            if not data:
                return

    def _on_frame(self, frame: str) -> None:
        message = json.loads(frame)
        if message[0] == 2:
            _, unique_id, action, _payload = message
            self.received.append(action)
            answer = ANSWERS.get(action, lambda _n: {})(len(self.received))
            self._send(json.dumps([3, unique_id, answer]))
        elif message[1] in self._answers:
            self._answers.pop(message[1]).set_result(message[2])


class InProcessBroker:
    """An MQTT 3.1.1 broker at the other end of a socket pair, for one client: it accepts the
    connection and subscriptions, acknowledges publications and sends the client messages.
    There is no paho thread: `pump` drives paho's loop functions from the event loop."""

    def __init__(self, client: MqttClient) -> None:
        self.client = client
        self._paho = client._client
        self._ours, theirs = socket.socketpair()
        self._ours.setblocking(False)
        self._buffer = b""
        self._outbox: list[bytes] = []
        url = client.url
        self._paho.connect_async(url.host, url.port, keepalive=client.keepalive)  # no I/O
        self._paho._create_socket = lambda: theirs  # type: ignore[method-assign]
        try:
            self._paho.reconnect()  # sends CONNECT
        except BaseException:
            theirs.close()
            self._ours.close()
            raise

    def publish(self, topic: str, payload: object) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        body = len(topic).to_bytes(2, "big") + topic.encode() + raw
        self._send(0x30, body)

    def idle(self) -> bool:
        return not self._outbox and not self._buffer

    async def pump(self) -> None:
        while True:
            self._paho.loop_write()
            self._serve()
            self._paho.loop_read()
            self._paho.loop_misc()
            await asyncio.sleep(0.001)

    def close(self) -> None:
        self.client.connected.clear()
        with contextlib.suppress(Exception):
            self._paho.disconnect()
        self._paho._sock_close()
        self._ours.close()

    def _send(self, header: int, body: bytes) -> None:
        length, encoded = len(body), bytearray()
        while True:
            byte, length = length % 128, length // 128
            encoded.append(byte | (0x80 if length else 0))
            if not length:
                break
        self._outbox.append(bytes([header]) + bytes(encoded) + body)

    def _serve(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := self._ours.recv(65536):
                self._buffer += chunk
        while (packet := self._next_packet()) is not None:
            header, body = packet
            kind = header & 0xF0
            if kind == 0x10:  # CONNECT
                self._send(0x20, b"\x00\x00")
            elif kind == 0x80:  # SUBSCRIBE: every filter granted QoS 1
                self._send(0x90, body[:2] + b"\x01" * _count_filters(body[2:]))
            elif kind == 0x30 and header & 0x06:  # PUBLISH, QoS 1
                topic_length = int.from_bytes(body[:2], "big")
                self._send(0x40, body[2 + topic_length:4 + topic_length])
            elif kind == 0xC0:  # PINGREQ
                self._send(0xD0, b"")
        while self._outbox:
            try:
                self._ours.send(self._outbox[0])
            except BlockingIOError:
                return
            del self._outbox[0]

    def _next_packet(self) -> tuple[int, bytes] | None:
        data, position, length, shift = self._buffer, 1, 0, 0
        while True:
            if position >= len(data):
                return None
            byte = data[position]
            length |= (byte & 0x7F) << shift
            position, shift = position + 1, shift + 7
            if not byte & 0x80:
                break
        if len(data) < position + length:
            return None
        self._buffer = data[position + length:]
        return data[0], data[position:position + length]


def _count_filters(payload: bytes) -> int:
    """Topic filters in a SUBSCRIBE payload (each: 2-byte length, filter, QoS byte)."""
    count = position = 0
    while position + 2 <= len(payload):
        position += 2 + int.from_bytes(payload[position:position + 2], "big") + 1
        count += 1
    return count


def _now() -> str:
    from chargepoint.core.message_log import utc_iso

    return utc_iso()
