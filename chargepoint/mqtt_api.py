"""The charge point's MQTT side: inputs in, statuses out.

Inputs are validated here; a bad one is answered on the CP's `error` topic and never
reaches the station. Statuses are retained, re-published after every reconnection
(`publish_state`) and only sent when their content changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Protocol

from cp_simu import redact
from cp_simu.broker_access import BrokerAccess
from cp_simu.models import (
    RETAINED_INPUT,
    CarInput,
    ConnectorStatus,
    CpCommand,
    CpStatus,
    FaultedInput,
    IdTagInput,
    PayloadError,
    StatsReport,
    parse_connector_number,
)
from cp_simu.mqtt import Dispatch, Message, MqttClient
from cp_simu.topics import TopicKind, Topics

log = logging.getLogger(__name__)


class InputHandler(Protocol):
    def on_car(self, connector_id: int, car: CarInput) -> None: ...

    def on_id_tag(self, connector_id: int, tag: IdTagInput) -> None: ...

    def on_faulted(self, connector_id: int, faulted: FaultedInput) -> None: ...

    def on_command(self, command: CpCommand) -> None: ...


class MqttApi:
    def __init__(self, broker: str | BrokerAccess, topics: Topics, cp_id: str, nb_connectors: int,
                 handler: InputHandler, *, dead_status: CpStatus, keepalive: int = 15) -> None:
        self.topics = topics
        self.cp_id = cp_id
        self.nb_connectors = nb_connectors
        self.handler = handler
        self._broker = broker
        self._keepalive = keepalive
        self._dead = dead_status
        self._client: MqttClient | None = None
        self._closing: MqttClient | None = None  # stopped, its last bytes maybe not written yet
        self._published: dict[str, str] = {}

    def start(self, loop: asyncio.AbstractEventLoop, *, threaded: bool = True) -> None:
        """Connect in the background; handlers run on `loop`. `threaded`: paho's network thread
        does the I/O; else `loop` does (a packed process hosts many charge points)."""
        client = self.make_client(loop.call_soon_threadsafe) if threaded else self.make_client(None, loop)
        client.start()
        self._client = client

    def make_client(self, dispatch: Dispatch | None, loop: asyncio.AbstractEventLoop | None = None
                    ) -> MqttClient:
        """The client, its will and its subscriptions, not connected yet."""
        client = MqttClient(self._broker, f"cp_simu-cp-{self.cp_id}", keepalive=self._keepalive,
                            dispatch=dispatch, loop=loop)
        client.set_will(self.topics.cp_status(self.cp_id), self._dead.to_json())
        t = self.topics
        client.subscribe(t.cp_cmd(self.cp_id), self._on_message)
        for leaf in ("car", "id_tag", "faulted"):
            client.subscribe(f"{t.cp(self.cp_id)}/connectors/+/{leaf}", self._on_message)
        return client

    def attach(self, client: MqttClient | None) -> None:
        """Use `client` (made by `make_client`, connected by the caller), or none."""
        self._client = client

    def stop(self, timeout: float = 3.0) -> None:
        """Announce `Dead` (a clean close is no crash, but the CP is gone) and disconnect."""
        if self._client is not None:
            self._client.stop(final={self.topics.cp_status(self.cp_id): self._dead.to_json()},
                              timeout=timeout)
            self._closing, self._client = self._client, None

    async def wait_closed(self) -> None:
        """A client on the loop: until stop()'s `Dead` and DISCONNECT are written."""
        if self._closing is not None:
            await self._closing.wait_closed()
            self._closing = None

    def abort(self) -> None:
        """Power cut (a client on the loop only): the connection drops with no DISCONNECT, so
        the broker publishes the will; nothing is sent any more."""
        if self._client is not None:
            self._client.abort()
            self._client = None

    # -- outputs --------------------------------------------------------------------------
    def publish_status(self, status: CpStatus) -> None:
        self._publish_state(self.topics.cp_status(self.cp_id), status.to_json())

    def publish_connector(self, connector_id: int, status: ConnectorStatus) -> None:
        self._publish_state(self.topics.connector_status(self.cp_id, connector_id), status.to_json())

    def publish_ocpp_config(self, values: dict[str, str]) -> None:
        """Every readable key; write-only secrets (AuthorizationKey…) are left out."""
        self._publish_state(self.topics.cp_ocpp_config(self.cp_id), redact.config_values(values))

    def publish_ocpp_log(self, record: str) -> None:
        """One OCPP frame as its ocpp.log line: QoS 0, not retained, nothing while offline, so
        it costs next to nothing when no one listens."""
        if self._client is not None and self._client.connected.is_set():
            self._client.publish(self.topics.cp_ocpp_log(self.cp_id), record, qos=0)

    def publish_auto(self, record: dict[str, object]) -> None:
        """One automatic input as applied: not retained, sent only while automatic sessions run."""
        if self._client is not None:
            self._client.publish(self.topics.cp_auto(self.cp_id), json.dumps(record, separators=(",", ":")))

    def report_error(self, topic: str, error: str, raw: bytes | str) -> None:
        """A problem with an input that did not come from MQTT (e.g. an automatic one)."""
        if self._client is not None:
            self._client.report_error(self.topics.cp_error(self.cp_id), topic, error, raw)

    def publish_stats(self, report: StatsReport) -> bool:
        """Call statistics: QoS 0, not retained; False (not sent) while MQTT is down."""
        if self._client is None or not self._client.connected.is_set():
            return False
        self._client.publish(self.topics.cp_stats(self.cp_id), report.to_json(), qos=0)
        return True

    def set_dead_status(self, status: CpStatus) -> None:
        """The `Dead` status to leave behind (e.g. after a firmware update changed the version);
        the will follows at the next connection."""
        self._dead = status
        if self._client is not None:
            self._client.set_will(self.topics.cp_status(self.cp_id), status.to_json())

    def _publish_state(self, topic: str, payload: str | dict[str, str]) -> None:
        if self._client is None:
            return
        text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        if self._published.get(topic) == text:
            return
        self._published[topic] = text
        self._client.publish_state(topic, text)

    # -- inputs ---------------------------------------------------------------------------
    def _on_message(self, message: Message) -> None:
        try:
            self._route(message)
        except PayloadError as exc:
            if self._client is not None:
                self._client.report_error(self.topics.cp_error(self.cp_id), message.topic, str(exc),
                                          message.payload)

    def _route(self, message: Message) -> None:
        parsed = self.topics.parse(message.topic)
        if parsed is None or parsed.cp_id != self.cp_id:
            return
        if message.retain:
            raise PayloadError(RETAINED_INPUT)
        if parsed.kind is TopicKind.CP_CMD:
            self.handler.on_command(CpCommand.parse(message.payload))
            return
        routes: dict[TopicKind, Callable[[int, bytes], None]] = {
            TopicKind.CONNECTOR_CAR: lambda n, raw: self.handler.on_car(n, CarInput.parse(raw)),
            TopicKind.CONNECTOR_ID_TAG: lambda n, raw: self.handler.on_id_tag(n, IdTagInput.parse(raw)),
            TopicKind.CONNECTOR_FAULTED: lambda n, raw: self.handler.on_faulted(n, FaultedInput.parse(raw)),
        }
        route = routes.get(parsed.kind)
        if route is not None:
            route(parse_connector_number(parsed, self.nb_connectors), message.payload)
