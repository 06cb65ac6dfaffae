"""Density: memory of each idle charge point process (RSS / USS / PSS) in a fleet of N.

PSS (proportional set size) counts each shared page as 1/sharers: with the fork server,
the imported libraries are shared by every CP and the helper, so PSS is what one more CP
really costs. USS is what killing it would free; RSS counts the shared pages in full.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psutil

from cp_simu.models import OCPP_VERSIONS

from .common import StatusWatch, boot, stack

MB = 1024 * 1024


def measure(count: int = 200, spawn_mode: str = "fork", settle: float = 5.0,
            ocpp_version: str = "1.6") -> dict[str, float]:
    with stack(("--spawn-mode", spawn_mode)) as s:
        watch = StatusWatch(s.broker_url)
        try:
            boot(s, watch, count, timeout=300, ocpp_version=ocpp_version)
            time.sleep(settle)
            mems = [psutil.Process(pid).memory_full_info() for pid in s.cp_pids()]
            helper_pss = sum(psutil.Process(pid).memory_full_info().pss for pid in s.fork_servers()) / MB
        finally:
            watch.close()
    return {"count": len(mems), "spawn_mode": spawn_mode, "ocpp_version": ocpp_version,
            "rss_mb": statistics.mean(m.rss for m in mems) / MB,
            "uss_mb": statistics.mean(m.uss for m in mems) / MB,
            "pss_mb": statistics.mean(m.pss for m in mems) / MB,
            "total_pss_mb": sum(m.pss for m in mems) / MB,
            "helper_pss_mb": helper_pss}


def describe(r: dict[str, float]) -> str:
    helper = f" (+ fork server {r['helper_pss_mb']:.1f} MB)" if r["helper_pss_mb"] else ""
    return (f"density N={r['count']} ({r['spawn_mode']}, OCPP {r['ocpp_version']}): "
            f"per CP RSS {r['rss_mb']:.1f} MB, USS {r['uss_mb']:.1f} MB, PSS {r['pss_mb']:.1f} MB; "
            f"total PSS {r['total_pss_mb']:.0f} MB{helper}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=200)
    parser.add_argument("--spawn-mode", default="fork", choices=("fork", "subprocess"))
    parser.add_argument("--ocpp-version", default="1.6", choices=OCPP_VERSIONS)
    args = parser.parse_args()
    print(describe(measure(args.count, args.spawn_mode, ocpp_version=args.ocpp_version)), flush=True)


if __name__ == "__main__":
    main()
