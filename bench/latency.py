"""Command latency: a car plugged in over MQTT (its id tag already presented) → the
StartTransaction at the CSMS, and → the connector status saying Charging.

One session at a time on distinct CPs of a running fleet, so each figure is a reaction
time, not a queueing effect. Each session is ended (cable out) before the next.
"""

from __future__ import annotations

import argparse
import json
import time

from .common import TOPICS, Stack, StatusWatch, boot, percentile, stack, wait_for

CAR = {"cable": 32.0, "ready": True, "consumption_l1": 16.0, "consumption_l2": 16.0, "consumption_l3": 16.0}


def session(s: Stack, watch: StatusWatch, cp_id: str) -> tuple[float, float]:
    """(car → StartTransaction at the CSMS, car → Charging status), in seconds."""
    assert s.mqtt is not None
    connector = TOPICS.connector_status(cp_id, 1)

    def status() -> str:
        return str(watch.connectors.get((cp_id, 1), {}).get("status"))

    s.mqtt.publish(TOPICS.connector_id_tag(cp_id, 1), json.dumps({"id": "BENCH"}))
    wait_for(lambda: status() == "Preparing", 10, f"{cp_id} Preparing")
    time.sleep(0.2)  # the Authorize round trip is done
    t0_wall, t0 = time.time(), time.monotonic()
    s.mqtt.publish(TOPICS.connector_car(cp_id, 1), json.dumps(CAR))
    charging = wait_for(lambda: watch.first_time(connector, lambda d: d.get("status") == "Charging", t0),
                        10, f"{cp_id} Charging")
    started = wait_for(lambda: next((t for t, cp, action in s.journal.read()
                                     if cp == cp_id and action == "StartTransaction" and t >= t0_wall), None),
                       10, f"{cp_id} StartTransaction")
    s.mqtt.publish(TOPICS.connector_car(cp_id, 1), json.dumps({"cable": 0.0}))
    wait_for(lambda: status() in ("Available", "Finishing"), 10, f"{cp_id} unplugged")
    return started - t0_wall, charging - t0


def measure(fleet: int = 200, sessions: int = 50) -> dict[str, float]:
    with stack() as s:
        watch = StatusWatch(s.broker_url)
        try:
            ids = boot(s, watch, fleet, timeout=300)
            time.sleep(3)  # let the boot's status traffic settle
            return sessions_on(s, watch, ids, sessions)
        finally:
            watch.close()


def sessions_on(s: Stack, watch: StatusWatch, ids: list[str], sessions: int = 50) -> dict[str, float]:
    """`sessions` sessions one at a time on distinct CPs of the running fleet `ids`."""
    results = [session(s, watch, cp_id) for cp_id in ids[:sessions]]
    to_csms, to_status = [r[0] for r in results], [r[1] for r in results]
    return {"fleet": len(ids), "sessions": len(results),
            "csms_p50_ms": percentile(to_csms, 50) * 1000, "csms_p95_ms": percentile(to_csms, 95) * 1000,
            "status_p50_ms": percentile(to_status, 50) * 1000,
            "status_p95_ms": percentile(to_status, 95) * 1000}


def describe(r: dict[str, float]) -> str:
    return (f"latency ({r['sessions']} sessions, {r['fleet']} CPs running): car → StartTransaction at the "
            f"CSMS p50 {r['csms_p50_ms']:.0f} ms, p95 {r['csms_p95_ms']:.0f} ms; car → Charging status "
            f"p50 {r['status_p50_ms']:.0f} ms, p95 {r['status_p95_ms']:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=50)
    args = parser.parse_args()
    print(describe(measure(args.fleet, args.sessions)), flush=True)


if __name__ == "__main__":
    main()
