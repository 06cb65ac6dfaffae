"""Packed mode at scale: N charge points in processes of K each (`--cps-per-process K`).

Figures: seconds from one `start` command to all Accepted; PSS per charge point (the packed
processes' PSS / N, plus the fork server's); idle CPU of the packed processes over a window
(their heartbeats, MQTT keepalives and WebSocket pings included) and the heartbeats the CSMS
received in it; and the latency of sessions (car plugged → StartTransaction at the CSMS,
→ Charging status) on charge points spread over every packed process while the rest of the
fleet idles. Mosquitto by default: the embedded broker is the limit long before 10,000; the
demo CSMS runs `--fast`; `--ramp N` starts N charge points per second (10,000 need one).
"""

from __future__ import annotations

import argparse
import os
import time

import psutil

from launcher.spawner import FORK_SERVER_TITLE

from .common import StatusWatch, boot, cpu_seconds, percentile, stack, stop_cleanly_on_signals
from .latency import session

MB = 1024 * 1024


def measure(count: int = 1000, per_process: int = 500, *, broker: str = "mosquitto", window: float = 60.0,
            heartbeat: int = 60, sessions: int = 40, settle: float = 10.0,
            ramp: float | None = None) -> dict[str, object]:
    launcher_args = ("--cps-per-process", str(per_process), "--max-cps", str(count))
    load_before = os.getloadavg()[0]
    with stack(launcher_args, broker=broker, csms_args=("--fast", "--heartbeat-interval", str(heartbeat))) as s:
        watch = StatusWatch(s.broker_url)
        try:
            t0 = time.monotonic()
            ids = boot(s, watch, count, timeout=max(300.0, count / 10), ramp=ramp)
            boot_s = time.monotonic() - t0
            hosts = sorted(set(s.cp_pids()))
            boot_cpu = cpu_seconds(hosts)
            time.sleep(settle)
            assert s.launcher is not None
            helpers = [p.pid for p in psutil.Process(s.launcher.pid).children()
                       if FORK_SERVER_TITLE in " ".join(p.cmdline()) or "launcher.spawner" in p.cmdline()]
            pss = sum(psutil.Process(pid).memory_full_info().pss for pid in hosts) / MB
            helper_pss = sum(psutil.Process(pid).memory_full_info().pss for pid in helpers) / MB
            beats_before = sum(1 for _t, _cp, action in s.journal.read() if action == "Heartbeat")
            cpu0, w0 = cpu_seconds(hosts), time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - w0
            idle_cpu = cpu_seconds(hosts) - cpu0
            load_idle = os.getloadavg()[0]
            beats = sum(1 for _t, _cp, action in s.journal.read() if action == "Heartbeat") - beats_before
            accepted = watch.registered(ids)
            step = max(1, count // sessions)
            results = [session(s, watch, cp_id) for cp_id in ids[::step][:sessions]]
        finally:
            watch.close()
    to_csms, to_status = [r[0] for r in results], [r[1] for r in results]
    return {"count": count, "per_process": per_process, "processes": len(hosts), "broker": broker,
            "boot_s": boot_s, "boot_cpu_ms": boot_cpu / count * 1000, "pss_per_cp_mb": pss / count,
            "total_pss_mb": pss, "helper_pss_mb": helper_pss,
            "idle_cpu_pct": idle_cpu / elapsed * 100, "window_s": elapsed, "heartbeat_s": heartbeat,
            "heartbeats": beats, "accepted_after": accepted, "sessions": len(results),
            "csms_p50_ms": percentile(to_csms, 50) * 1000, "csms_p95_ms": percentile(to_csms, 95) * 1000,
            "status_p95_ms": percentile(to_status, 95) * 1000,
            "load_before": load_before, "load_idle": load_idle}


def describe(r: dict) -> str:
    return (f"packed N={r['count']} in {r['processes']} processes of ≤{r['per_process']} ({r['broker']}): "
            f"all Accepted in {r['boot_s']:.1f} s ({r['boot_cpu_ms']:.0f} ms CPU per CP); "
            f"PSS {r['pss_per_cp_mb'] * 1024:.0f} KB per CP "
            f"(total {r['total_pss_mb']:.0f} MB + fork server {r['helper_pss_mb']:.0f} MB); idle CPU "
            f"{r['idle_cpu_pct']:.1f} % of a core over {r['window_s']:.0f} s with {r['heartbeats']} heartbeats "
            f"(interval {r['heartbeat_s']} s), {r['accepted_after']} still Accepted; car → StartTransaction "
            f"p50 {r['csms_p50_ms']:.0f} ms, p95 {r['csms_p95_ms']:.0f} ms, → Charging p95 "
            f"{r['status_p95_ms']:.0f} ms ({r['sessions']} sessions); load average {r['load_before']:.1f} "
            f"before, {r['load_idle']:.1f} idle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="*", type=int, default=[1000])
    parser.add_argument("--cps-per-process", type=int, default=500)
    parser.add_argument("--broker", choices=("mosquitto", "embedded"), default="mosquitto")
    parser.add_argument("--window", type=float, default=60.0, help="idle measurement (s)")
    parser.add_argument("--heartbeat", type=int, default=60, help="heartbeat interval the CSMS gives (s)")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--ramp", type=float, default=None, help="charge points started per second")
    args = parser.parse_args()
    stop_cleanly_on_signals()
    for count in args.count:
        print(describe(measure(count, args.cps_per_process, broker=args.broker, window=args.window,
                               heartbeat=args.heartbeat, sessions=args.sessions, ramp=args.ramp)), flush=True)


if __name__ == "__main__":
    main()
