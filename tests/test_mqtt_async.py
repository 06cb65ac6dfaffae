"""The MQTT client on an asyncio loop (no thread per connection), against a real broker."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from cp_simu.mqtt import Message, MqttClient
from tests.conftest import start_amqtt
from tests.procs import managed, ocpp_simu, port_open, wait_until, wait_until_async


def test_many_clients_on_one_loop_publish_receive_and_leave_wills(any_broker, recorder_factory):
    """Twenty clients on one loop: retained states and inputs flow both ways, a clean stop leaves
    its final message, an abort (power cut) leaves its will, and no thread per client runs."""
    watcher = recorder_factory(any_broker.url, "packed/#", "watcher")
    threads_before = threading.active_count()

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        got: dict[int, list[Message]] = {i: [] for i in range(20)}
        clients = []
        for i in range(20):
            client = MqttClient(any_broker.url, f"async-{i}", keepalive=5, loop=loop)
            client.set_will(f"packed/{i}/status", "Dead")
            client.subscribe(f"packed/{i}/cmd", got[i].append)
            client.publish_state(f"packed/{i}/status", "Alive")
            client.start()
            clients.append(client)
        await wait_until_async(lambda: all(c.connected.is_set() for c in clients), 15, "20 connections")
        threads = threading.active_count()
        await wait_until_async(lambda: all(watcher.last(f"packed/{i}/status") == b"Alive" for i in range(20)),
                     10, "every retained Alive")
        for i in range(20):
            watcher.client.publish(f"packed/{i}/cmd", f'{{"n": {i}.5}}')
        await wait_until_async(lambda: all(len(got[i]) == 1 for i in range(20)), 10, "each client's own command")
        assert [got[i][0].payload for i in (0, 19)] == [b'{"n": 0.5}', b'{"n": 19.5}']
        clients[0].abort()  # power cut: the broker publishes its will
        clients[1].stop(final={"packed/1/status": "Closed"})
        await clients[1].wait_closed()
        await wait_until_async(lambda: watcher.last("packed/0/status") == b"Dead", 10, "client 0's will")
        await wait_until_async(lambda: watcher.last("packed/1/status") == b"Closed", 10, "client 1's final status")
        clients[2].publish_state("packed/2/status", "Busy")  # the others go on
        await wait_until_async(lambda: watcher.last("packed/2/status") == b"Busy", 10, "client 2 still publishing")
        for client in clients[2:]:
            client.stop()
        await asyncio.gather(*(c.wait_closed() for c in clients[2:]))
        return threads

    threads = asyncio.run(scenario())
    # the loop's connection pool has a few threads; twenty paho loops would have added twenty
    assert threads - threads_before <= 6, threads - threads_before
    time.sleep(0.5)
    assert watcher.last("packed/1/status") == b"Closed", "a clean stop must not fire the will"
    assert all(watcher.last(f"packed/{i}/status") == b"Alive" for i in range(3, 20))


def test_reconnects_and_republishes_after_broker_restart(tmp_path: Path, recorder_factory):
    """A will fired during a blip must not leave a live component marked Dead."""
    brokers = start_amqtt(tmp_path)
    broker = next(brokers)

    async def scenario() -> None:
        client = MqttClient(broker.url, "async-blip", keepalive=2, reconnect_min=0.2, reconnect_max=1,
                            loop=asyncio.get_running_loop())
        client.set_will("cp_simu/launcher/status", "Dead")
        client.publish_state("cp_simu/launcher/status", "Alive")
        reconnected = asyncio.Event()
        client.start()
        await wait_until_async(client.connected.is_set, 10, "first connection")
        client.on_connected = reconnected.set
        broker.process.stop()
        await wait_until_async(lambda: not client.connected.is_set(), 10, "disconnect noticed")
        args = ocpp_simu("broker", "--port", str(broker.port))
        with managed(args, log=tmp_path / "broker2.log"):
            await wait_until_async(lambda: port_open(broker.port), 10, "broker restarted")
            await asyncio.wait_for(reconnected.wait(), 15)
            watcher = recorder_factory(broker.url, "cp_simu/launcher/status", "watcher")
            wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Alive", 10,
                       what="state re-published to the new broker")
            client.stop()
            await client.wait_closed()

    try:
        asyncio.run(scenario())
    finally:
        brokers.close()


def test_an_idle_client_wakes_once_per_keepalive_and_stays_connected(broker):
    """An idle client on the loop sends its PINGREQ when due and is not woken in between (a
    packed process idles thousands of them): over 5 s with a 2 s keepalive, two or three pings,
    each answered, the connection never dropped, and no more wake-ups than pings."""
    log: list[str] = []

    async def scenario() -> tuple[int, int]:
        client = MqttClient(broker.url, "async-idle", keepalive=2, loop=asyncio.get_running_loop())
        paho_client = client._client
        paho_client.on_log = lambda _c, _u, _level, text: log.append(text)
        wake_ups = 0
        real_loop_misc = paho_client.loop_misc

        def counted_loop_misc():
            nonlocal wake_ups
            wake_ups += 1
            return real_loop_misc()

        paho_client.loop_misc = counted_loop_misc
        client.start()
        await wait_until_async(client.connected.is_set, 10, "the connection")
        await asyncio.sleep(5)
        connected = client.connected.is_set()
        client.stop()
        await client.wait_closed()
        assert connected
        return wake_ups, sum(1 for t in log if t.startswith("Sending CONNECT"))

    wake_ups, connects = asyncio.run(scenario())
    pings = sum(1 for t in log if t == "Sending PINGREQ")
    assert 2 <= pings <= 3, log
    assert sum(1 for t in log if t == "Received PINGRESP") >= pings - 1
    assert connects == 1, log
    assert wake_ups <= pings + 1, (wake_ups, pings)
