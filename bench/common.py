"""What every benchmark needs: an embedded broker, the demo CSMS and a launcher on free
ports in a temporary directory, a fleet started through the launcher's MQTT API, and a
teardown that leaves no process behind (charge points included, by verified PID)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import psutil

from cp_simu.broker import spawn_embedded
from cp_simu.models import LauncherCommand, LauncherCommandType, LauncherStatus
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics
from cp_simu.urls import BrokerUrl
from launcher.instances import Instances
from launcher.spawner import FORK_SERVER_TITLE, WARM_UP_DONE

TOPICS = Topics()
T = TypeVar("T")
SCRATCH_ENV = "OCPP_SIMU_BENCH_DIR"
REPO = Path(__file__).resolve().parent.parent
CPUCLOCK_SCHED = 2  # Linux's process CPU clock ids: (~pid << 3) | 2 counts all its threads' run time


def scratch_root() -> Path:
    """Where fleets' working directories go: tmpfs (/dev/shm) where there is one, else the
    repository's `.bench/`; $OCPP_SIMU_BENCH_DIR chooses another place.

    The figures are the simulator's, not the disk's. On the machine that measured
    docs/performance.md, creating an instance directory (a directory and four files) cost
    from 0.1 to 6.6 ms of kernel CPU depending on where on its ext4 disk: the more directories
    had been created and deleted beside it (as every benchmark run does), the slower; 0.05 ms
    on tmpfs, always."""
    shm = Path("/dev/shm")
    default = shm / "ocpp-simu-bench" if shm.is_dir() and os.access(shm, os.W_OK) else REPO / ".bench"
    return Path(os.environ.get(SCRATCH_ENV) or default)


def scratch(prefix: str = "ocpp-simu-bench-") -> tempfile.TemporaryDirectory[str]:
    """A throw-away working directory for a fleet, under `scratch_root()`."""
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=prefix, dir=root)


def cpu_seconds(pids: list[int]) -> float:
    """CPU time the live processes `pids` have used (all their threads, exited ones included).

    Read from each process's CPU-time clock (`clock_getcpuclockid`), exact to the
    nanosecond: `/proc/<pid>/stat` (what psutil reads) truncates user and system time
    each to 10 ms, which loses about 10 ms per process, a third of a forked charge
    point's start."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # gone, or not ours
            total += time.clock_gettime((~pid << 3) | CPUCLOCK_SCHED)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll until `predicate` returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


@contextlib.contextmanager
def served(args: list[str], port: int, what: str, timeout: float = 15.0) -> Iterator[subprocess.Popen]:
    """A server process for a benchmark: started, waited for on its port, always terminated."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port) or proc.poll() is not None, timeout, what)
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def private_broker() -> Iterator[str]:
    """A throw-away broker on a free loopback port (Mosquitto when installed)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        mosquitto = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin")
        if mosquitto:
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                            "max_queued_messages 0\nmax_inflight_messages 0\n")
            args = [mosquitto, "-c", str(conf)]
        else:
            args = [sys.executable, "-m", "cp_simu", "broker", "--port", str(port)]
        with served(args, port, "the private broker"):
            yield f"mqtt://127.0.0.1:{port}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class StatusWatch:
    """Every CP and connector status on the broker, as last seen, with arrival times."""

    def __init__(self, url: str) -> None:
        self.cp: dict[str, dict] = {}
        self.connectors: dict[tuple[str, int], dict] = {}
        # topic -> [(monotonic arrival time, payload)]: a 10,000-station fleet is polled for the
        # first Accepted of each of its ids many times a second, so nothing may scan them all
        self.arrivals: dict[str, list[tuple[float, dict]]] = {}
        self.count = 0
        self._lock = threading.Lock()
        self.client = MqttClient(url, f"bench-watch-{os.getpid()}")
        self.client.subscribe(TOPICS.all_cp_statuses, self._on)
        self.client.subscribe(TOPICS.all_connector_statuses, self._on)
        self.client.connect()

    def _on(self, msg: Message) -> None:
        now = time.monotonic()
        parsed = TOPICS.parse(msg.topic)
        if parsed is None or not msg.payload:
            return
        data = json.loads(msg.payload)
        with self._lock:
            self.count += 1
            self.arrivals.setdefault(msg.topic, []).append((now, data))
            if parsed.connector is None:
                self.cp[str(parsed.cp_id)] = data
            else:
                self.connectors[(str(parsed.cp_id), int(parsed.connector))] = data

    def registered(self, ids: list[str], status: str = "Accepted") -> int:
        with self._lock:
            return sum(1 for i in ids if self.cp.get(i, {}).get("status") == status)

    def first_time(self, topic: str, predicate: Callable[[dict], bool], after: float) -> float | None:
        """Arrival time of the first message on `topic` since `after` that satisfies `predicate`."""
        with self._lock:
            return next((t for t, d in self.arrivals.get(topic, ()) if t >= after and predicate(d)), None)

    def close(self) -> None:
        self.client.stop()


class Journal:
    """The demo CSMS's JSON-lines journal, read incrementally: OCPP calls received."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.calls: list[tuple[float, str, str]] = []  # (wall-clock time, cp id, action)

    def read(self) -> list[tuple[float, str, str]]:
        with contextlib.suppress(OSError), open(self.path, "rb") as f:
            f.seek(self._offset)
            data = self._partial + f.read()
            self._offset = f.tell()
            *lines, self._partial = data.split(b"\n")
            for line in lines:
                rec = json.loads(line)
                if rec.get("direction") == "in" and rec.get("message_type") == "call":
                    stamp = datetime.fromisoformat(rec["time"].replace("Z", "+00:00")).timestamp()
                    self.calls.append((stamp, rec["cp_id"], rec["action"]))
        return self.calls


@dataclass
class Stack:
    """Broker + demo CSMS + launcher, all started here and all stopped by `close()`."""

    workdir: Path
    broker_url: str = ""
    csms_url: str = ""
    csms_log: Path = Path()
    csms_api: str = ""
    journal: Journal = field(init=False)
    procs: list[subprocess.Popen] = field(default_factory=list)
    launcher: subprocess.Popen | None = None
    mqtt: MqttClient | None = None

    def start(self, launcher_args: tuple[str, ...] = (), broker: str = "embedded",
              csms_args: tuple[str, ...] = ()) -> Stack:
        """`broker`: "embedded" (amqtt) or "mosquitto" (for comparison)."""
        url = BrokerUrl.parse(f"mqtt://127.0.0.1:{free_port()}")
        if broker == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(f"listener {url.port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
            mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
            self.procs.append(subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL, start_new_session=True))
            wait_for(lambda: port_open(url.port), 10, "mosquitto")
        else:
            self.procs.append(spawn_embedded(url, log_file=self.workdir / "broker.log"))
        self.broker_url = str(url)
        port, api = free_port(), free_port()
        self.csms_log = self.workdir / "csms.jsonl"
        self.journal = Journal(self.csms_log)
        self._spawn("csms", "csms", "--port", str(port), "--api-port", str(api), "--log", str(self.csms_log),
                    *csms_args)
        self.csms_url, self.csms_api = f"ws://127.0.0.1:{port}/", f"http://127.0.0.1:{api}"
        status: list[str] = []
        self.mqtt = MqttClient(self.broker_url, f"bench-{os.getpid()}")
        self.mqtt.subscribe(TOPICS.launcher_status, lambda m: status.append(m.text))
        self.mqtt.connect()
        self.launcher = self._spawn("launcher", "launcher", "--broker", self.broker_url,
                                    "--workdir", str(self.workdir), *launcher_args)
        wait_for(lambda: status and status[-1] == LauncherStatus.ALIVE.value, 30, "the launcher")
        wait_for(lambda: port_open(port), 30, "the demo CSMS")
        if "subprocess" not in launcher_args:  # the figures are those of a warmed-up fork server
            wait_for(lambda: WARM_UP_DONE in (self.workdir / "launcher.log").read_text(), 120,
                     "the fork server's warm-up")
        return self

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen([sys.executable, "-m", "cp_simu", *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def command(self, kind: LauncherCommandType, definitions: list[dict], **options: object) -> None:
        """`options`: more keys of a start command (`ramp`)."""
        assert self.mqtt is not None
        if kind is LauncherCommandType.KILL:
            payload = LauncherCommand(kind, ids=[d["id"] for d in definitions]).to_json()
        else:
            payload = json.dumps({"type": kind.value, "charge_points": definitions, **options})
        self.mqtt.publish(TOPICS.launcher_cmd, payload).wait_for_publish(5)

    def fleet(self, count: int, prefix: str = "B", **extra: object) -> list[dict]:
        return [{"id": f"{prefix}{i:04d}", "central_system": self.csms_url, **extra} for i in range(count)]

    def cp_pids(self) -> list[int]:
        instances = Instances(self.workdir)
        return [ident[0] for cp_id in instances.ids() if (ident := instances.identity(cp_id))]

    def fork_servers(self) -> list[int]:
        """PIDs of the launcher's fork server (none in subprocess mode)."""
        if self.launcher is None:
            return []
        return [p.pid for p in psutil.Process(self.launcher.pid).children()
                if " ".join(p.cmdline()).startswith(FORK_SERVER_TITLE)]

    def csms_boots(self) -> list[tuple[float, str]]:
        """(wall-clock time, cp id) of every BootNotification request the CSMS journalled."""
        return [(t, cp) for t, cp, action in self.journal.read() if action == "BootNotification"]

    def close(self) -> None:
        """Charge points first (through the launcher, which knows them even before they wrote
        their marker, then by verified PID), then launcher, CSMS, broker."""
        if self.mqtt and self.launcher and self.launcher.poll() is None:
            self.command(LauncherCommandType.KILL, [{"id": i} for i in Instances(self.workdir).ids()])
            self.mqtt.publish(TOPICS.launcher_cmd, LauncherCommand(LauncherCommandType.CLOSE).to_json())
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(30)
        for pid in self.cp_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.mqtt:
            self.mqtt.stop()
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def stop_cleanly_on_signals() -> None:
    """SIGTERM, and SIGINT even where a shell started the benchmark in the background with it
    ignored, end the run through the stacks' teardown: thousands of charge points, a broker
    and a CSMS must not outlive an interrupted `make bench`."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, interrupt)


@contextlib.contextmanager
def stack(launcher_args: tuple[str, ...] = (), broker: str = "embedded",
          csms_args: tuple[str, ...] = ()) -> Iterator[Stack]:
    with scratch() as tmp:
        s = Stack(Path(tmp))
        try:
            yield s.start(launcher_args, broker, csms_args)
        finally:
            s.close()


def boot(s: Stack, watch: StatusWatch, count: int, timeout: float = 120.0, ramp: float | None = None,
         **extra: object) -> list[str]:
    """Start `count` CPs (`ramp` per second, else all at once) and wait until all are Accepted; their ids."""
    fleet = s.fleet(count, **extra)
    ids = [d["id"] for d in fleet]
    s.command(LauncherCommandType.START, fleet, **({"ramp": ramp} if ramp else {}))
    try:
        wait_for(lambda: watch.registered(ids) == count, timeout + (count / ramp if ramp else 0.0),
                 f"{count} charge points Accepted", interval=0.2)
    except TimeoutError as exc:
        late = {i: watch.cp.get(i, {}).get("status") for i in ids if watch.registered([i]) == 0}
        raise TimeoutError(f"{exc}; not Accepted: {dict(list(late.items())[:10])} (logs in {s.workdir})") from None
    return ids
