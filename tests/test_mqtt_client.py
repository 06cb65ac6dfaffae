"""The shared MQTT client: state re-published after reconnection, per-filter dispatch, error topic."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from cp_simu.mqtt import Message, MqttClient
from tests.conftest import start_amqtt
from tests.netcut import CuttableRelay
from tests.procs import managed, ocpp_simu, port_open, wait_until, wait_until_async


def test_state_is_republished_after_broker_restart(tmp_path: Path, recorder_factory):
    """A will fired during a blip must not leave a live component marked Dead."""
    brokers = start_amqtt(tmp_path)
    broker = next(brokers)
    client = MqttClient(broker.url, "component", keepalive=2, reconnect_max=1)
    client.set_will("cp_simu/launcher/status", "Dead")
    reconnected = threading.Event()
    client.connect()
    client.on_connected = reconnected.set
    try:
        client.publish_state("cp_simu/launcher/status", "Alive").wait_for_publish(5)
        broker.process.stop()  # the broker goes away; nothing retained survives it
        wait_until(lambda: not client.connected.is_set(), 10, what="disconnect noticed")
        args = ocpp_simu("broker", "--port", str(broker.port))
        with managed(args, log=tmp_path / "broker2.log"):
            wait_until(lambda: port_open(broker.port), 10, what="broker restarted")
            assert reconnected.wait(15), "client did not reconnect"
            watcher = recorder_factory(broker.url, "cp_simu/launcher/status", "watcher")
            wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Alive", 10,
                       what="state re-published to the new broker")
    finally:
        client.stop()
        brokers.close()


def test_messages_reach_only_their_filter_and_bad_handlers_do_not_kill(broker, recorder_factory):
    got: list[Message] = []
    client = MqttClient(broker.url, "dispatch-test")

    def boom(_msg: Message) -> None:
        raise RuntimeError("handler bug")

    client.subscribe("cp_simu/cps/A/cmd", boom)
    client.subscribe("cp_simu/cps/A/connectors/+/car", got.append)
    client.connect()
    try:
        pub = recorder_factory(broker.url, "cp_simu/none", "pub")
        pub.publish("cp_simu/cps/A/cmd", "{}")
        pub.publish("cp_simu/cps/A/connectors/1/car", '{"cable": 32}')
        pub.publish("cp_simu/cps/B/connectors/1/car", '{"cable": 16}')
        wait_until(lambda: got, 5, what="car message")
        pub.publish("cp_simu/cps/A/connectors/2/car", '{"cable": 20}')
        wait_until(lambda: len(got) == 2, 5, what="second car message after a failing handler")
        assert [m.topic for m in got] == ["cp_simu/cps/A/connectors/1/car", "cp_simu/cps/A/connectors/2/car"]
    finally:
        client.stop()


def test_every_handler_of_one_filter_gets_its_messages(broker, recorder_factory):
    """Two parts of one program on one connection (up's fleet view and the remote starts of
    its automatic sessions, both on every CP status): neither silences the other, a failing
    one included; unsubscribe ends them all."""
    first: list[Message] = []
    second: list[Message] = []
    client = MqttClient(broker.url, "two-handlers")
    client.subscribe("cp_simu/cps/+/status", first.append)
    client.connect()
    try:
        client.subscribe("cp_simu/cps/+/status", lambda _m: 1 / 0)
        client.subscribe("cp_simu/cps/+/status", second.append)
        pub = recorder_factory(broker.url, "cp_simu/none", "pub")
        pub.publish("cp_simu/cps/A/status", '{"status": "Accepted"}')
        wait_until(lambda: first and second, 5, what="the status at both handlers")
        assert [m.topic for m in first] == [m.topic for m in second] == ["cp_simu/cps/A/status"]
        client.unsubscribe("cp_simu/cps/+/status")
        commands: list[Message] = []
        client.subscribe("cp_simu/cps/B/cmd", commands.append)  # the broker handles it after the unsubscribe
        wait_until(lambda: pub.publish("cp_simu/cps/B/cmd", "{}") or commands, 5, what="the subscription")
        before = len(first) + len(second)
        pub.publish("cp_simu/cps/B/status", '{"status": "Accepted"}')
        count = len(commands)
        pub.publish("cp_simu/cps/B/cmd", "{}")  # sent after the status: it comes after it, if at all
        wait_until(lambda: len(commands) > count, 5, what="the last cmd")
        assert len(first) + len(second) == before == 2
    finally:
        client.stop()


def test_report_error_publishes_the_contract_payload(broker, recorder_factory):
    watcher = recorder_factory(broker.url, "cp_simu/launcher/error", "watcher")
    client = MqttClient(broker.url, "reporter").connect()
    try:
        client.report_error("cp_simu/launcher/error", "cp_simu/launcher/cmd", "type: missing", b"{}" * 150)
        data = watcher.wait_json("cp_simu/launcher/error")
        assert data == {"topic": "cp_simu/launcher/cmd", "error": "type: missing", "payload": "{}" * 100}
        assert not watcher.on_topic("cp_simu/launcher/error")[0].retain
    finally:
        client.stop()


def test_final_messages_are_published_before_disconnect(broker, recorder_factory):
    client = MqttClient(broker.url, "closer").connect()
    client.publish_state("cp_simu/cps/Z/status", json.dumps({"status": "Accepted"}))
    client.stop(final={"cp_simu/cps/Z/status": {"status": "Dead"}})
    late = recorder_factory(broker.url, "cp_simu/cps/Z/status", "late")
    assert late.wait_json("cp_simu/cps/Z/status") == {"status": "Dead"}


@pytest.mark.parametrize("on_loop", [False, True], ids=["thread", "asyncio"])
def test_a_status_lost_in_flight_never_comes_back_over_the_current_one(any_broker, recorder_factory, on_loop):
    """The connection drops while a status change is on its way (sent, never acknowledged), and
    the status changes again before it is back. The broker must end with the current status:
    paho re-sends what was not acknowledged after the state re-published on connection, so the
    stale status would arrive last and stay retained."""
    relay = CuttableRelay(any_broker.port)
    topic, marker = "cp_simu/cps/R/status", "cp_simu/cps/R/error"
    watcher = recorder_factory(any_broker.url, "cp_simu/cps/R/#", "watcher")

    async def scenario() -> None:
        client = MqttClient(f"mqtt://127.0.0.1:{relay.port}", "relayed", keepalive=5, reconnect_min=0.2,
                            reconnect_max=1, loop=asyncio.get_running_loop() if on_loop else None)
        client.start()
        try:
            await wait_until_async(client.connected.is_set, 10, "first connection")
            client.publish_state(topic, json.dumps({"status": "Accepted", "max_setpoint": 31.5}))
            await wait_until_async(lambda: watcher.last(topic) is not None, 10, "the first status")
            relay.swallow = True
            client.publish_state(topic, json.dumps({"status": "Rejected", "max_setpoint": 16.0}))
            await asyncio.sleep(0.3)  # written to the socket, lost on the way
            relay.cut()
            await wait_until_async(lambda: not client.connected.is_set(), 10, "the drop noticed")
            client.publish_state(topic, json.dumps({"status": "Accepted", "max_setpoint": 6.5}))
            relay.swallow = False
            await wait_until_async(client.connected.is_set, 15, "the connection back")
            client.publish(marker, "after the reconnection")  # the same connection: after any re-send
            await wait_until_async(lambda: watcher.last(marker) is not None, 10, "the marker")
        finally:
            client.stop()
            if on_loop:
                await client.wait_closed(3)

    try:
        asyncio.run(scenario())
    finally:
        relay.close()
    statuses = [json.loads(m.payload) for m in watcher.on_topic(topic)]
    assert {"status": "Rejected", "max_setpoint": 16.0} not in statuses, statuses
    late = recorder_factory(any_broker.url, topic, "late")
    assert late.wait_json(topic) == {"status": "Accepted", "max_setpoint": 6.5}
