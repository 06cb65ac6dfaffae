"""Where a forked charge point's start goes: CPU and page faults, phase by phase.

This process does what the launcher's fork server does (imports, warm-up, huge pages,
`gc.freeze`), then forks N charge points one after the other against a private broker and
the demo CSMS. Each child measures its own CPU time and minor page faults (each one a 4 kB
page copied from the fork server or newly allocated) at the start of each phase until the
CSMS accepted it, then exits. Printed: the mean per phase and the total, and the child's
user / system split (system time there is almost all page faults).

`--bare` forks, instead of charge points, the least a station must do to be Accepted and seen
on MQTT: an MQTT client with its will and a retained status, a WebSocket and a
BootNotification through the `ocpp` library, with no configuration, log, file or `Station`.
The difference to a charge point is what its own start-up adds.

`--storm` forks all N at once behind one gate, as the launcher's fork server does for one
start command, and times them from the first fork until the last is Accepted; they keep
running meanwhile (a bare station sends the StatusNotifications of connectors 0 and 1 it owes
after its boot), so what a fleet does after its first boots competes with the later ones.
Printed besides: all their CPU, the forking's and the CSMS's, and their idle PSS. With
`--bare` that is the floor of a forked fleet's boot on this machine: no charge point doing
more than connecting and booting can start faster.

`--settle S` (one at a time): a charge point's phases go on S seconds after its Accepted.

    python -m bench.boot_cost [N] [--bare] [--storm | --settle S]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import itertools
import json
import os
import resource
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import smaps
from bench.common import TOPICS, cpu_seconds, free_port, private_broker, scratch, served
from cp_simu import hugepages
from cp_simu.config import load_config
from cp_simu.models import ChargePointDefinition
from launcher import spawner
from launcher.instances import Instances

IDLE_AFTER = 2.0  # s after a storm's last Accepted until its memory is read
Mark = tuple[str, float, float, float, int]  # phase, CPU s, user s, system s, minor faults


def _mark(marks: list[Mark], phase: str) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    marks.append((phase, time.process_time(), usage.ru_utime, usage.ru_stime, usage.ru_minflt))


def _phase(marks: list[Mark], owner: Any, name: str, phase: str, then: str) -> None:
    """A call of `owner.name` is `phase`; what runs after it until the next mark is `then`."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def marked(*args: Any, **kwargs: Any) -> Any:
        _mark(marks, phase)
        try:
            return original(*args, **kwargs)
        finally:
            _mark(marks, then)

    setattr(owner, name, marked)


def _report(marks: list[Mark], report: int, stay: bool) -> None:
    """Send the marks (one line on `report`, whole: under PIPE_BUF); exit unless `stay`."""
    _mark(marks, "end")
    os.write(report, json.dumps({"at": time.time(), "marks": marks}).encode() + b"\n")
    if not stay:
        os._exit(0)


def _child(path: Path, broker: str, report: int, settle: float, storm: bool) -> None:
    """In the forked child: run the charge point with phase marks; at Accepted (or `settle`
    seconds later), report and exit; in a storm, report at Accepted and keep running."""
    import chargepoint.cli as cli
    import chargepoint.mqtt_api as mqtt_api
    import chargepoint.station as station

    marks: list[Mark] = []
    _mark(marks, "forked, until it reads its config")
    for owner, name, phase, then in (
            (cli, "load_instance", "config.ini read", "process title"),
            (cli, "_setup_logging", "logging set up", "-"),
            (cli, "write_marker", "process marker written", "event loop, signal handlers"),
            (station.Station, "__init__", "Station built", "first status, MQTT client made"),
            (mqtt_api.MqttApi, "start", "MQTT thread started", "WebSocket, BootNotification → Accepted")):
        _phase(marks, owner, name, phase, then)
    registered: Callable[..., None] = station.Station.set_registration

    def set_registration(self: Any, status: str, reason: str = "") -> None:
        if status == "Accepted" and not any(mark[0] == "end" for mark in marks):
            if storm or not settle:
                _report(marks, report, storm)
            else:
                _mark(marks, f"Accepted, {settle:g} s on")
                threading.Timer(settle, _report, (marks, report, False)).start()
        registered(self, status, reason)

    station.Station.set_registration = set_registration  # type: ignore[method-assign]
    out = os.open(path / "stdout.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.chdir(path)
    gc.enable()
    os._exit(cli.run_instances([path], broker))


def _bare_child(csms: str, broker: str, report: int, storm: bool) -> None:
    """In the forked child: `--bare`'s station, with phase marks; reports at Accepted and exits.
    In a storm it then sends the StatusNotifications a station owes after its boot (connector
    0 and 1) and idles until killed."""
    import asyncio

    from ocpp.v16 import ChargePoint, call
    from websockets.asyncio.client import connect

    from cp_simu.mqtt import MqttClient

    marks: list[Mark] = []
    cp_id = f"BARE{os.getpid()}"
    _mark(marks, "forked; MQTT connected, will, status")

    async def boot() -> None:
        mqtt = MqttClient(broker, f"cp_simu-cp-{cp_id}")
        mqtt.set_will(TOPICS.cp_status(cp_id), json.dumps({"status": "Dead"}))
        mqtt.connect()
        mqtt.publish_state(TOPICS.cp_status(cp_id), json.dumps({"status": "Disconnected"}))
        _mark(marks, "WebSocket, BootNotification → Accepted")
        async with connect(f"{csms}{cp_id}", subprotocols=["ocpp1.6"]) as ws:
            station = ChargePoint(cp_id, ws)
            listening = asyncio.create_task(station.start())
            answer = await station.call(call.BootNotification(charge_point_model="Bare", charge_point_vendor="Bench"))
            mqtt.publish_state(TOPICS.cp_status(cp_id), json.dumps({"status": answer.status}))
            _report(marks, report, storm)
            for connector in (0, 1):
                await station.call(call.StatusNotification(connector_id=connector, error_code="NoError",
                                                           status="Available"))
            await listening

    gc.enable()
    asyncio.run(boot())


def _prepare() -> None:
    """This process becomes what the launcher's fork server is once ready."""
    spawner._preload()
    for _ in spawner._warm_up():
        pass
    hugepages.collapse()
    gc.disable()
    gc.freeze()


def _instances(count: int, broker: str, csms: str, workdir: Path) -> list[Path]:
    template = load_config(None)
    instances = Instances(workdir)
    return [instances.create(ChargePointDefinition.from_dict({"id": f"BOOT{n:04d}", "central_system": csms},
                                                             template.definition_defaults()),
                             template, broker, "cp_simu", fresh=True)
            for n in range(count)]


def _fork(path: Path, broker: str, csms: str, report: int, *, bare: bool, settle: float = 0.0,
          storm: bool = False, gate: tuple[int, int] | None = None) -> int:
    pid = os.fork()
    if pid == 0:
        if gate:  # opens (EOF) once every write end is closed: the parent's, after the last fork
            os.close(gate[1])
            os.read(gate[0], 1)
        if bare:
            _bare_child(csms, broker, report, storm)
        _child(path, broker, report, settle, storm)
    return pid


def _add(totals: dict[str, list[float]], marks: list[Mark]) -> None:
    """Add one child's phases to `totals`: (CPU ms, user ms, system ms, faults) per phase."""
    for (phase, *start), (_next, *end) in itertools.pairwise(marks):
        if phase == "-":
            continue
        row = totals.setdefault(phase, [0.0, 0.0, 0.0, 0.0])
        for i, (a, b) in enumerate(zip(start, end, strict=True)):
            row[i] += (b - a) * (1000 if i < 3 else 1)


def measure(count: int, broker: str, csms: str, workdir: Path, *, bare: bool = False,
            settle: float = 0.0) -> dict[str, list[float]]:
    """Sum over `count` children, forked one after the other, of (CPU ms, user ms, system ms,
    faults) per phase."""
    _prepare()
    totals: dict[str, list[float]] = {}
    for path in _instances(count, broker, csms, workdir):
        read, write = os.pipe()
        pid = _fork(path, broker, csms, write, bare=bare, settle=settle)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        if not data:
            raise RuntimeError(f"charge point ended before it was Accepted (see {path})")
        _add(totals, json.loads(data)["marks"])
    return totals


@dataclass
class Storm:
    forked_s: float  # from the first fork to the gate's opening
    accepted_s: float  # from the first fork until the last child was Accepted
    children_cpu_s: float  # all children's CPU then, what they did after their Accepted included
    forking_cpu_s: float  # this process's, to fork them
    csms_cpu_s: float
    pss_kb: float  # mean per child, idle 2 s after the last Accepted
    totals: dict[str, list[float]]


def storm(count: int, broker: str, csms: str, workdir: Path, csms_pid: int, *, bare: bool = False) -> Storm:
    """Fork `count` children behind one gate, as the launcher's fork server does for one start
    command, and time them until all are Accepted; they keep running meanwhile (a real
    fleet's statuses and StatusNotifications after Accepted compete with the later boots)."""
    _prepare()
    paths = _instances(count, broker, csms, workdir)
    read, write = os.pipe()
    gate_r, gate_w = os.pipe()
    pids: list[int] = []
    csms_start = cpu_seconds([csms_pid])
    start, forking = time.time(), time.process_time()
    try:
        for path in paths:
            pids.append(_fork(path, broker, csms, write, bare=bare, storm=True, gate=(gate_r, gate_w)))
        forked = time.time()
        forking = time.process_time() - forking
        os.close(gate_w)
        totals: dict[str, list[float]] = {}
        last, pending = start, b""
        with os.fdopen(read, "rb", buffering=0) as reports:
            for n in range(count):
                while b"\n" not in pending:
                    if not select.select([reports], [], [], 120)[0]:
                        raise RuntimeError(f"{count - n} of {count} children not Accepted after 120 s")
                    pending += reports.read(65536)
                line, pending = pending.split(b"\n", 1)
                report = json.loads(line)
                last = max(last, report["at"])
                _add(totals, report["marks"])
        children = cpu_seconds(pids)
        csms_cpu = cpu_seconds([csms_pid]) - csms_start
        time.sleep(IDLE_AFTER)
        pss = sum(smaps.average(pids, "Pss").values())
        return Storm(forked - start, last - start, children, forking, csms_cpu, pss, totals)
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)
        os.close(write)
        os.close(gate_r)


def _print_phases(totals: dict[str, list[float]], count: int) -> None:
    print(f"{'phase':40} {'CPU ms':>8} {'user':>7} {'system':>7} {'faults':>7}")
    overall = [0.0, 0.0, 0.0, 0.0]
    for phase, row in totals.items():
        print(f"{phase:40} {row[0] / count:8.2f} {row[1] / count:7.2f} {row[2] / count:7.2f} {row[3] / count:7.0f}")
        overall = [a + b for a, b in zip(overall, row, strict=True)]
    print(f"{'total':40} {overall[0] / count:8.2f} {overall[1] / count:7.2f} {overall[2] / count:7.2f} "
          f"{overall[3] / count:7.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=20)
    parser.add_argument("--bare", action="store_true", help="the least a station does to be Accepted")
    parser.add_argument("--settle", type=float, default=0.0, metavar="S",
                        help="a charge point's phases go on S seconds after Accepted (what it does then)")
    parser.add_argument("--storm", action="store_true", help="all at once behind one gate, as one start command")
    args = parser.parse_args()
    what = "bare station" if args.bare else "charge point"
    port, api = free_port(), free_port()
    with scratch("ocpp-simu-boot-") as tmp, private_broker() as broker, served(
            [sys.executable, "-m", "cp_simu", "csms", "--port", str(port), "--api-port", str(api), "--fast",
             "--log", str(Path(tmp) / "csms.jsonl")], port, "the demo CSMS") as csms:
        url = f"ws://127.0.0.1:{port}/"
        if args.storm:
            result = storm(args.count, broker, url, Path(tmp), csms.pid, bare=args.bare)
            print(f"storm of {args.count} forked {what}s (load {os.getloadavg()[0]:.1f}): forked in "
                  f"{result.forked_s:.2f} s, all Accepted {result.accepted_s:.2f} s after the first fork; CPU s: "
                  f"{what}s {result.children_cpu_s:.2f} ({result.children_cpu_s / args.count * 1000:.1f} ms each), "
                  f"forking {result.forking_cpu_s:.2f}, CSMS {result.csms_cpu_s:.2f}; "
                  f"idle PSS {result.pss_kb / 1024:.1f} MB each")
            print("mean per child (fork → Accepted):")
            _print_phases(result.totals, args.count)
            return
        totals = measure(args.count, broker, url, Path(tmp), bare=args.bare, settle=args.settle)
    print(f"forked {what} start, mean of {args.count} (fork → Accepted):")
    _print_phases(totals, args.count)


if __name__ == "__main__":
    main()
