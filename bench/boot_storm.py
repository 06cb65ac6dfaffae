"""Boot storm: one `start` command for N charge points (demo CSMS, embedded broker).

Measures, from the command's publication, the seconds until N BootNotifications reached the
CSMS and until N retained statuses say Accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import psutil

from cp_simu.models import LauncherCommandType

from .common import StatusWatch, stack, wait_for

SIZES = (50, 200, 500)


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def measure(count: int, spawn_mode: str = "fork", broker: str = "embedded") -> dict[str, float]:
    with stack(("--spawn-mode", spawn_mode, "--max-cps", str(max(count, 1000))), broker=broker) as s:
        watch = StatusWatch(s.broker_url)
        try:
            fleet = s.fleet(count)
            ids = [d["id"] for d in fleet]
            parts = {"broker": [s.procs[0].pid], "csms": [s.procs[1].pid],
                     "launcher": [s.launcher.pid, *s.fork_servers()] if s.launcher else []}
            before = {k: cpu_seconds(v) for k, v in parts.items()}
            t0_wall, t0 = time.time(), time.monotonic()
            s.command(LauncherCommandType.START, fleet)
            accepted_at = wait_for(lambda: watch.all_registered_at(ids, t0), 300, f"{count} Accepted")
            cpu = {k: cpu_seconds(v) - before[k] for k, v in parts.items()}
            cpu["charge points"] = cpu_seconds(s.cp_pids())
            wait_for(lambda: len({cp for _, cp in s.csms_boots()}) >= count, 30, f"{count} boots")
            first_boot: dict[str, float] = {}
            for t, cp in s.csms_boots():
                first_boot.setdefault(cp, t)
            return {"count": count, "spawn_mode": spawn_mode, "broker": broker,
                    "boots_s": max(first_boot.values()) - t0_wall, "accepted_s": accepted_at - t0,
                    "cpu_s": cpu, "load": os.getloadavg()[0]}
        finally:
            watch.close()


def describe(r: dict) -> str:
    cpu = ", ".join(f"{k} {v:.1f} s" for k, v in r["cpu_s"].items())
    return (f"boot storm N={r['count']} ({r['spawn_mode']}, {r['broker']} broker): {r['boots_s']:.2f} s to "
            f"{r['count']} BootNotifications, {r['accepted_s']:.2f} s to {r['count']} Accepted; CPU until then: "
            f"{cpu}; load average {r['load']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--spawn-mode", default="fork", choices=("fork", "subprocess"))
    parser.add_argument("--broker", default="embedded", choices=("embedded", "mosquitto"))
    args = parser.parse_args()
    for n in args.sizes:
        print(describe(measure(n, args.spawn_mode, args.broker)), flush=True)


if __name__ == "__main__":
    main()
