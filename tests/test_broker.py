"""Retained messages, wills on SIGKILL and clearing retained topics: embedded amqtt and Mosquitto."""

from __future__ import annotations

import signal
import sys
import textwrap
import time
from pathlib import Path

from tests.procs import managed, wait_until


def test_retained_message_reaches_late_subscriber(any_broker, recorder_factory):
    first = recorder_factory(any_broker.url, "cp_simu/#", "writer")
    first.publish("cp_simu/cps/CP1/status", '{"status":"Accepted"}', retain=True)
    late = recorder_factory(any_broker.url, "cp_simu/cps/+/status", "late")
    data = late.wait_json("cp_simu/cps/CP1/status")
    assert data == {"status": "Accepted"}
    assert late.on_topic("cp_simu/cps/CP1/status")[0].retain


def test_empty_payload_clears_retained(any_broker, recorder_factory):
    w = recorder_factory(any_broker.url, "cp_simu/#", "writer")
    w.publish("cp_simu/cps/CP2/status", '{"status":"Dead"}', retain=True)
    w.wait_json("cp_simu/cps/CP2/status")
    w.publish("cp_simu/cps/CP2/status", b"", retain=True)
    wait_until(lambda: w.last("cp_simu/cps/CP2/status") == b"", 5, what="empty payload echo")
    late = recorder_factory(any_broker.url, "cp_simu/#", "late")
    late.publish("cp_simu/marker", "x")
    wait_until(lambda: late.last("cp_simu/marker"), 5, what="marker")
    assert late.last("cp_simu/cps/CP2/status") is None


def test_will_published_when_client_is_sigkilled(any_broker, recorder_factory, tmp_path: Path):
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(f"""
        import time
        from cp_simu.mqtt import MqttClient
        c = MqttClient({any_broker.url!r}, "victim", keepalive=5)
        c.set_will("cp_simu/launcher/status", "Dead")
        c.connect()
        c.publish_state("cp_simu/launcher/status", "Alive").wait_for_publish(5)
        print("ready", flush=True)
        time.sleep(60)
    """))
    watcher = recorder_factory(any_broker.url, "cp_simu/launcher/status", "watcher")
    with managed([sys.executable, str(script)], log=tmp_path / "victim.log") as victim:
        wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Alive", 10, what="Alive")
        victim.signal(signal.SIGKILL)
        wait_until(lambda: watcher.last("cp_simu/launcher/status") == b"Dead", 10, what="will: Dead")
    late = recorder_factory(any_broker.url, "cp_simu/launcher/status", "late")
    wait_until(lambda: late.last("cp_simu/launcher/status") == b"Dead", 5, what="retained Dead")


def test_probe_speaks_mqtt_so_the_broker_logs_no_error(any_broker, tmp_path: Path):
    """`up` and the launcher probe for a broker on every run: the embedded one must not log
    `ERROR … No data from client` each time (Mosquitto: no "protocol error" either)."""
    from cp_simu.broker import reachable
    from cp_simu.urls import BrokerUrl
    from tests.procs import free_port

    for _ in range(3):
        assert reachable(BrokerUrl.parse(any_broker.url))
    assert not reachable(BrokerUrl.parse(f"mqtt://127.0.0.1:{free_port()}"))
    time.sleep(0.5)  # what the broker would log about the probes
    log = any_broker.process.output()
    assert "ERROR" not in log and "No data" not in log and "protocol error" not in log.lower(), log
