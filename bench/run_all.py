"""`make bench`: the performance figures, printed and written to docs/performance.md.

Fleets of 200 / 500 / 1,000 charge points in a process each (forked by the fork server),
200 / 1,000 / 5,000 / 10,000 packed K per process (the last two ramped, with the fairness
sessions on 5,000), on the embedded broker and on Mosquitto, each
with its own broker, demo CSMS and launcher in a temporary directory, all stopped (charge
points included) before the next. About 25 minutes on an idle 2-core machine (10 of them for
the 5,000 and 10,000 fleets; `--max-fleet 1000` leaves those out).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path

import psutil

from cp_simu import __version__

from . import fleet, latency, page_cost, smaps
from .common import scratch_root, stop_cleanly_on_signals
from .fleet import FleetFigures
from .idle import Counter

OUT = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
PACKED = 500  # charge points per packed process

FAIRNESS_FLEET = 5000  # the fleet the p95 car → StartTransaction target is measured on
LARGEST = 10000
# The largest fleet starts at this many charge points per second (a packed process's members
# together): all at once, every part would fight for the two cores and handshakes time out.
LARGEST_RAMP = 40.0
# Its CSMS asks for a heartbeat a minute and its idle window is longer, so every station of it
# is seen heartbeating.
LARGEST_HEARTBEAT, LARGEST_WINDOW = 60, 75.0

# (N, mode, broker, options of fleet.run): the fleets measured, in order.
MATRIX: list[tuple[int, str, str, dict]] = [
    (200, "fork", "embedded", {}), (200, "fork", "mosquitto", {}), (500, "fork", "mosquitto", {}),
    (1000, "fork", "mosquitto", {}), (50, "subprocess", "embedded", {}),
    (200, f"packed {PACKED}", "embedded", {}), (1000, f"packed {PACKED}", "embedded", {}),
    (1000, f"packed {PACKED}", "mosquitto", {}),
    (FAIRNESS_FLEET, f"packed {PACKED}", "mosquitto", {"ramp": LARGEST_RAMP}),
    (LARGEST, f"packed {PACKED}", "mosquitto",
     {"ramp": LARGEST_RAMP, "heartbeat": LARGEST_HEARTBEAT, "window": LARGEST_WINDOW}),
]


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    ram = psutil.virtual_memory().total / 1024**3
    return f"{os.cpu_count()} cores ({cpu}), {ram:.0f} GB RAM, Linux {platform.release()}, " \
           f"Python {platform.python_version()}; a page fault costs {page_cost.fault_us():.1f} µs " \
           "(`python -m bench.page_cost`: what a forked charge point pays for each page it copies)"


class Extras:
    """What the first fleet (200 forked, embedded broker) also measures while it idles."""

    def __init__(self, sessions: int) -> None:
        self.sessions = sessions
        self.latency: dict[str, float] = {}
        self.private: dict[str, float] = {}
        self.mqtt_per_s = 0.0
        self.mqtt_kinds: dict[str, int] = {}

    def __call__(self, s: fleet.Stack, watch: fleet.StatusWatch, ids: list[str]) -> None:
        hosts = sorted(set(s.cp_pids()))
        self.private = smaps.average(hosts[:40])
        counter = Counter(s.broker_url)
        try:
            counter.take()
            t0 = time.monotonic()
            time.sleep(20)
            kinds = counter.take()
            self.mqtt_per_s = sum(kinds.values()) / (time.monotonic() - t0)
            self.mqtt_kinds = dict(kinds)
        finally:
            counter.client.stop()
        self.latency = latency.sessions_on(s, watch, ids, self.sessions)


class Fairness:
    """Sessions one at a time on charge points spread over every packed process of a large
    idle fleet: does one station's car wait for its thousands of neighbours?"""

    def __init__(self, sessions: int) -> None:
        self.sessions = sessions
        self.latency: dict[str, float] = {}

    def __call__(self, s: fleet.Stack, watch: fleet.StatusWatch, ids: list[str]) -> None:
        step = max(1, len(ids) // self.sessions)
        self.latency = latency.sessions_on(s, watch, ids[::step], self.sessions)
        self.latency["fleet"] = len(ids)


def _mb(kb: float) -> str:
    return f"{kb / smaps.KB:.2f} MB"


def large_fleets(runs: list[FleetFigures], fairness: Fairness) -> str:
    """The largest fleet (Accepted, heartbeating, CPU per part, idle cost) and the fairness
    figure, or why they are missing."""
    largest = next((r for r in runs if r.count == LARGEST), None)
    if largest is None:
        text = (f"The {LARGEST:,}-station fleet was not measured in this run (`--max-fleet`, or it failed: "
                "see the boot storm section).")
    else:
        per_cp = {k: v / largest.count * 1000 for k, v in largest.boot_cpu_s.items()}
        text = f"""{largest.count:,} charge points in {largest.processes} packed processes of {PACKED}
(Mosquitto, demo CSMS `--fast`), started by one `start` command with `"ramp": {largest.ramp:g}`
(charge points per second): all **{largest.count:,} Accepted after {largest.accepted_s:.0f} s**
(the ramp alone takes {largest.count / (largest.ramp or 1):.0f} s). CPU per charge point
until then: {", ".join(f"{k} {v:.1f} ms" for k, v in per_cp.items())} (with the heartbeats of
the stations already up meanwhile).
With the CSMS asking for a heartbeat every {largest.heartbeat_s} s, over {largest.idle_window_s:.0f} s
of idling it received **{largest.heartbeats:,} heartbeats from {largest.heartbeating:,} distinct
charge points**, and {largest.accepted_after:,} were still Accepted at the end. Idle CPU:
{largest.idle_mcpu_per_cp:.3f} thousandths of a core per charge point ({largest.idle_cpu_pct:.1f} % of one
core for all of them), the CSMS {largest.csms_idle_cpu_pct:.1f} %, Mosquitto
{largest.broker_idle_cpu_pct:.1f} %. PSS {largest.pss_per_cp_mb * 1024:,.0f} KB per charge point
({largest.total_pss_mb:,.0f} MB in all). Load average {largest.load:.1f} when it started."""
    lat = fairness.latency
    if lat:
        text += f"""

**Fairness**: {lat['sessions']:.0f} sessions one at a time on charge points spread over every
packed process of an idle fleet of {lat['fleet']:,.0f}: car plugged → StartTransaction at the CSMS
p50 {lat['csms_p50_ms']:.0f} ms, **p95 {lat['csms_p95_ms']:.0f} ms** (target ≤ 50 ms); → connector status
`Charging` p50 {lat['status_p50_ms']:.0f} ms, p95 {lat['status_p95_ms']:.0f} ms."""
    else:
        text += f"\n\nThe fairness fleet ({FAIRNESS_FLEET:,} packed) was not measured in this run."
    return text


def render(host: str, load: float, runs: list[FleetFigures], extras: Extras, broker_limits: str,
           failed: list[str], large: str = "") -> str:
    def find(count: int, mode: str, broker: str) -> FleetFigures | None:
        return next((r for r in runs if (r.count, r.mode, r.broker) == (count, mode, broker)), None)

    boot_rows = "\n".join(
        f"| {r.count:,} | {r.mode} | {r.broker} | {r.boots_s:.2f} s | {r.accepted_s:.2f} s | "
        + " / ".join(f"{r.boot_cpu_s.get(k, 0):.1f}" for k in ("charge points", "broker", "csms", "launcher"))
        + f" | {r.load:.1f} |" for r in runs)
    dens_rows = "\n".join(
        f"| {r.count:,} | {r.mode} | {r.broker} | {r.processes:,} | {r.pss_per_cp_mb * 1024:,.0f} KB | "
        f"{r.total_pss_mb:,.0f} MB (+ fork server {r.helper_pss_mb:.0f} MB) |" for r in runs)
    idle_rows = "\n".join(
        f"| {r.count:,} | {r.mode} | {r.broker} | {r.idle_mcpu_per_cp:.3f} | {r.idle_cpu_pct:.1f} % | "
        f"{r.broker_idle_cpu_pct:.1f} % |" for r in runs if r.idle_window_s)
    first = runs[0]
    merged = first.ksm_pss_per_cp_mb is not None and first.ksm_pss_per_cp_mb < 0.9 * first.pss_per_cp_mb
    ksm_text = ("KSM could not be switched on here (not root, or a kernel before 6.4), so it was not "
                "measured." if first.ksm_pss_per_cp_mb is None else
                f"In this run KSM merged nothing within {fleet.KSM_WAIT:.0f} s (its daemon got "
                f"{first.ksmd_cpu_pct or 0:.0f} % of a core on a loaded machine, short of one full scan)."
                if not merged else
                f"With the host's KSM on (`echo 1 > /sys/kernel/mm/ksm/run`, `pages_to_scan` "
        f"{fleet.KSM_SETTINGS['pages_to_scan']}; `make bench` switches it on for this measurement and "
        f"restores the settings), the same {first.count} idle forked charge points came down to "
        f"**{first.ksm_pss_per_cp_mb:.1f} MB PSS each** (from {first.pss_per_cp_mb:.1f} MB) within "
        f"{fleet.KSM_WAIT:.0f} s, for {first.ksmd_cpu_pct or 0:.0f} % of one core spent by the KSM daemon while "
        f"it keeps scanning.")
    ksm_text += f" {KSM_BY_HAND}"
    private = "\n".join(f"| {k} | {_mb(v)} |" for k, v in sorted(extras.private.items(), key=lambda kv: -kv[1])
                        if v >= 10)
    kinds = ", ".join(f"{v} × `{k}`" for k, v in sorted(extras.mqtt_kinds.items())) or "none"
    lat = extras.latency
    fork200 = find(200, "fork", "embedded") or first
    ten_k = find(10000, f"packed {PACKED}", "mosquitto")
    fastest = {n: min((r for r in runs if (r.count, r.mode) == (n, "fork")), key=lambda r: r.accepted_s,
                      default=None) for n in (200, 500)}
    best_boot = {n: "not measured" if r is None else f"{r.accepted_s:.1f} s" for n, r in fastest.items()}
    best_200 = best_boot[200] + (f" ({fastest[200].broker} broker)" if fastest[200] else "")
    failed_text = ("\nFleets that did not reach `Accepted` in this run: " + "; ".join(failed) + ".\n"
                   if failed else "")
    text = f"""# Performance

Measured by `make bench` (`python -m bench.run_all`) on {datetime.date.today().isoformat()}, ocpp-simu
{__version__}. Machine: {host}; load average **{load:.1f}** when the run started (each fleet's
own is in the tables){" — the machine was shared with other work, so times and CPU are inflated"
if load > 2 else ""}. Re-run `make bench` on an idle machine to measure yours (about 25 minutes;
`python -m bench.fleet N [--cps-per-process K] [--broker mosquitto] [--ksm]` measures one fleet).

Every figure comes from real processes: the broker (the embedded amqtt one, or Mosquitto), the
demo CSMS, the launcher, its fork server and the charge points, all on this one machine and
competing for its cores. Their instance directories were in `{scratch_root()}` (tmpfs by
default: on this machine's ext4 disk, creating one cost from 0.1 to 6.6 ms of CPU depending on
the directory's history, which would measure the disk, not the simulator; `OCPP_SIMU_BENCH_DIR`
puts them elsewhere).

## Compared with the reference

| | ocpp-simu (this machine) | reference C++ simulator (open-ocpp-simu) |
|---|---|---|
| 200 CPs Accepted after one start command | {best_200} | 9.7 s |
| memory per idle CP, a process each (PSS) | {fork200.pss_per_cp_mb:.1f} MB{
f" ({fork200.ksm_pss_per_cp_mb:.1f} MB with KSM)" if merged and fork200 is first else ""} | 3.6 MB |
| memory per idle CP, packed (PSS) | {(ten_k or runs[-1]).pss_per_cp_mb * 1024:.0f} KB | – |
| car plugged → charging | p95 {lat.get('status_p95_ms', 0):.0f} ms | ~0.6 s (500 ms polling loop) |
| MQTT traffic of 200 idle CPs | {extras.mqtt_per_s:.1f} msg/s | ~400 msg/s (each connector republished twice \
a second) |

The reference's figures were measured for this project on the reference simulator; `make bench`
does not re-measure them.

## Boot storm

One `start` command for N charge points (demo CSMS); seconds from the command's publication
until the CSMS received N BootNotifications, and until N retained statuses said `Accepted`;
the CPU seconds each part spent until then. Targets (a process per charge point, forked):
200 Accepted in ≤ 3 s (best here: {best_boot[200]}), 500 in ≤ 7 s (here: {best_boot[500]}): at or
beyond what this machine allows, see [the floor of a forked boot](#the-floor-of-a-forked-boot).

| N | mode | broker | N boots | N Accepted | CPU s: charge points / broker / CSMS / launcher | load |
|---|---|---|---|---|---|---|
{boot_rows}

Modes: `fork` is the default (a process per charge point, forked by the launcher's preloaded
fork server, a whole command behind a gate); `subprocess` starts `python -m chargepoint` per
charge point; `packed K` hosts up to K charge points per process (`--cps-per-process K`).
A start is CPU-bound: every charge point's start-up, the broker and the CSMS share the two
cores, so the sum of the CPU column over the cores is the floor of the boot time. During a
500-CP forked storm both cores stay busy from the command to the last `Accepted` (`/proc/stat`:
idle under 5 %), and the parts' CPU adds up to it; the rest is this benchmark's own status
watcher and the kernel's `kdamond` (4 % of a system-wide `perf record -a`). The CPU figures are
read from each process's CPU-time clock: `/proc/<pid>/stat`, which psutil reads, truncates a
process's user and system time to 10 ms each, and lost about a third of a forked charge
point's start in this table before 2026-11-27.

{broker_limits}
{failed_text}
{BOOT_SPREAD}

A `start` command's `"ramp": N` (or `up --ramp N`) spreads the starts at N per second instead.

{BOOT_BY_HAND}

## Density

Memory of the idle fleet (`/proc/<pid>/smaps`): PSS counts a page shared by n processes as
1/n, so it is what one more charge point really costs.

| N | mode | broker | processes | PSS per CP | total PSS |
|---|---|---|---|---|---|
{dens_rows}

### Where a forked charge point's memory goes

Private memory of one idle forked charge point (mean of 40, fleet of {first.count}), per kind
of mapping (`python -m bench.cp_memory`):

| mapping | private |
|---|---|
{private}

Almost all of it is pages of the fork server's heap that the child wrote to (copy-on-write):
its own new objects take a few hundred kB (the child's `sys.getallocatedblocks()` grows by
~1,500 blocks over its boot). CPython 3.11 writes to every object a process merely uses (its
reference count), so a page is copied as soon as the child touches any object on it: 4 kB
for a 32-byte object. Comparing the child's page frames with the fork server's
(`/proc/<pid>/pagemap`) and listing the fork server's objects per page showed that the
copied pages are those holding the code, constants, functions, classes and module data of
the code paths a charge point runs (its own package, asyncio, websockets, paho, ocpp, click,
configparser, logging): from half to three quarters of the pages holding each of those
libraries' code (44 % for click, 56 % for asyncio and the charge point's own package, 77 %
for paho), because their objects share pages with everything else imported with them.
What did not help: a garbage collector frozen (`gc.freeze`) or left off in the children (no
change: the frozen objects are not traversed anyway), `MALLOC_ARENA_MAX=1`; the paho
thread's stack takes only 20–40 kB, so a smaller thread stack cannot help either. What helped: the fork server runs a
charge point's code paths before forking (`chargepoint.preload`, −0.8 MB: the bytecode the
children run is already specialised, the libraries' caches already filled).

What takes a charge point below 6 MB (a bare station already takes 7.2 to 7.6 MB, see
[the floor of a forked boot](#the-floor-of-a-forked-boot)) is kernel same-page merging: most copied pages are
identical again to the fork server's once the reference counts went back down, and the
fork server (so every charge point it forks) opts into merging (`prctl(PR_SET_MEMORY_MERGE)`,
Linux ≥ 6.4). Whether the kernel merges is the host's choice; `launcher --ksm` (root) switches it
on while the launcher runs ([page merging](launcher.md#page-merging-ksm)). {ksm_text} For larger fleets,
packed mode shares one interpreter among K charge points.

## Idle cost

Booted fleets, no car, over a {first.idle_window_s:.0f} s window; the demo CSMS gives a
HeartbeatInterval of 300 s (its default).

| N | mode | broker | CPU per CP (thousandths of a core) | all CP processes | broker |
|---|---|---|---|---|---|
{idle_rows}

MQTT traffic of {first.count} idle charge points: {extras.mqtt_per_s:.2f} msg/s ({kinds}). Connector
statuses are published on change only; the only traffic is each heartbeat and its answer on
the OCPP message log topic.

## Command latency

A car plugged in over MQTT (`…/connectors/1/car`, its id tag already presented and
authorized) → the StartTransaction at the CSMS (journal time) and → the retained connector
status saying `Charging` (as a subscriber receives it); {lat.get('sessions', 0)} sessions, one at a
time, on distinct charge points of the fleet of {first.count}. Target: p95 ≤ 100 ms.

| | p50 | p95 |
|---|---|---|
| car → StartTransaction at the CSMS | {lat.get('csms_p50_ms', 0):.0f} ms | {lat.get('csms_p95_ms', 0):.0f} ms |
| car → connector status Charging | {lat.get('status_p50_ms', 0):.0f} ms | {lat.get('status_p95_ms', 0):.0f} ms |

## {LARGEST:,} charge points

{large}

{OCPP201}
{LOAD}"""
    return re.sub(r"\n{3,}", "\n\n", text)  # an empty part leaves no gap of two blank lines


# Measured by hand after a `make bench` run (`python -m bench.fleet 200 --broker mosquitto --window 0`).
BOOT_SPREAD = """A boot storm's time varies from run to run on this virtual machine, more than its CPU
figures suggest: around the run above (at 53226a7 and at the code before that day's changes, instance
directories on tmpfs), seven more 200-CP forked boots on Mosquitto took 4.0 to 5.5 s to
`Accepted` (the four whose CPU was read exactly: charge points 6.2 to 8.3 CPU s); in the previous run of this
benchmark, earlier the same day, the same boot took 3.4 s and eight runs after it 3.8 to
4.9 s. A 500-CP boot took 9.8 to 13.5 s across that day's runs.
"""

# Measured separately (`python -m bench.boot_cost 40`).
BOOT_BY_HAND = """### Where a forked charge point's start goes

Measured by hand on 2026-11-27 (`python -m bench.boot_cost 40`: a fork server's preparation,
then 40 charge points forked one after the other against Mosquitto and the demo CSMS, each
measuring its own CPU time and minor page faults from the fork until it was `Accepted`; idle
machine, load average 0.8), mean per charge point:

| phase | CPU ms | of it system | page faults |
|---|---|---|---|
| forked, until it reads its config.ini | 1.1 | 0.6 | 171 |
| config.ini read | 3.6 | 2.3 | 414 |
| logging set up, process title, marker written | 2.2 | 1.5 | 238 |
| event loop, signal handlers | 1.7 | 1.2 | 211 |
| `Station` built, first status, MQTT client and thread started | 5.4 | 3.6 | 532 |
| WebSocket, BootNotification, until `Accepted` | 12.5 | 6.1 | 753 |
| **total** | **26.4** | **15.3** | **2,318** |

Most of the system time is page faults: a child copies every 4 kB page of the fork server's
it writes to (5 to 6 µs a page on this virtual machine, a page copied or a new one alike;
`python -m bench.page_cost` measures yours), and CPython 3.11 writes to every object it
merely uses (its reference count). Where a fault costs 1 µs, the same 2,300 faults would
take about 2.3 ms instead of about 12 ms (an estimate: the faults' count times their cost). On its way to
`Accepted` a child runs some 850 different functions (asyncio, websockets, paho, logging,
ocpp, its own), each touching the pages that hold its code, constants and globals. A
system-wide profile of a 200-CP boot storm (`perf record -a`) puts the charge points' CPU at
55 % in the interpreter, about 30 % in page faults and the rest in socket and file calls;
the fork server's at two thirds in `fork()` itself.

The least a station must do (`python -m bench.boot_cost 40 --bare`: an MQTT client with its will
and a retained status, a WebSocket and a BootNotification through the `ocpp` library; no
configuration, log, file or `Station`) took 16.1 ms of CPU and 1,542 page faults on 2026-11-27,
against 25.8 ms and 2,351 for a charge point in the same run (idle machine): the charge
point's own start-up (configuration, logs, marker, state, connectors) adds about 10 ms, and
what the libraries and the kernel need to connect and be accepted is the other 16 ms. In a
boot storm a charge point costs more (6.9 CPU s for 200 in the table above, 35 ms each), so two hundred
would need about 3.2 CPU seconds (1.6 s of both cores) even as bare stations, and 6 to 7 as
charge points, before the launcher, the CSMS and the broker are counted.

Code left out moves those copies more than it removes them: a child that gets its instance
directory directly instead of parsing a command line with click copies about 9 % fewer
pages (2,550 before), and reading each config.ini in the fork server before the fork saved
nothing measurable (the pages it spared were copied by the code that followed) while it
delayed every fork, so the child reads its own. Tried and not kept: prefaulting, right after
the fork and in one call (`madvise(MADV_POPULATE_WRITE)`), the 2,480 pages a first child
had copied (read from its `/proc/self/pagemap`) took as long per page as the faults it
replaced (15 ms for them), so the cost is the copy itself, not the trap; and giving the 855
functions a child runs fresh code objects packed together in the fork server (then warming
them up again) cut the faults by 9 % (2,360 to 2,140) and the start by 1 to 2 ms, too little
for rebinding the code of 1,250 library functions; and a forked charge point on the MQTT path
packed processes use (the client driven by the event loop, no thread) started in 34 ms against
25 to 28 ms with its thread (`bench.boot_cost 30`, 2026-11-27, machine shared), since it runs
the packed host's code around it.

The launcher's side: it writes an instance directory in 0.5 ms of CPU (3 ms while it rebuilt
the whole template's INI for each one) on tmpfs or a healthy disk, and its collector no
longer rescans its start-up heap (`gc.freeze` once ready, as the demo CSMS does: their
collections took 8 to 9 % of their CPU in a boot storm, 0.2 to 4 % after). A fork costs the
fork server about 2 ms (2.5 to 4 ms before its heap was moved into huge pages, which the
fork copies one page-table entry per 2 MB of instead of per 4 kB), so a start of 32 or more
charge points is forked by one process per core: the fork server forks short-lived copies
of itself that each fork a share of the batch behind the same gate.
### The floor of a forked boot

How fast could any forked fleet boot here? `python -m bench.boot_cost N --storm` forks N
charge points from a prepared fork server behind one gate, as the launcher does for one
`start` command, against Mosquitto and the demo CSMS (`--fast`), and times them from the
first fork until the last is `Accepted`; `--bare` forks instead the least a station can be
(an MQTT client with its will and status, a WebSocket, a BootNotification and the two
StatusNotifications it owes after it, through the same libraries; no configuration, log,
file or state). Runs of 2026-11-28, one after the other, the machine otherwise idle:

| N | forked | all Accepted | CPU per station (all of it, until then) | idle PSS per station |
|---|---|---|---|---|
| 200 | charge points (8 runs) | 3.7 to 4.7 s | 31 to 39 ms | 10.5 MB |
| 200 | bare stations (6 runs) | 2.6 to 3.3 s | 19 to 25 ms | 7.2 to 7.4 MB |
| 500 | charge points (5 runs) | 11.4 to 15.2 s | 36 to 50 ms | 10.4 to 10.5 MB |
| 500 | bare stations (5 runs) | 6.8 to 9.6 s | 20 to 30 ms | 7.5 to 7.6 MB |

So the boot targets of a process per charge point (200 in 3 s, 500 in 7 s) are at or beyond
what this machine allows with CPython 3.11 and these libraries: a fleet of bare stations,
which keep no configuration, log or state and publish nothing but their own status, needs
2.6 to 3.3 s for 200 and 6.8 to 9.6 s for 500. A charge point does what a user needs on top
(its instance directory, logs, persistent state, connector statuses, the OCPP message log),
which in a 200-CP storm costs about 12 ms more per station (31 to 39 ms against 19 to 25;
one at a time, `python -m bench.boot_cost 30 --settle 1`: 35 ms from the fork until a second
after `Accepted`, 6 ms of it after `Accepted`: StatusNotifications, retained statuses, the
state file), and at 500 at once a charge point costs more again (36 to 50 ms) while a bare
station does not. Letting only 8, 16 or 32 of a start's
charge points boot at a time (a token each, returned at `Accepted`) did not change a
500-CP storm (12.4 to 14.6 s against 11.4 to 15.2 s without) and was not kept. The same
holds for memory: a bare station's 7.2 to 7.6 MB PSS is above the 6 MB a process per charge
point was meant to stay under; only the kernel's page merging (KSM, below) gets there.
"""


KSM_BY_HAND = ("Measured by hand on 2026-11-27 (`bench.cp_memory`'s fleet with KSM switched on, load "
               "average 10 to 18): 200 idle forked charge points went from 10.2 to 3.5 MB PSS each about "
               "100 s after KSM started, its daemon using about 10 % of one core (`pages_to_scan` 1000).")

# Measured separately (`python -m bench.chargepoint_cost`, `python -m bench.density 50 --ocpp-version V`).
OCPP201 = """## OCPP 2.0.1 next to 1.6

Measured on 2026-11-27 on the same machine, shared with other work (load average about 8 on
its 2 cores, so absolute times are inflated; the two versions ran back to back under the same
load). One charge point, AC, one connector, started as `python -m chargepoint`, medians of
3 runs (`python -m bench.chargepoint_cost --ocpp-version V`); fleets of 50 started by the
launcher in fork mode (`python -m bench.density 50 --ocpp-version V`).

| | OCPP 1.6 | OCPP 2.0.1 |
|---|---|---|
| process start → BootNotification at the CSMS | 3.02 s | 3.89 s |
| id tag (car plugged) → StartTransaction / TransactionEvent Started at the CSMS | 10 ms | 26 ms |
| PSS idle / charging, alone (subprocess) | 31.4 / 31.5 MB | 34.7 / 34.9 MB |
| CPU time (start, 1 s idle, 5 s charging with meter values every second) | 0.89 s | 1.01 s |
| PSS per CP in a fork-mode fleet of 50 | 10.9 MB | 13.0 MB |

What a 2.0.1 station pays more: the `ocpp.v201` messages and their larger schemas, and its
device model (about 110 variables, loaded from `device_model.json`, checked against its
schema and written back at the first start). The start of a transaction also sends
StatusNotification and NotifyEvent next to the TransactionEvent.

A process imports only the version it speaks (a 1.6 charge point never loads `ocpp.v201` nor
`chargepoint.ocpp201`, and the reverse; `tests/chargepoint/test_ocpp201.py` checks it). The
fork server imports both, so that either kind of child finds them in shared pages, but warms
up only the 1.6 code paths: also running 2.0.1 sessions there made every 2.0.1 child 0.4 MB
lighter but every 1.6 child 0.3 MB heavier (code specialised for both), and 2.0.1 must not
make 1.6 charge points heavier.
"""


# Measured separately (`python -m bench.auto_run`, `python -m bench.metrics_load`, `python -m bench.packed`).
LOAD = """## Automatic load, call statistics, large packed fleets

Measured on 2026-11-27 on the same machine while it was shared with other work (load average
15 to 30 on its 2 cores), so CPU figures are upper bounds.

**Automatic sessions** (`python -m bench.auto_run`: 100 charge points, demo CSMS, 10 minutes,
seed 42, twice; [details](automatic-sessions.md#benchmark)): 138 and 135 sessions started and
ended at the CSMS; the energy it was told about matched the EV models' (46.20 / 46.23 kWh and
44.11 / 44.13 kWh); the 384 inputs planned inside both windows were identical. **CPU per active
charge point: 0.09–0.10 % of a core.**

**Call statistics** (`python -m bench.metrics_load`): an idle fleet (20 charge points, 40
heartbeats in 10 s, automatic sessions off) published **no statistics message** (its only MQTT
traffic was each heartbeat's frames on the OCPP message log topic, as before). Under scripted
sessions (40 charge points, about 30 sessions at a time, 120 s) all charge point processes
together used 11.6 % of one core: 0.29 % per charge point, 0.39 % per running session.

**Packed fleets** (`python -m bench.packed N --cps-per-process K`, Mosquitto, demo CSMS;
[details](launcher.md#packed-processes)): 2,000 charge points in 2 processes of 1,000 all
Accepted in 165 s (34 ms of CPU each, at a load of 23), 148 KB PSS per charge point, 19.8 % of
one core idle for all 2,000 (30 s heartbeats, MQTT keep-alives, WebSocket pings), car →
StartTransaction p50 18 ms, p95 68 ms. An earlier 10,000-station run did not boot: about
1,440 stations were Accepted within 4 minutes, then the demo CSMS fell behind, every packed
process kept 64 handshakes in flight, and the CSMS answered them after the stations had given
up (a standstill). What changed since (see the 10,000 section): the demo CSMS validates in its
loop's thread and, with `--fast`, sends no pings of its own (the stations ping); a packed
process boots 16 members at a time, each until its first attempt ends; idle MQTT connections
wake only for their pings; the fleet starts at a ramp. `--max-fleet 1000` skips the 5,000 and
10,000 fleets.
"""


def broker_verdict(runs: list[FleetFigures]) -> str:
    """Which broker limits, from the CPU each spent on the same boot."""
    pairs = []
    for r in runs:
        if r.broker != "embedded":
            continue
        other = next((o for o in runs if (o.count, o.mode, o.broker) == (r.count, r.mode, "mosquitto")), None)
        if other:
            pairs.append((r, other))
    if not pairs:
        return ""
    text = "; ".join(f"{r.count:,} {r.mode}: embedded {r.boot_cpu_s.get('broker', 0):.1f} CPU s and "
                     f"{r.accepted_s:.1f} s to Accepted, Mosquitto {o.boot_cpu_s.get('broker', 0):.1f} CPU s and "
                     f"{o.accepted_s:.1f} s" for r, o in pairs)
    return (f"The embedded broker (amqtt, pure Python) is the limit: on the same fleets ({text}). "
            "It matches every published topic against every subscribed filter and every new "
            "subscription against every retained message, so its cost grows with the square of the "
            "fleet; Mosquitto's stays negligible. Large fleets belong on Mosquitto (or EMQX).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-fleet", type=int, default=10000, help="skip the fleets larger than this")
    parser.add_argument("--sessions", type=int, default=50, help="command latency sessions")
    parser.add_argument("--output", type=Path, default=OUT)
    args = parser.parse_args()
    stop_cleanly_on_signals()
    host, load = machine(), os.getloadavg()[0]
    has_mosquitto = bool(shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists())
    extras, fairness = Extras(args.sessions), Fairness(args.sessions)
    runs: list[FleetFigures] = []
    failed: list[str] = []
    for count, mode, broker, options in MATRIX:
        if count > args.max_fleet or (broker == "mosquitto" and not has_mosquitto):
            continue
        first = not runs
        then = extras if first else fairness if count == FAIRNESS_FLEET else None
        try:
            figures = fleet.run(count, mode, broker, **{"window": 30.0 if count >= 200 else 0.0, **options},
                                with_ksm=first, then=then)
        except (TimeoutError, RuntimeError, OSError) as exc:  # the other fleets' figures still count
            failed.append(f"{count:,} charge points, {mode}, {broker} broker: {exc}")
            print(f"fleet N={count} ({mode}, {broker} broker) failed: {exc}", flush=True)
            continue
        runs.append(figures)
        print(figures.describe(), flush=True)
    if extras.latency:
        print(latency.describe(extras.latency), flush=True)
    if fairness.latency:
        print(latency.describe(fairness.latency), flush=True)
    args.output.write_text(render(host, load, runs, extras, broker_verdict(runs), failed,
                                  large_fleets(runs, fairness)))
    print(f"written to {args.output}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
