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

    python -m bench.boot_cost [N] [--bare]
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import TOPICS, free_port, private_broker, scratch, served
from cp_simu import hugepages
from cp_simu.config import load_config
from cp_simu.models import ChargePointDefinition
from launcher import spawner
from launcher.instances import Instances

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


def _child(path: Path, broker: str, report: int) -> None:
    """In the forked child: run the charge point with phase marks; at Accepted, report and exit."""
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
        if status == "Accepted":
            _mark(marks, "end")
            os.write(report, json.dumps(marks).encode())
            os._exit(0)
        registered(self, status, reason)

    station.Station.set_registration = set_registration  # type: ignore[method-assign]
    out = os.open(path / "stdout.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.chdir(path)
    gc.enable()
    os._exit(cli.run_instances([path], broker))


def _bare_child(csms: str, broker: str, report: int) -> None:
    """In the forked child: `--bare`'s station, with phase marks; reports at Accepted and exits."""
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
            listening.cancel()
        mqtt.publish_state(TOPICS.cp_status(cp_id), json.dumps({"status": answer.status}))
        _mark(marks, "end")

    gc.enable()
    asyncio.run(boot())
    os.write(report, json.dumps(marks).encode())
    os._exit(0)


def measure(count: int, broker: str, csms: str, workdir: Path, *, bare: bool = False) -> dict[str, list[float]]:
    """Sum over `count` children of (CPU ms, user ms, system ms, faults) per phase."""
    spawner._preload()
    for _ in spawner._warm_up():
        pass
    hugepages.collapse()
    gc.disable()
    gc.freeze()
    template = load_config(None)
    instances = Instances(workdir)
    totals: dict[str, list[float]] = {}
    for n in range(count):
        definition = ChargePointDefinition.from_dict({"id": f"BOOT{n:04d}", "central_system": csms},
                                                     template.definition_defaults())
        path = instances.create(definition, template, broker, "cp_simu", fresh=True)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            if bare:
                _bare_child(csms, broker, write)
            _child(path, broker, write)
        os.close(write)
        data = b""
        while chunk := os.read(read, 65536):
            data += chunk
        os.close(read)
        os.waitpid(pid, 0)
        if not data:
            raise RuntimeError(f"charge point {definition.id} ended before it was Accepted (see {path})")
        marks = json.loads(data)
        for (phase, *start), (_next, *end) in itertools.pairwise(marks):
            if phase == "-":
                continue
            row = totals.setdefault(phase, [0.0, 0.0, 0.0, 0.0])
            for i, (a, b) in enumerate(zip(start, end, strict=True)):
                row[i] += (b - a) * (1000 if i < 3 else 1)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="?", type=int, default=20)
    parser.add_argument("--bare", action="store_true", help="the least a station does to be Accepted")
    args = parser.parse_args()
    port, api = free_port(), free_port()
    with scratch("ocpp-simu-boot-") as tmp, private_broker() as broker, served(
            [sys.executable, "-m", "cp_simu", "csms", "--port", str(port), "--api-port", str(api), "--fast",
             "--log", str(Path(tmp) / "csms.jsonl")], port, "the demo CSMS"):
        totals = measure(args.count, broker, f"ws://127.0.0.1:{port}/", Path(tmp), bare=args.bare)
    print(f"forked {'bare station' if args.bare else 'charge point'} start, mean of {args.count} "
          "(fork → Accepted):")
    print(f"{'phase':40} {'CPU ms':>8} {'user':>7} {'system':>7} {'faults':>7}")
    overall = [0.0, 0.0, 0.0, 0.0]
    for phase, row in totals.items():
        print(f"{phase:40} {row[0] / args.count:8.2f} {row[1] / args.count:7.2f} {row[2] / args.count:7.2f} "
              f"{row[3] / args.count:7.0f}")
        overall = [a + b for a, b in zip(overall, row, strict=True)]
    print(f"{'total':40} {overall[0] / args.count:8.2f} {overall[1] / args.count:7.2f} "
          f"{overall[2] / args.count:7.2f} {overall[3] / args.count:7.0f}")


if __name__ == "__main__":
    main()
