"""Boot storm: one `start` command for N charge points (demo CSMS, embedded broker).

Measures, from the command's publication, the seconds until N BootNotifications reached the
CSMS and until N retained statuses say Accepted.
"""

from __future__ import annotations

import argparse
import time

from cp_simu.models import LauncherCommandType

from .common import StatusWatch, stack, wait_for

SIZES = (50, 200, 500)


def measure(count: int, spawn_mode: str = "fork") -> dict[str, float]:
    with stack(("--spawn-mode", spawn_mode, "--max-cps", str(max(count, 1000)))) as s:
        watch = StatusWatch(s.broker_url)
        try:
            fleet = s.fleet(count)
            ids = [d["id"] for d in fleet]
            t0_wall, t0 = time.time(), time.monotonic()
            s.command(LauncherCommandType.START, fleet)
            accepted_at = wait_for(lambda: watch.all_registered_at(ids, t0), 300, f"{count} Accepted")
            wait_for(lambda: len({cp for _, cp in s.csms_boots()}) >= count, 30, f"{count} boots")
            first_boot: dict[str, float] = {}
            for t, cp in s.csms_boots():
                first_boot.setdefault(cp, t)
            return {"count": count, "boots_s": max(first_boot.values()) - t0_wall, "accepted_s": accepted_at - t0}
        finally:
            watch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=list(SIZES))
    parser.add_argument("--spawn-mode", default="fork", choices=("fork", "subprocess"))
    args = parser.parse_args()
    for n in args.sizes:
        r = measure(n, args.spawn_mode)
        print(f"boot storm N={n} ({args.spawn_mode}): {r['boots_s']:.2f} s to {n} BootNotifications, "
              f"{r['accepted_s']:.2f} s to {n} Accepted", flush=True)


if __name__ == "__main__":
    main()
