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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cp_simu.models import AutoSettings, LauncherCommand, LauncherCommandType
from cp_simu.mqtt import MqttClient
from launcher.remote_starts import RemoteStarts

from .common import TOPICS, StatusWatch, boot, stack, wait_for
from .idle import cpu_seconds

# Sessions of a few minutes, so a 10-minute run sees many start and end.
SETTINGS = {"rate": 12.0, "dwell": [60, 240], "tag_delay": [1, 4], "invalid_share": 0.05,
            "mix": {"plug_first": 0.6, "tag_first": 0.3, "remote_start": 0.1}}
VOLTAGE = 230.0  # the fleet's AC charge points (config.ini default), 3 phases


@dataclass
class RunResult:
    inputs: dict[str, list[dict]]  # per charge point, as applied (auto.jsonl without times)
    transactions: list[dict]
    remote_started: int
    remote_failed: int
    cpu_s: float
    elapsed_s: float
    sessions_by_input: dict[str, int] = field(default_factory=dict)

    @property
    def ended(self) -> list[dict]:
        return [t for t in self.transactions if not t["active"] and t.get("meter_stop") is not None]


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def applied_inputs(directory: Path) -> list[dict]:
    """A charge point's auto.jsonl: the inputs it applied, without their wall-clock time."""
    path = directory / "auto.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [{k: v for k, v in line.items() if k != "time"} for line in lines if "seq" in line]


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
            inputs = {i: applied_inputs(s.workdir / "chargepoints" / i) for i in ids}
            return RunResult(inputs, transactions, agent.started, agent.failed, cpu, elapsed)
        finally:
            agent.close()
            client.stop()
            watch.close()


def expected_energy_wh(tx: dict, amps: float, phases: int = 3) -> float:
    """What the meter model says a car drawing `amps` per phase takes between start and stop."""
    start = datetime.fromisoformat(tx["start_time"].replace("Z", "+00:00"))
    stop = datetime.fromisoformat(tx["stop_time"].replace("Z", "+00:00"))
    return VOLTAGE * amps * phases * (stop - start).total_seconds() / 3600.0


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


def summary(r: RunResult, count: int, settings: dict) -> dict[str, float]:
    amps = float(settings.get("car_current", AutoSettings().car_current))
    ended = [t for t in r.ended if t.get("start_time") and t.get("stop_time")]
    measured = sum(t["meter_stop"] - t["meter_start"] for t in ended)
    expected = sum(expected_energy_wh(t, amps) for t in ended)
    applied = sum(len(v) for v in r.inputs.values())
    kinds: dict[str, int] = {}
    for inputs in r.inputs.values():
        for i in inputs:
            kinds[i["kind"]] = kinds.get(i["kind"], 0) + 1
    return {"cps": count, "elapsed_s": r.elapsed_s, "inputs": applied, "plugs": kinds.get("plug", 0),
            "remote_asked": kinds.get("remote_start", 0), "remote_started": r.remote_started,
            "remote_failed": r.remote_failed, "sessions": len(r.transactions), "ended": len(r.ended),
            "energy_kwh": measured / 1000, "expected_kwh": expected / 1000,
            "energy_ratio": measured / expected if expected else 0.0,
            "cpu_pct_per_cp": r.cpu_s / r.elapsed_s / count * 100}


def describe(s: dict[str, float]) -> str:
    return (f"{s['cps']:.0f} CPs for {s['elapsed_s']:.0f} s: {s['inputs']:.0f} inputs applied ({s['plugs']:.0f} cars), "
            f"{s['sessions']:.0f} sessions started and {s['ended']:.0f} ended at the CSMS; remote starts "
            f"{s['remote_started']:.0f} accepted of {s['remote_asked']:.0f} asked; energy {s['energy_kwh']:.1f} kWh "
            f"at the CSMS vs {s['expected_kwh']:.1f} kWh from the car model (ratio {s['energy_ratio']:.3f}); "
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
        print(describe(summary(results[-1], args.cps, settings)), flush=True)
    ok = all(r.ended for r in results)
    if len(results) == 2:
        # Inputs planned inside both runs' windows (each plan started before its window did).
        identical, compared = same_inputs(*results, horizon=min(r.elapsed_s for r in results) - 1)
        print(f"same seed, same inputs: {'yes' if identical else 'NO'} ({compared} inputs compared)", flush=True)
        ok = ok and identical and compared > 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
