"""Cost of one simulated charge point: memory and time to registration.

Starts a private broker and the demo CSMS, then one `python -m chargepoint` process, and
measures:
  - time from the process start to the CSMS's BootNotification and to the retained MQTT
    status `Accepted`;
  - time from an MQTT `id_tag` (car already plugged) to StartTransaction at the CSMS
    (Authorize round trip included);
  - RSS / USS / PSS of the charge point once registered (idle), and while charging
    (MeterValues every second, status refresh at 1 Hz);
  - CPU time used by the process so far.

    python -m bench.chargepoint_cost [--broker mqtt://127.0.0.1:1883] [--runs 3] [--ocpp-version 2.0.1]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psutil

from bench.common import cpu_seconds, free_port, private_broker, scratch, served
from cp_simu.config import SECTION_OCPP, load_config, update_section, write_instance_config
from cp_simu.models import OCPP_VERSIONS, ChargePointDefinition
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics

MB = 1024 * 1024
CAR = {"cable": 32.0, "ready": True, "consumption_l1": 16.0, "consumption_l2": 16.0, "consumption_l3": 16.0}


@contextlib.contextmanager
def demo_csms(tmp: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = tmp / "csms.jsonl"
    args = [sys.executable, "-m", "cp_simu", "csms", "--port", str(port), "--api-port", "0", "--log", str(log)]
    with served(args, port, "the demo CSMS"):
        yield f"ws://127.0.0.1:{port}", log


def _memory(pid: int) -> tuple[float, float, float]:
    info = psutil.Process(pid).memory_full_info()
    return info.rss / MB, info.uss / MB, getattr(info, "pss", 0.0) / MB


def _boot_seen(log: Path, cp_id: str) -> bool:
    if not log.exists():
        return False
    return any('"action":"BootNotification"' in line and f'"cp_id":"{cp_id}"' in line
               for line in log.read_text().splitlines())


def _journal_time(log: Path, cp_id: str, action: str) -> float:
    """When the CSMS received the charge point's first `action` (wall clock)."""
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("cp_id") == cp_id and entry.get("action") == action and entry.get("direction") == "in":
            return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()
    raise RuntimeError(f"no {action} from {cp_id} at the CSMS")


def _meter_every_second(directory: Path, definition: ChargePointDefinition) -> None:
    """MeterValues (1.6) or TransactionEvent Updated (2.0.1) every second, the same measurands."""
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage"
    if definition.ocpp_version == "1.6":
        update_section(directory / "config.ini", SECTION_OCPP,
                       {"MeterValueSampleInterval": "1", "MeterValuesSampledData": measurands})
        return
    from chargepoint.ocpp201.device_model import DeviceModel

    model = DeviceModel.load(directory, definition.nb_connectors)
    model.update("SampledDataCtrlr/TxUpdatedInterval", "1")
    model.update("SampledDataCtrlr/TxUpdatedMeasurands", measurands)


def measure(broker: str, csms_url: str, csms_log: Path, tmp: Path, run: int,
            ocpp_version: str = "1.6") -> dict[str, float]:
    cp_id = f"bench_cp_{run}"
    directory = tmp / cp_id
    definition = ChargePointDefinition.from_dict({"id": cp_id, "central_system": csms_url,
                                                  "ocpp_version": ocpp_version})
    write_instance_config(load_config(None), definition, directory, broker=broker)
    _meter_every_second(directory, definition)
    topics = Topics()
    accepted = threading.Event()
    charging = threading.Event()

    def on_status(msg: Message) -> None:
        if msg.payload and json.loads(msg.payload).get("status") == "Accepted":
            accepted.set()

    def on_connector(msg: Message) -> None:
        if msg.payload and json.loads(msg.payload).get("status") == "Charging":
            charging.set()

    client = MqttClient(broker, f"bench-cost-{run}")
    client.subscribe(topics.cp_status(cp_id), on_status)
    client.subscribe(topics.connector_status(cp_id, 1), on_connector)
    client.connect()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "--workdir", str(directory), "--broker", broker],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        boot_s = None
        deadline = started + 30
        while not accepted.is_set() and time.monotonic() < deadline:
            if boot_s is None and _boot_seen(csms_log, cp_id):
                boot_s = time.monotonic() - started
            time.sleep(0.005)
        accepted_s = time.monotonic() - started
        if not accepted.is_set():
            raise RuntimeError("the charge point did not reach Accepted")
        time.sleep(1.0)  # settle: initial statuses, first heartbeat timer armed
        idle = _memory(proc.pid)
        client.publish(topics.connector_car(cp_id, 1), json.dumps(CAR)).wait_for_publish(5)
        time.sleep(0.2)
        presented = time.time()
        client.publish(topics.connector_id_tag(cp_id, 1), json.dumps({"id": "BENCH"}))
        if not charging.wait(10):
            raise RuntimeError("the charge point did not start charging")
        start_s = _journal_time(csms_log, cp_id, "StartTransaction" if ocpp_version == "1.6"
                                else "TransactionEvent") - presented
        time.sleep(5.0)
        busy = _memory(proc.pid)
        return {"boot_s": boot_s or accepted_s, "accepted_s": accepted_s, "start_ms": start_s * 1000,
                "idle_rss": idle[0], "idle_uss": idle[1], "idle_pss": idle[2],
                "busy_rss": busy[0], "busy_uss": busy[1], "busy_pss": busy[2],
                "cpu_s": cpu_seconds([proc.pid])}
    finally:
        client.publish(topics.cp_cmd(cp_id), json.dumps({"type": "close"}))
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", help="MQTT broker URL (default: a private one)")
    parser.add_argument("--runs", type=int, default=3, help="charge points started one after the other")
    parser.add_argument("--ocpp-version", choices=OCPP_VERSIONS, default="1.6")
    args = parser.parse_args()
    with scratch() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        broker = args.broker or stack.enter_context(private_broker())
        csms_url, csms_log = stack.enter_context(demo_csms(tmp))
        results = [measure(broker, csms_url, csms_log, tmp, run, args.ocpp_version) for run in range(args.runs)]
    print(f"one charge point (OCPP {args.ocpp_version}, AC, 1 connector), {args.runs} run(s), median:")
    start = "StartTransaction" if args.ocpp_version == "1.6" else "TransactionEvent Started"
    rows = (("process start -> BootNotification at the CSMS", "boot_s", "s"),
            ("process start -> MQTT status Accepted", "accepted_s", "s"),
            (f"MQTT id_tag (car plugged) -> {start}", "start_ms", "ms"),
            ("RSS idle / charging", ("idle_rss", "busy_rss"), "MB"),
            ("USS idle / charging", ("idle_uss", "busy_uss"), "MB"),
            ("PSS idle / charging", ("idle_pss", "busy_pss"), "MB"),
            ("CPU time (start, 1 s idle, 5 s charging)", "cpu_s", "s"))
    for label, keys, unit in rows:
        keys = (keys,) if isinstance(keys, str) else keys
        values = " / ".join(f"{sorted(r[k] for r in results)[len(results) // 2]:.2f}" for k in keys)
        print(f"  {label:<46} {values} {unit}")


if __name__ == "__main__":
    main()
