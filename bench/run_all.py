"""`make bench`: every launcher benchmark, printed and written to docs/performance.md.

Each benchmark starts its own embedded broker, demo CSMS and launcher in a temporary
directory and stops all of it (charge points included) before the next one.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import sys
from pathlib import Path

import psutil

from cp_simu import __version__

from . import boot_storm, density, idle, latency

OUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"

REFERENCE = """\
| | ocpp-simu (this machine) | reference C++ simulator (open-ocpp-simu) |
|---|---|---|
| 200 CPs Accepted after one start command | {boot200:.1f} s | 9.7 s |
| memory per idle CP (PSS) | {pss:.1f} MB | 3.6 MB |
| car plugged → charging | p95 {status_p95:.0f} ms | ~0.6 s (500 ms polling loop) |
| MQTT traffic of 200 idle CPs | {idle_mqtt:.1f} msg/s (heartbeats' effects) | ~400 msg/s (each connector \
republished twice a second) |
"""


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    ram = psutil.virtual_memory().total / 1024**3
    return (f"{os.cpu_count()} cores ({cpu}), {ram:.0f} GB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}; load average {os.getloadavg()[0]:.1f} when the run started")


def render(host: str, boots: list[dict], boot_sub: dict | None, dens: dict, dens_sub: dict | None,
           lat: dict, idl: dict) -> str:
    boot_rows = "\n".join(f"| {b['count']} | {b['boots_s']:.2f} s | {b['accepted_s']:.2f} s | fork |"
                          for b in boots)
    if boot_sub:
        boot_rows += (f"\n| {boot_sub['count']} | {boot_sub['boots_s']:.2f} s | {boot_sub['accepted_s']:.2f} s "
                      "| subprocess |")
    dens_rows = (f"| fork | {dens['count']} | {dens['rss_mb']:.1f} MB | {dens['uss_mb']:.1f} MB | "
                 f"{dens['pss_mb']:.1f} MB | {dens['total_pss_mb']:.0f} MB (+ fork server "
                 f"{dens['helper_pss_mb']:.0f} MB) |")
    if dens_sub:
        dens_rows += (f"\n| subprocess | {dens_sub['count']} | {dens_sub['rss_mb']:.1f} MB | "
                      f"{dens_sub['uss_mb']:.1f} MB | {dens_sub['pss_mb']:.1f} MB | "
                      f"{dens_sub['total_pss_mb']:.0f} MB |")
    boot200 = next((b["accepted_s"] for b in boots if b["count"] == 200), boots[-1]["accepted_s"])
    kinds = ", ".join(f"{v} × `{k}`" for k, v in sorted(idl["mqtt_kinds"].items())) or "none"
    return f"""# Performance

Measured by `make bench` (`python -m bench.run_all`) on {datetime.date.today().isoformat()}, ocpp-simu {__version__}.
Machine: {host}.

Every figure comes from real processes: the embedded MQTT broker (amqtt), the demo CSMS,
the launcher and its charge points, all on this one machine and competing for its cores.
Re-run `make bench` to measure yours.

## Compared with the reference

{REFERENCE.format(boot200=boot200, pss=dens['pss_mb'], status_p95=lat['status_p95_ms'],
                  idle_mqtt=idl['mqtt_per_s'])}
The reference's charge points are C++ processes (hence their small footprint). Its figures
were measured for this project on the reference simulator; `make bench` does not re-measure them.

## Boot storm

One `start` command for N charge points (demo CSMS, embedded broker); seconds from the
command's publication until the CSMS received N BootNotifications, and until N retained
statuses said `Accepted`. Target: 200 CPs Accepted in ≤ 10 s.

| N | N BootNotifications | N Accepted | spawn mode |
|---|---|---|---|
{boot_rows}

The fork server forks a whole command's charge points behind a gate (each child waits
until all are forked), so the forks take a fraction of a second; the rest is CPU: every
CP's start-up (~30–45 ms of CPU), the broker and the CSMS share the cores.

## Density

Memory of each idle charge point process with N running (`/proc/<pid>/smaps`). PSS
counts a shared page as 1/sharers: what one more CP really costs. Target: ≤ 10 MB PSS.

| spawn mode | N | RSS | USS | PSS | total PSS |
|---|---|---|---|---|---|
{dens_rows}

Forked from the preloaded helper, a CP shares the interpreter, every imported library and
the OCPP schema validators with its siblings; what remains private (USS) is almost only
pages of that shared heap which the CP wrote to: in CPython 3.11 every object a process
uses has its reference count written and every function it runs has its bytecode
specialised in place, so running the CP's code paths copies the pages they touch (about
10 MB), even with the helper's garbage collector disabled and its objects frozen
(`gc.freeze`) before forking. The CP's own allocations are a few hundred kB. A CP started
as a fresh `python -m chargepoint` (subprocess mode) pays for all of its imports alone.

## Command latency

A car plugged in over MQTT (`…/connectors/1/car`, its id tag already presented and
authorized) → the StartTransaction at the CSMS (journal time) and → the retained
connector status saying `Charging` (as a subscriber receives it); {lat['sessions']}
sessions, one at a time, on distinct CPs of a fleet of {lat['fleet']}. Target: p95 ≤ 100 ms.

| | p50 | p95 |
|---|---|---|
| car → StartTransaction at the CSMS | {lat['csms_p50_ms']:.0f} ms | {lat['csms_p95_ms']:.0f} ms |
| car → connector status Charging | {lat['status_p50_ms']:.0f} ms | {lat['status_p95_ms']:.0f} ms |

## Idle cost

{idl['count']} booted charge points, no car, measured over {idl['window_s']:.0f} s after a 10 s settle; the
demo CSMS gives a HeartbeatInterval of {idl['heartbeat_s']} s.

| | |
|---|---|
| CPU of all CP processes | {idl['cpu_pct']:.1f} % of one core ({idl['cpu_pct'] / idl['count'] * 1000:.0f} m% per CP) |
| CPU of the broker | {idl['broker_cpu_pct']:.1f} % of one core |
| MQTT messages | {idl['mqtt_per_s']:.2f} msg/s: {kinds} |
| OCPP calls to the CSMS | {idl['ocpp_per_s']:.2f}/s (heartbeats) |

Connector statuses are published on change only, so an idle fleet sends no status at
all; the only traffic is each heartbeat and its answer on the OCPP message log topic.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(boot_storm.SIZES),
                        help="boot storm fleet sizes")
    parser.add_argument("--fleet", type=int, default=200, help="fleet for density, latency and idle")
    parser.add_argument("--no-subprocess", action="store_true", help="skip the subprocess-mode comparisons")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    host = machine()  # before the benchmarks load the machine

    def step(text: str) -> None:
        print(text, flush=True)

    boots = []
    for n in args.sizes:
        boots.append(boot_storm.measure(n))
        step(f"boot storm N={n}: {boots[-1]['boots_s']:.2f} s to boots, {boots[-1]['accepted_s']:.2f} s to Accepted")
    boot_sub = None if args.no_subprocess else boot_storm.measure(50, "subprocess")
    if boot_sub:
        step(f"boot storm N=50 subprocess: {boot_sub['accepted_s']:.2f} s to Accepted")
    dens = density.measure(args.fleet)
    step(density.describe(dens))
    dens_sub = None if args.no_subprocess else density.measure(50, "subprocess")
    if dens_sub:
        step(density.describe(dens_sub))
    lat = latency.measure(args.fleet, 50)
    step(latency.describe(lat))
    idl = idle.measure(args.fleet)
    step(idle.describe(idl))
    args.output.write_text(render(host, boots, boot_sub, dens, dens_sub, lat, idl))
    step(f"written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
