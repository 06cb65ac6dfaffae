"""Idle cost: CPU of all charge point processes, and MQTT / OCPP traffic, of a fleet doing
nothing (booted, no car). An idle fleet should only show its heartbeats' effects."""

from __future__ import annotations

import argparse
import collections
import os
import threading
import time

from cp_simu.mqtt import Message, MqttClient

from .common import TOPICS, StatusWatch, boot, cpu_seconds, stack


class Counter:
    """Counts every message under the topic root, by the kind of topic."""

    def __init__(self, url: str) -> None:
        self.kinds: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.client = MqttClient(url, f"bench-idle-{os.getpid()}")
        self.client.subscribe(TOPICS.all, self._on)
        self.client.connect()

    def _on(self, msg: Message) -> None:
        if msg.retain:  # the retained state delivered on subscription is not traffic
            return
        parsed = TOPICS.parse(msg.topic)
        with self._lock:
            self.kinds[parsed.kind.value if parsed else msg.topic] += 1

    def take(self) -> collections.Counter[str]:
        with self._lock:
            kinds, self.kinds = self.kinds, collections.Counter()
        return kinds




def measure(count: int = 200, window: float = 60.0, settle: float = 10.0,
            heartbeat: int = 60) -> dict[str, float]:
    with stack(csms_args=("--heartbeat-interval", str(heartbeat))) as s:
        watch = StatusWatch(s.broker_url)
        try:
            boot(s, watch, count, timeout=300)
            time.sleep(settle)
            counter = Counter(s.broker_url)
            pids = s.cp_pids()
            broker = s.procs[0].pid
            calls_before = len(s.journal.read())
            cpu0, broker0, t0 = cpu_seconds(pids), cpu_seconds([broker]), time.monotonic()
            counter.take()
            time.sleep(window)
            kinds = counter.take()
            elapsed = time.monotonic() - t0
            cpu1, broker1 = cpu_seconds(pids), cpu_seconds([broker])
            calls = len(s.journal.read()) - calls_before
            counter.client.stop()
        finally:
            watch.close()
    return {"count": len(pids), "window_s": elapsed, "cpu_pct": (cpu1 - cpu0) / elapsed * 100,
            "broker_cpu_pct": (broker1 - broker0) / elapsed * 100,
            "mqtt_per_s": sum(kinds.values()) / elapsed, "ocpp_per_s": calls / elapsed,
            "heartbeat_s": heartbeat, "mqtt_kinds": dict(kinds)}  # type: ignore[dict-item]


def describe(r: dict) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["mqtt_kinds"].items())) or "none"
    return (f"idle N={r['count']} over {r['window_s']:.0f} s: all CP processes {r['cpu_pct']:.1f} % of one core "
            f"({r['cpu_pct'] / r['count'] * 1000:.0f} m% each), broker {r['broker_cpu_pct']:.1f} %; "
            f"MQTT {r['mqtt_per_s']:.2f} msg/s ({kinds}); OCPP calls to the CSMS {r['ocpp_per_s']:.2f}/s "
            f"(HeartbeatInterval {r['heartbeat_s']} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=200)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--heartbeat", type=int, default=60, help="HeartbeatInterval the CSMS gives (s)")
    args = parser.parse_args()
    print(describe(measure(args.count, args.window, heartbeat=args.heartbeat)), flush=True)


if __name__ == "__main__":
    main()
