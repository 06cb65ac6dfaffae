"""Call statistics under load and at rest.

- idle: N booted charge points heartbeating, nothing else: the MQTT messages of every kind
  over a window (the statistics topics must stay silent).
- load: N charge points (1.6 and 2.0.1) cycling scripted sessions (car with an EV model
  plugged, tag, charge, unplug, pause; seeded): CPU of all charge point processes per CP and
  per running session, the launcher's metrics endpoint scraped, and `ocpp-simu report` on
  its run file (`--docs` copies the figures into docs/ for the Metrics and report page).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cp_simu.config import SECTION_SIMULATION, update_section
from cp_simu.report import text_table, write_report
from cp_simu.run_file import Run

from .common import TOPICS, StatusWatch, boot, cpu_seconds, free_port, scratch, stack, wait_for
from .idle import Counter

DOCS = Path(__file__).resolve().parent.parent / "docs"
EVS = ("city_car", "suv", "van", "phev")


def template(directory: Path, stats_interval: float) -> Path:
    path = directory / "config.ini"
    shutil.copy(Path(__file__).resolve().parent.parent / "config.ini", path)
    update_section(path, SECTION_SIMULATION, {"stats_interval": str(stats_interval)})
    return path


def idle(count: int = 100, window: float = 30.0, heartbeat: int = 5) -> dict:
    """MQTT messages by kind while N booted charge points only heartbeat."""
    with scratch() as tmp, \
            stack(launcher_args=("--config", str(template(Path(tmp), 1.0)), "--no-metrics"),
                  csms_args=("--heartbeat-interval", str(heartbeat))) as s:
        watch = StatusWatch(s.broker_url)
        try:
            boot(s, watch, count, timeout=300)
            time.sleep(3.0)  # the boot's last statistics (an interval after the last status)
            counter = Counter(s.broker_url)
            heartbeats_before = sum(1 for *_, action in s.journal.read() if action == "Heartbeat")
            counter.take()
            time.sleep(window)
            kinds = counter.take()
            heartbeats = sum(1 for *_, action in s.journal.read() if action == "Heartbeat") - heartbeats_before
            counter.client.stop()
        finally:
            watch.close()
    return {"count": count, "window_s": window, "heartbeat_s": heartbeat, "heartbeats": heartbeats,
            "stats_messages": kinds.get("stats", 0) + kinds.get("launcher/stats", 0), "mqtt_kinds": dict(kinds)}


@dataclass
class Plan:
    """One charge point's scripted sessions: plugged from `start` for `dwell` seconds, then a pause."""

    cp_id: str
    rng: random.Random
    next_at: float
    charging: bool = False
    busy_s: float = 0.0  # seconds spent with a session


def drive(s, ids: list[str], duration: float, seed: int) -> float:
    """Plug / tag / unplug every charge point on its plan for `duration` s; mean sessions running."""
    assert s.mqtt is not None
    plans = [Plan(cp_id, random.Random(f"{seed}-{cp_id}"), 0.0) for cp_id in ids]
    start = time.monotonic()
    for plan in plans:
        plan.next_at = start + plan.rng.uniform(0, 15)
    while (now := time.monotonic()) < start + duration:
        for plan in plans:
            if now < plan.next_at:
                continue
            car = TOPICS.connector_car(plan.cp_id, 1)
            if plan.charging:
                s.mqtt.publish(car, json.dumps({"cable": 0}))
                plan.charging, plan.next_at = False, now + plan.rng.uniform(5, 15)
            else:
                ev = {"preset": plan.rng.choice(EVS), "soc": round(plan.rng.uniform(10, 70), 1), "target_soc": 80}
                s.mqtt.publish(car, json.dumps({"cable": 32, "ready": True, "ev": ev}))
                s.mqtt.publish(TOPICS.connector_id_tag(plan.cp_id, 1), json.dumps({"id": f"TAG{plan.cp_id}"}))
                dwell = plan.rng.uniform(20, 50)
                plan.charging, plan.next_at = True, now + dwell
                plan.busy_s += min(dwell, start + duration - now)
        time.sleep(0.05)
    for plan in plans:
        if plan.charging:
            s.mqtt.publish(TOPICS.connector_car(plan.cp_id, 1), json.dumps({"cable": 0}))
    return sum(p.busy_s for p in plans) / duration


def load(count: int = 40, duration: float = 120.0, seed: int = 42, out: Path | None = None,
         docs: bool = False) -> dict:
    """CPU per charge point under scripted sessions, the endpoint scraped, and the report."""
    metrics_port = free_port()
    with scratch() as tmp, \
            stack(launcher_args=("--config", str(template(Path(tmp), 2.0)), "--metrics-port", str(metrics_port))) as s:
        watch = StatusWatch(s.broker_url)
        info: list[dict] = []
        s.mqtt.subscribe(TOPICS.launcher_info, lambda m: info.append(json.loads(m.payload)))  # type: ignore[union-attr]
        try:
            ids = boot(s, watch, count, timeout=300)
            pids = s.cp_pids()
            cpu0, t0 = cpu_seconds(pids), time.monotonic()
            sessions = drive(s, ids, duration, seed)
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(pids) - cpu0
            time.sleep(5.0)  # the last statistics reach the launcher and its run file
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as reply:
                scraped = reply.read().decode()
            run_file = Path(wait_for(lambda: info and info[-1].get("run_file"), 10, "the run file's name"))
            run = Run.load(run_file)
            report_dir = out or Path(tmp) / "report"
            rows = write_report(run, report_dir, f"{count} charge points, scripted sessions for {duration:.0f} s")
            if docs:
                shutil.copy(report_dir / "latency.png", DOCS / "report-latency.png")
                shutil.copy(report_dir / "timeline.png", DOCS / "report-timeline.png")
        finally:
            watch.close()
    return {"count": count, "duration_s": elapsed, "cpu_pct": cpu / elapsed * 100, "mean_sessions": sessions,
            "cpu_pct_per_cp": cpu / elapsed * 100 / count,
            "cpu_pct_per_session": cpu / elapsed * 100 / sessions if sessions else 0.0,
            "histogram_lines": sum(1 for line in scraped.splitlines()
                                   if line.startswith("ocpp_simu_call_duration_seconds_bucket")),
            "table": text_table(rows)}


def describe_idle(r: dict) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["mqtt_kinds"].items())) or "none"
    return (f"idle N={r['count']} over {r['window_s']:.0f} s (HeartbeatInterval {r['heartbeat_s']} s, "
            f"{r['heartbeats']} heartbeats): {r['stats_messages']} statistics messages; all MQTT messages: {kinds}")


def describe_load(r: dict) -> str:
    return (f"load N={r['count']} over {r['duration_s']:.0f} s, {r['mean_sessions']:.1f} sessions running on "
            f"average: all CP processes {r['cpu_pct']:.1f} % of one core = {r['cpu_pct_per_cp'] * 1000:.0f} m% "
            f"per CP, {r['cpu_pct_per_session'] * 1000:.0f} m% per running session; /metrics had "
            f"{r['histogram_lines']} histogram bucket lines\n{r['table']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-count", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--count", type=int, default=40, help="charge points under load")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of scripted sessions")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="keep the report in this directory")
    parser.add_argument("--docs", action="store_true", help="copy the report's figures into docs/")
    parser.add_argument("--skip-idle", action="store_true")
    args = parser.parse_args()
    if not args.skip_idle:
        print(describe_idle(idle(args.idle_count, args.window)), flush=True)
    print(describe_load(load(args.count, args.duration, args.seed, args.out, args.docs)), flush=True)


if __name__ == "__main__":
    main()
