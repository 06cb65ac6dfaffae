"""Launchers on two hosts, one broker each, joined by a Mosquitto bridge: one fleet, one tree.

The edge broker runs the bridge configuration documented in docs/multi-host.md
(docs/examples/mosquitto-bridge.conf) with only its host and ports changed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cp_simu.topics import Topics
from supervisor.fleet_model import Fleet, parse_message
from tests.conftest import Broker, Recorder, run_mosquitto, start_mosquitto
from tests.launcher.conftest import BOOT_WAIT, LauncherRun, cp_processes, definition, kill_cps
from tests.procs import REPO, free_port, managed, ocpp_simu, wait_until

T = Topics()
BRIDGE_CONF = REPO / "docs" / "examples" / "mosquitto-bridge.conf"


def edge_config(hub_port: int, port: int) -> str:
    """The documented edge configuration, listening on `port` and bridged to the local hub."""
    text = BRIDGE_CONF.read_text()
    text, listeners = re.subn(r"(?m)^listener 1883$", f"listener {port} 127.0.0.1", text)
    text, addresses = re.subn(r"(?m)^address hub\.example\.net:1883$", f"address 127.0.0.1:{hub_port}", text)
    assert listeners == addresses == 1, "the documented configuration changed shape"
    extra = ["persistence false"] + (["user root"] if os.geteuid() == 0 else [])
    return text + "\n".join(extra) + "\n"


@pytest.fixture
def bridged(tmp_path: Path) -> Iterator[tuple[Broker, Broker]]:
    """(hub, edge): two Mosquittos, the edge bridged to the hub; returns once the bridge carries."""
    with contextlib.ExitStack() as stack:
        hub = stack.enter_context(contextlib.contextmanager(start_mosquitto)(tmp_path))
        port = free_port()
        conf = tmp_path / f"edge-{port}.conf"
        conf.write_text(edge_config(hub.port, port))
        edge = stack.enter_context(contextlib.contextmanager(run_mosquitto)(conf, port))
        probe = stack.enter_context(contextlib.closing(Recorder(hub.url, "cp_simu/probe", "probe-hub")))
        sender = stack.enter_context(contextlib.closing(Recorder(edge.url, "cp_simu/probe", "probe-edge")))

        def carried() -> bool:
            sender.publish("cp_simu/probe", b"x")
            return bool(probe.messages)
        wait_until(carried, 15, interval=0.3, what="the bridge to carry a message")
        yield hub, edge


def start_launcher(stack: contextlib.ExitStack, broker: Broker, name: str, workdir: Path, rec: Recorder,
                   log: Path) -> LauncherRun:
    stack.callback(kill_cps, workdir)
    proc = stack.enter_context(managed(ocpp_simu("-v", "launcher", "--broker", broker.url, "--workdir",
                                                 str(workdir), "--name", name), log=log))
    run = LauncherRun(proc, workdir, rec, name)
    run.wait_ready()
    return run


def test_two_hosts_through_a_mosquitto_bridge_are_one_fleet_on_one_tree(bridged, csms, tmp_path, recorder_factory):
    hub, edge = bridged
    observer = recorder_factory(hub.url)  # e.g. the supervisor, on host A's broker only
    with contextlib.ExitStack() as stack:
        east = start_launcher(stack, hub, "east", tmp_path / "east", observer, tmp_path / "east.log")
        west = start_launcher(stack, edge, "west", tmp_path / "west", observer, tmp_path / "west.log")
        east.start(definition("E1", csms.url))
        west.start(definition("W1", csms.url, max_setpoint=16.5))  # commanded from the hub
        e1 = observer.wait_json(T.cp_status("E1"), lambda d: d.get("status") == "Accepted", BOOT_WAIT)
        w1 = observer.wait_json(T.cp_status("W1"), lambda d: d.get("status") == "Accepted", BOOT_WAIT)
        assert (e1["launcher"], w1["launcher"]) == ("east", "west")
        assert [p.pid for p in cp_processes(tmp_path / "west")] == [w1["pid"]]
        assert (east.info()["name"], west.info()["name"]) == ("east", "west")

        # A CP on the other side takes a car from the hub; its new status comes back.
        car = {"cable": 32, "ready": True, "consumption_l1": 16.5, "consumption_l2": 10.0, "consumption_l3": 10}
        observer.publish(T.connector_car("W1", 1), json.dumps(car))
        observer.wait_json(T.connector_status("W1", 1), lambda d: d.get("car_consumption_l1") == 16.5
                           and d.get("car_cable_capacity") == 32.0)

        # Ids are unique across the bridged fleet: east refuses W1.
        east.start(definition("W1", csms.url))
        assert "alive under launcher 'west'" in east.wait_error("W1: not started")["error"]

        # A CP killed on the edge: its will crosses the bridge.
        west.kill("W1")
        west.wait_status("W1", "Dead", pid=w1["pid"])
        wait_until(lambda: not psutil.pid_exists(w1["pid"]), 5, what="W1's process to end")
        assert observer.last_json(T.cp_status("E1"))["status"] == "Accepted"

        # The supervisor's model, fed by the hub alone, lists both launchers' fleets.
        fleet = Fleet()
        fleet.apply(e for m in list(observer.messages) if (e := parse_message(T, m.topic, m.payload)))
        assert {"E1", "W1"} <= set(fleet.cps)
        assert fleet.get("W1").status.launcher == "west" and fleet.get("E1").status.launcher == "east"


def test_the_documented_bridge_configuration_is_the_tested_one():
    assert BRIDGE_CONF.read_text().rstrip() in (REPO / "docs" / "multi-host.md").read_text()
