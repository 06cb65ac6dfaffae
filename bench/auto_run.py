"""A seeded automatic run: N charge points with automatic sessions against the demo CSMS for a
while, then the same again with the same seed.

Printed: the sessions that started and ended at the CSMS, remote starts, refused tags, the
energy the CSMS was told about against what the cars' model says they drew, the CPU the
charge points used, and whether the second run applied exactly the same inputs as the first
(each charge point's `auto.jsonl`, wall-clock times left out).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from chargepoint.model.ev import Ev, EvSpec
from cp_simu.models import AutoSettings, EvSettings, LauncherCommand, LauncherCommandType
from cp_simu.mqtt import MqttClient
from launcher.remote_starts import RemoteStarts

from .common import TOPICS, StatusWatch, boot, cpu_seconds, stack, wait_for

# Sessions of a few minutes, so a 10-minute run sees many start and end; small energy needs,
# so that some cars reach their target (and stop drawing) before they leave.
SETTINGS = {"rate": 12.0, "dwell": [60, 240], "tag_delay": [1, 4], "invalid_share": 0.05,
            "energy_kwh": [0.2, 1.0], "mix": {"plug_first": 0.6, "tag_first": 0.3, "remote_start": 0.1}}
VOLTAGE, PHASES, POWER_FACTOR = 230.0, 3, 1.0  # the fleet's AC charge points (config.ini defaults)
STEP = 0.25  # s, of the offline EV model run


@dataclass
class RunResult:
    records: dict[str, list[dict]]  # per charge point, its auto.jsonl inputs (with their wall-clock time)
    transactions: list[dict]
    remote_started: int
    remote_failed: int
    cpu_s: float
    elapsed_s: float

    @property
    def inputs(self) -> dict[str, list[dict]]:
        """The inputs as planned: without their wall-clock time."""
        return {cp: [{k: v for k, v in r.items() if k != "time"} for r in records]
                for cp, records in self.records.items()}

    @property
    def ended(self) -> list[dict]:
        return [t for t in self.transactions if not t["active"] and t.get("meter_stop") is not None]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def applied_inputs(directory: Path) -> list[dict]:
    """A charge point's auto.jsonl: the inputs it applied."""
    path = directory / "auto.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if "seq" in line]


def run(count: int, duration: float, seed: int, settings: dict, progress: bool = True) -> RunResult:
    with stack() as s:
        watch = StatusWatch(s.broker_url)
        client = MqttClient(s.broker_url, f"bench-auto-{os.getpid()}").connect()
        agent = RemoteStarts(client, TOPICS, f"{s.csms_api}/api", workers=8)
        try:
            ids = boot(s, watch, count, timeout=300, nb_connectors=1)
            auto = AutoSettings.from_dict({**settings, "seed": seed})
            client.publish(TOPICS.launcher_cmd, LauncherCommand(
                LauncherCommandType.AUTO, ids=ids, auto=auto).to_json()).wait_for_publish(5)
            wait_for(lambda: all(watch.cp.get(i, {}).get("auto") for i in ids), 60, "automatic sessions on")
            pids = s.cp_pids()
            cpu0, started = cpu_seconds(pids), time.monotonic()
            while (left := duration - (time.monotonic() - started)) > 0:
                time.sleep(min(30.0, left))
                if progress:
                    txs = _get(f"{s.csms_api}/api/transactions")["transactions"]
                    print(f"  {time.monotonic() - started:5.0f} s: {len(txs)} sessions started, "
                          f"{sum(not t['active'] for t in txs)} ended, {agent.started} remote starts", flush=True)
            elapsed = time.monotonic() - started
            cpu = cpu_seconds(pids) - cpu0
            client.publish(TOPICS.launcher_cmd, LauncherCommand(
                LauncherCommandType.AUTO, ids=ids, auto=AutoSettings(enabled=False)).to_json()).wait_for_publish(5)
            wait_for(lambda: not any(watch.cp.get(i, {}).get("auto") for i in ids), 60, "automatic sessions off")
            wait_for(lambda: not any(t["active"] for t in _get(f"{s.csms_api}/api/transactions")["transactions"]),
                     60, "every session ended at the CSMS")
            transactions = _get(f"{s.csms_api}/api/transactions")["transactions"]
            records = {i: applied_inputs(s.workdir / "chargepoints" / i) for i in ids}
            return RunResult(records, transactions, agent.started, agent.failed, cpu, elapsed)
        finally:
            agent.close()
            client.stop()
            watch.close()


def _timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def car_of(tx: dict, records: list[dict]) -> dict | None:
    """The car input behind a transaction: the last plug on its connector before it started."""
    start = _timestamp(tx["start_time"])
    plugs = [r for r in records if r["kind"] == "plug" and r["connector"] == tx["connector_id"]
             and _timestamp(r["time"]) <= start + 0.5]
    return plugs[-1]["payload"] if plugs else None


def model_energy_wh(car: dict, seconds: float) -> tuple[float, bool]:
    """What the EV model draws from an AC charge point in `seconds` (run offline, in small
    steps), and whether it reached its target; a car without EV model draws its consumption."""
    if "ev" not in car:
        amps = sum(car.get(f"consumption_l{p}", 0.0) for p in (1, 2, 3))
        return VOLTAGE * POWER_FACTOR * amps * seconds / 3600, False
    ev = Ev(EvSpec.from_settings(EvSettings.parse(car["ev"])), mark_wh=0.0)
    elapsed = 0.0
    while elapsed < seconds and not ev.full:
        dt = min(STEP, seconds - elapsed)
        power = sum(ev.demand_ac(VOLTAGE, PHASES, POWER_FACTOR)) * VOLTAGE * POWER_FACTOR
        target = ev.full_at_wh()
        assert target is not None
        ev.book(min(ev.mark_wh + power * dt / 3600, target))  # the flow stops at the target
        elapsed += dt
    return ev.mark_wh, ev.full


def same_inputs(a: RunResult, b: RunResult, horizon: float) -> tuple[bool, int]:
    """Whether both runs applied the same inputs (those planned before `horizon`), and how many."""
    compared = 0
    for cp_id, inputs in a.inputs.items():
        first = [i for i in inputs if i["at"] < horizon]
        second = [i for i in b.inputs.get(cp_id, []) if i["at"] < horizon]
        if first != second:
            return False, compared
        compared += len(first)
    return True, compared


def summary(r: RunResult, count: int) -> dict[str, float]:
    measured = expected = 0.0
    full = compared = 0
    for tx in r.ended:
        car = car_of(tx, r.records.get(tx["cp_id"], []))
        if car is None or not tx.get("stop_time"):
            continue
        model, reached = model_energy_wh(car, _timestamp(tx["stop_time"]) - _timestamp(tx["start_time"]))
        measured += tx["meter_stop"] - tx["meter_start"]
        expected += model
        full += reached
        compared += 1
    applied = sum(len(v) for v in r.records.values())
    kinds: dict[str, int] = {}
    for inputs in r.inputs.values():
        for i in inputs:
            kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
    return {"cps": count, "elapsed_s": r.elapsed_s, "inputs": applied, "plugs": kinds.get("plug", 0),
            "remote_asked": kinds.get("remote_start", 0), "remote_started": r.remote_started,
            "remote_failed": r.remote_failed, "sessions": len(r.transactions), "ended": len(r.ended),
            "compared": compared, "full": full, "energy_kwh": measured / 1000, "expected_kwh": expected / 1000,
            "energy_ratio": measured / expected if expected else 0.0,
            "cpu_pct_per_cp": r.cpu_s / r.elapsed_s / count * 100}


def describe(s: dict[str, float]) -> str:
    return (f"{s['cps']:.0f} CPs for {s['elapsed_s']:.0f} s: {s['inputs']:.0f} inputs applied ({s['plugs']:.0f} cars), "
            f"{s['sessions']:.0f} sessions started and {s['ended']:.0f} ended at the CSMS; remote starts "
            f"{s['remote_started']:.0f} accepted of {s['remote_asked']:.0f} asked; energy of {s['compared']:.0f} "
            f"sessions {s['energy_kwh']:.2f} kWh at the CSMS vs {s['expected_kwh']:.2f} kWh from the EV models "
            f"({s['full']:.0f} reached their target) (ratio {s['energy_ratio']:.3f}); "
            f"CPU {s['cpu_pct_per_cp']:.2f} % of a core per active CP")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cps", type=int, default=100)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of automatic sessions per run")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, choices=(1, 2), default=2, help="2: run again and compare the inputs")
    parser.add_argument("--settings", default="", help="JSON object of auto settings replacing the defaults")
    args = parser.parse_args(argv)
    settings = {**SETTINGS, **(json.loads(args.settings) if args.settings else {})}
    results = []
    for n in range(args.runs):
        print(f"run {n + 1}: {args.cps} charge points, seed {args.seed}, {args.duration:g} s", flush=True)
        results.append(run(args.cps, args.duration, args.seed, settings))
        print(describe(summary(results[-1], args.cps)), flush=True)
    ok = all(r.ended for r in results)
    if len(results) == 2:
        # Inputs planned inside both runs' windows (each plan started before its window did).
        identical, compared = same_inputs(*results, horizon=min(r.elapsed_s for r in results) - 1)
        print(f"same seed, same inputs: {'yes' if identical else 'NO'} ({compared} inputs compared)", flush=True)
        ok = ok and identical and compared > 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
