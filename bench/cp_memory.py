"""Where an idle forked charge point's memory goes: its private pages and its PSS per kind
of mapping (`bench.smaps`), averaged over a fleet of N, next to the fork server's.

    python -m bench.cp_memory 200
"""

from __future__ import annotations

import argparse
import time

from . import smaps
from .common import StatusWatch, boot, stack


def measure(count: int = 200, spawn_mode: str = "fork", settle: float = 5.0, broker: str = "embedded",
            sample: int = 40) -> dict[str, dict[str, float]]:
    with stack(("--spawn-mode", spawn_mode), broker=broker) as s:
        watch = StatusWatch(s.broker_url)
        try:
            boot(s, watch, count, timeout=300)
            time.sleep(settle)
            pids = s.cp_pids()[:sample]
            return {"private": smaps.average(pids), "pss": smaps.average(pids, "Pss"),
                    "helper_private": smaps.average(s.fork_servers())}
        finally:
            watch.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=200)
    parser.add_argument("--spawn-mode", default="fork", choices=("fork", "subprocess"))
    parser.add_argument("--broker", default="embedded", choices=("embedded", "mosquitto"))
    args = parser.parse_args()
    r = measure(args.count, args.spawn_mode, broker=args.broker)
    for key in ("private", "pss", "helper_private"):
        print(f"{key} per kind of mapping:\n{smaps.describe(r[key])}", flush=True)


if __name__ == "__main__":
    main()
