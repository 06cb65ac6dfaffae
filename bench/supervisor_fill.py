"""Supervisor fill benchmark: how fast the window lists a big fleet, and how responsive it stays.

Publishes N retained CP statuses (+ their connector statuses) to a broker, opens the real
window (offscreen unless a display is set), connects, and measures:
  - the time until the list shows N rows;
  - the lateness of a 10 ms QTimer on the GUI thread during the fill (event-loop latency);
  - the same while every CP then publishes one live connector update at once;
  - how long filtering the N-row list takes.

    python -m bench.supervisor_fill [--broker mqtt://127.0.0.1:1883] [--cps 1000] [--connectors 2]

Without --broker it runs a private Mosquitto (or the embedded broker) on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import private_broker
from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus
from cp_simu.mqtt import MqttClient
from cp_simu.topics import Topics

STATES = ("Accepted", "Accepted", "Accepted", "Pending", "Disconnected", "Rejected", "Dead")


def cp_ids(n: int) -> list[str]:
    return [f"bench_cp_{i:04d}" for i in range(n)]


def publish_fleet(url: str, n: int, connectors: int, *, live: bool = False, root: str = "cp_simu") -> None:
    """Retained statuses of `n` CPs; `live`: one Charging connector update per CP instead."""
    topics = Topics(root)
    client = MqttClient(url, f"bench-publisher-{os.getpid()}").connect()
    try:
        infos = []
        for i, cp_id in enumerate(cp_ids(n)):
            if live:
                status = ConnectorStatus(status="Charging", setpoint=16, consumption_l1=16, consumption_l2=16,
                                         consumption_l3=16, energy_wh=1000.0 + i, transaction_id=i)
                infos.append(client.publish(topics.connector_status(cp_id, 1), status.to_json(), retain=True))
                continue
            definition = ChargePointDefinition(id=cp_id, nb_connectors=connectors)
            status_json = CpStatus.for_definition(definition, 10_000 + i, STATES[i % len(STATES)]).to_json()
            infos.append(client.publish(topics.cp_status(cp_id), status_json, retain=True))
            for c in range(1, connectors + 1):
                infos.append(client.publish(topics.connector_status(cp_id, c),
                                            ConnectorStatus(max_setpoint=32).to_json(), retain=True))
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.stop()


def clear_fleet(url: str, n: int, connectors: int, root: str = "cp_simu") -> None:
    topics = Topics(root)
    client = MqttClient(url, f"bench-cleaner-{os.getpid()}").connect()
    try:
        infos = [client.publish(t, "", retain=True) for cp_id in cp_ids(n)
                 for t in (*(topics.connector_status(cp_id, c) for c in range(1, connectors + 1)),
                           topics.cp_status(cp_id))]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        client.stop()


@dataclass
class Latency:
    """Lateness of a 10 ms timer: how long the GUI thread could not react."""

    samples: list[float]

    @property
    def max_ms(self) -> float:
        return max(self.samples, default=0.0) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000 if self.samples else 0.0


@dataclass
class FillResult:
    cps: int
    fill_s: float
    fill_latency: Latency
    live_s: float
    live_latency: Latency
    filter_ms: float

    def report(self) -> str:
        return "\n".join((
            f"supervisor fill, {self.cps} retained CP statuses:",
            f"  list filled in          {self.fill_s:6.2f} s",
            f"  event loop lateness     max {self.fill_latency.max_ms:6.1f} ms, "
            f"median {self.fill_latency.median_ms:5.1f} ms (10 ms timer)",
            f"  {self.cps} live updates in    {self.live_s:6.2f} s, lateness max "
            f"{self.live_latency.max_ms:.1f} ms, median {self.live_latency.median_ms:.1f} ms",
            f"  filter the list         {self.filter_ms:6.1f} ms",
        ))


def _run_until(app, condition: Callable[[], bool], timeout: float) -> Latency:
    """Spin the Qt event loop until `condition`, recording a 10 ms timer's lateness."""
    from PySide6.QtCore import QEventLoop, QTimer

    samples: list[float] = []
    last = time.perf_counter()
    loop = QEventLoop()
    deadline = last + timeout

    def tick() -> None:
        nonlocal last
        now = time.perf_counter()
        samples.append(max(0.0, now - last - 0.010))
        last = now
        if condition() or now > deadline:
            loop.quit()

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError(f"condition not met within {timeout:g} s")
    return Latency(samples)


def measure(url: str, n: int, connectors: int, timeout: float = 60.0) -> FillResult:
    """Open a window on a broker already holding the fleet; measure the fill and live updates."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from supervisor.main_window import MainWindow
    from supervisor.settings import SupervisorSettings

    app = QApplication.instance() or QApplication([])
    settings_dir = Path(tempfile.mkdtemp())  # the user's remembered layout must not skew the figures
    window = MainWindow(url, settings=SupervisorSettings.in_file(settings_dir / "supervisor.ini"))
    window.resize(1320, 820)
    window.show()
    try:
        started = time.perf_counter()
        window.connect_broker()
        fill_latency = _run_until(app, lambda: window.model.rowCount() >= n, timeout)
        fill_s = time.perf_counter() - started

        started = time.perf_counter()
        publish_fleet(url, n, connectors, live=True)
        charging = lambda: all(  # noqa: E731 - read once per timer tick
            (e := window.fleet.get(i)) and e.connectors.get(1) and e.connectors[1].status == "Charging"
            for i in cp_ids(n))
        live_latency = _run_until(app, charging, timeout)
        live_s = time.perf_counter() - started

        started = time.perf_counter()
        window.filter_edit.setText("Pending")
        app.processEvents()
        filter_ms = (time.perf_counter() - started) * 1000
        window.filter_edit.clear()
        return FillResult(n, fill_s, fill_latency, live_s, live_latency, filter_ms)
    finally:
        window.close()
        app.processEvents()
        shutil.rmtree(settings_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", help="broker URL (default: a private one)")
    parser.add_argument("--cps", type=int, default=1000)
    parser.add_argument("--connectors", type=int, default=2)
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.broker or stack.enter_context(private_broker())
        publish_fleet(url, args.cps, args.connectors)
        if args.broker:  # leave a shared broker as we found it
            stack.callback(clear_fleet, url, args.cps, args.connectors)
        print(measure(url, args.cps, args.connectors).report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
