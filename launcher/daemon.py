"""The launcher daemon: MQTT commands in, charge point processes out.

All state lives on the main thread: MQTT messages and child exits are queued to it as
callables, so command handling needs no locks. What the launcher believes is running is
`processes`: one entry per CP whose PID was verified (our own spawn, or the CP's
`process.json` marker) together with the process's kernel start time, re-checked before
every signal, so a PID reused by another program is never touched.

Several launchers may share a broker (one per host), each under its own name and topics. A
CP id is unique across the fleet: a launcher refuses to start one that the retained statuses
show alive under another launcher (of two started at the same instant, the launcher whose
name sorts first keeps it), and adopts only the CPs that record its own name.

A charge point in a packed process (`--cps-per-process`) shares its host's PID: it counts as
running while the host lives and its marker names the host, and it is killed by asking the
host (`packed`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import queue
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cp_simu import __version__, durability
from cp_simu.broker_access import BrokerAccess
from cp_simu.collector import freeze_startup_heap
from cp_simu.config import ConfigError, SimuConfig
from cp_simu.models import (
    RETAINED_INPUT,
    SEED_MAX,
    ChargePointDefinition,
    CpCommand,
    CpCommandType,
    CpRegistration,
    CpStatus,
    LauncherCommand,
    LauncherCommandType,
    LauncherInfo,
    LauncherStatus,
    PayloadError,
    Setup,
    StatsReport,
    derived_seed,
)
from cp_simu.mqtt import Message, MqttClient
from cp_simu.process import MARKER_FILE, read_marker, start_ticks
from cp_simu.run_file import RunFileWriter, new_path
from cp_simu.topics import Topics

from . import name_claim, packed
from .instances import InstanceError, Instances
from .pacing import Pacer, PendingStart
from .spawner import ForkSpawner, Spawner, SpawnRequest, SubprocessSpawner
from .stats import DEFAULT_METRICS_PORT, StatsService

log = logging.getLogger(__name__)

LOCK_FILE = ".launcher.lock"
SPAWN_MODES = ("fork", "subprocess")
KILL_WAIT = 3.0  # seconds a kill command waits for SIGKILLed processes to be gone
SWEEP_INTERVAL = 5.0  # liveness check of adopted processes (ours report their exit)
INFO_INTERVAL = 0.5  # at most this often a new launcher/info during a boot storm
SYNC_WAIT = 5.0  # a setup file's start waits this long at most for the retained CP statuses
# A packed member just spawned counts as running (its host alive) until its host wrote its
# marker, for at most this long: the host writes every member's marker as it starts.
MEMBER_MARKER_WAIT = 30.0


class LauncherError(RuntimeError):
    """The launcher cannot run (workdir in use, bad setup file…); the message says why."""


@dataclass
class CpProcess:
    """A running charge point: its PID and that process's start time, its identity.
    `directory`: set for a member of a packed process, whose marker must still name it."""

    pid: int
    ticks: int | None
    killed: bool = False
    directory: Path | None = None
    spawned: bool = False  # started by this launcher, whose spawner reports its exit
    marker_due: float = 0.0  # (monotonic) a spawned packed member without its marker yet is starting until then
    # the member's marker file as last read and found naming it: (path, inode, mtime, size)
    _marker_seen: tuple[str, int, int, int] | None = field(default=None, repr=False, compare=False)

    @property
    def packed(self) -> bool:
        return self.directory is not None

    def alive(self, seen: dict[int, int | None] | None = None) -> bool:
        """`seen`: start times already read in this pass (pid -> ticks), filled as it goes: a
        packed process hosting 500 charge points has its /proc entry read once, not 500 times."""
        if seen is None:
            ticks = start_ticks(self.pid)
        elif (ticks := seen.get(self.pid, -1)) == -1:
            ticks = seen[self.pid] = start_ticks(self.pid)
        if self.ticks is None or ticks != self.ticks:
            return False
        return self.directory is None or self._member_alive(self.directory)

    def _member_alive(self, directory: Path) -> bool:
        """The marker still names this process. It is parsed again only when the file changed
        (it is replaced whole, or removed when the member ends): a launcher of 10,000 packed
        members would otherwise parse 10,000 files every pass, a tenth of a core."""
        seen = self._marker_seen
        starting = seen is None and time.monotonic() < self.marker_due  # not written by its host yet
        path = seen[0] if seen else str(directory / MARKER_FILE)
        try:
            st = os.stat(path)
        except OSError:
            return starting
        if seen == (path, st.st_ino, st.st_mtime_ns, st.st_size):
            return True
        if read_marker(directory) != (self.pid, self.ticks, True):
            return starting
        self._marker_seen = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        return True


@dataclass
class LauncherSettings:
    broker: BrokerAccess
    workdir: Path
    template: SimuConfig
    root: str
    spawn_mode: str = "fork"
    max_cps: int = 1000
    cps_per_process: int = 1  # > 1: packed processes of up to this many charge points
    setup: Setup | None = None
    setup_text: str = ""
    reset: bool = False
    name: str = ""  # "" = the unnamed launcher (cp_simu/launcher/…)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None  # None: DEFAULT_METRICS_PORT, else any free one; 0: any free one
    metrics: bool = True  # False: no metrics endpoint


class Launcher:
    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        self.topics = Topics(settings.root)
        self.own = self.topics.launcher(settings.name)  # this launcher's status/cmd/error/info
        self.instances = Instances(settings.workdir)
        self.processes: dict[str, CpProcess] = {}
        # Spawned processes found gone (their will, or a liveness pass) before their exit was
        # reported: the report, which comes after, still names their charge points.
        self._unreported: dict[int, tuple[str, CpProcess]] = {}
        self.statuses: dict[str, CpStatus] = {}  # last retained status of every CP seen
        self.packing: dict[str, int] = {}  # cps_per_process each CP was last started with
        self._events: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._stopping = False
        self._info_dirty = True
        self._last_info = 0.0
        self._last_sweep = time.monotonic()
        self._lock_file: IO[str] | None = None
        self._synced = False  # the retained CP statuses have arrived (see _on_own_status)
        self._started_at = time.monotonic()
        self.spawner: Spawner | None = None
        self.pacer = Pacer()  # starts waiting for their turn (a start command's ramp)
        self.stats: StatsService | None = None
        self.mqtt = MqttClient(settings.broker, f"ocpp-simu-launcher-{settings.name or '-'}-"
                               f"{socket.gethostname()}-{os.getpid()}", dispatch=self._events.put)

    # -- lifecycle --------------------------------------------------------
    def run(self) -> int:
        """Serve until `close`, SIGINT, SIGTERM or SIGHUP; the charge points keep running."""
        self._lock_workdir()
        if other := name_claim.other_launcher(self.settings.broker, self.own):
            raise LauncherError(other)
        durability.defer_syncs()  # a start of N charge points would wait for N instance fsyncs
        try:
            self._start_stats()  # first: a metrics port it cannot have stops it before it touches a charge point
            if self.settings.reset:
                self._reset()
            for cp_id in self.instances.ids():
                self._adopt(cp_id)
            self.spawner = self._make_spawner()
            self._connect()
            print(f"launcher {self.describe()} ready: broker {self.mqtt.url}, workdir {self.instances.workdir}, "
                  f"{len(self.processes)} running charge point(s) adopted, spawn mode "
                  f"{self.spawner.mode}", flush=True)
            assert self.stats is not None and self.stats.run_file is not None
            print(f"run file {self.stats.run_file.path}; metrics {self.stats.metrics_url or 'off (--no-metrics)'}",
                  flush=True)
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, self._on_signal)
            freeze_startup_heap()
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _make_spawner(self) -> Spawner:
        def on_exit(pid: int, code: int) -> None:  # called on another thread
            self._events.put(lambda: self._on_exit(pid, code))

        # The charge points' MQTT credentials travel in their environment, not their arguments.
        env = self.settings.broker.environment_for_children()
        if self.settings.spawn_mode == "subprocess":
            return SubprocessSpawner(on_exit, env)
        return ForkSpawner(on_exit, env)

    def describe(self) -> str:
        return f"'{self.settings.name}'" if self.settings.name else "(unnamed)"

    def _start_stats(self) -> None:
        """The fleet's call statistics: run file, metrics endpoint, launcher/stats."""
        s = self.settings
        run_file = RunFileWriter(new_path(self.instances.workdir), host=socket.gethostname(), pid=os.getpid(),
                                 workdir=str(self.instances.workdir), version=__version__, launcher=s.name)
        self.stats = StatsService(lambda report: self.mqtt.publish(self.own.stats, report.to_json(), qos=0),
                                  run_file, s.template.simulation.stats_interval)
        if s.metrics:
            try:
                self.stats.serve_metrics(s.metrics_host, s.metrics_port)
            except OSError as exc:  # the port asked for is taken: Prometheus would scrape another process
                port = DEFAULT_METRICS_PORT if s.metrics_port is None else s.metrics_port
                raise LauncherError(f"cannot serve metrics on {s.metrics_host}:{port}: "
                                    f"{exc.strerror or exc}; choose another --metrics-port (0: any free port, "
                                    "named in the launcher's info) or --no-metrics") from None

    def _connect(self) -> None:
        own = self.own
        self.mqtt.set_will(own.status, LauncherStatus.DEAD.value)
        self.mqtt.subscribe(own.cmd, self._on_command)
        self.mqtt.subscribe(self.topics.all_cp_statuses, self._on_cp_status)
        self.mqtt.subscribe(self.topics.all_cp_stats, self._on_cp_stats, qos=0)
        self.mqtt.subscribe(own.status, self._on_own_status)
        self.mqtt.publish_state(own.status, LauncherStatus.ALIVE.value)
        self._publish_info()
        self.mqtt.start()  # connects in the background and keeps retrying

    def _on_own_status(self, msg: Message) -> None:
        """Our own Alive coming back live: the broker has handled our subscriptions, so the
        retained CP statuses (who runs which id) came before it. Only then does the setup
        file's start run, so that it can refuse an id another launcher runs."""
        if not msg.retain and msg.text == LauncherStatus.ALIVE.value:
            self._synced_now()

    def _synced_now(self) -> None:
        if self._synced:
            return
        self._synced = True
        if self.settings.setup:
            self._start(self.settings.setup.charge_points, fresh=True, raw=self.settings.setup_text,
                        cps_per_process=self.settings.setup.cps_per_process, ramp=self.settings.setup.ramp)

    def _loop(self) -> None:
        while not self._stopping:
            try:
                self._events.get(timeout=self.pacer.wait(INFO_INTERVAL))()
            except queue.Empty:
                pass
            except Exception:  # an event must never end the daemon
                log.exception("event handling failed")
            self._housekeeping()

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("signal %s: stopping (charge points keep running)", signal.Signals(signum).name)
        self._stopping = True

    def _shutdown(self) -> None:
        if self.spawner:
            self.spawner.close()
        self.mqtt.stop(final={self.own.status: LauncherStatus.DEAD.value})
        if self.stats:
            self.stats.close()
        if self._lock_file:
            self._lock_file.close()
        print(f"launcher stopped; {len(self.processes)} charge point(s) left running", flush=True)

    def _lock_workdir(self) -> None:
        """One launcher per workdir: two would start the same CPs and fight over directories."""
        workdir = self.instances.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        f = open(workdir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the launcher's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            owner = f.read().strip() or "?"
            f.close()
            raise LauncherError(f"another launcher (pid {owner}) is using {workdir}") from None
        f.truncate(0)
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def _reset(self) -> None:
        """--reset: kill the verified charge points of this workdir, then delete their directories."""
        for cp_id in self.instances.ids():
            self._adopt(cp_id)
        self._kill(list(self.processes), raw="")
        for cp_id in self.instances.ids():
            self.instances.remove(cp_id)
        print(f"reset: {self.instances.root} emptied", flush=True)

    def _housekeeping(self) -> None:
        assert self.spawner is not None
        self.spawner.poll()
        self._launch(self.pacer.due())
        now = time.monotonic()
        if not self._synced and now - self._started_at >= SYNC_WAIT:
            if self.settings.setup:
                log.warning("the retained charge point statuses of %s did not arrive within %g s: starting the "
                            "setup file's charge points all the same", self.mqtt.url, SYNC_WAIT)
            self._synced_now()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            seen: dict[int, int | None] = {}
            for cp_id, proc in list(self.processes.items()):
                if not proc.alive(seen):
                    log.info("charge point %s (pid %d) is gone", cp_id, proc.pid)
                    self._forget(cp_id)
        if self._info_dirty and now - self._last_info >= INFO_INTERVAL:
            self._publish_info()
        if self.stats:
            self.stats.tick(now)

    def _publish_info(self) -> None:
        self._info_dirty = False
        self._last_info = time.monotonic()
        info = LauncherInfo(version=__version__, host=socket.gethostname(), pid=os.getpid(),
                            running=len(self.processes), workdir=str(self.instances.workdir),
                            spawn_mode=self.settings.spawn_mode, name=self.settings.name,
                            extra={"broker": str(self.mqtt.url), "max_cps": self.settings.max_cps,
                                   "cps_per_process": self.settings.cps_per_process,
                                   "waiting": len(self.pacer),
                                   **(self.stats.about() if self.stats else {})})
        self.mqtt.publish_state(self.own.info, info.to_json())

    # -- registry ---------------------------------------------------------
    def _adopt(self, cp_id: str, claimed_pid: int | None = None) -> CpProcess | None:
        """Take over a CP whose marker proves its process is alive (after a launcher restart)."""
        try:
            identity = self.instances.identity(cp_id, claimed_pid)
        except InstanceError:
            return None
        if identity is None:
            return None
        owner = self.instances.launcher(cp_id)
        if owner != self.settings.name:
            log.info("not adopting charge point %s (pid %d): it belongs to launcher %r", cp_id, identity.pid, owner)
            return None
        directory = self.instances.path(cp_id) if identity.packed else None
        proc = self.processes[cp_id] = CpProcess(identity.pid, identity.ticks, directory=directory)
        self._info_dirty = True
        log.info("adopted running charge point %s (pid %d)", cp_id, proc.pid)
        return proc

    def _running(self, cp_id: str) -> CpProcess | None:
        """The live process of `cp_id`, known or found by its marker, else None."""
        proc = self.processes.get(cp_id)
        if proc is not None:
            if proc.alive():
                return proc
            self._forget(cp_id)
        return self._adopt(cp_id)

    def _forget(self, cp_id: str) -> None:
        """Drop a charge point whose process is gone, though its exit may not be reported yet."""
        proc = self.processes.pop(cp_id)
        self._info_dirty = True
        if proc.spawned and not proc.packed:  # a packed member can end while its host runs on
            self._unreported[proc.pid] = (cp_id, proc)

    def _on_exit(self, pid: int, code: int) -> None:
        """A process we spawned ended: its charge point, or every member of a packed one."""
        ended = [(i, self.processes.pop(i)) for i, p in list(self.processes.items()) if p.pid == pid]
        if pid in self._unreported:
            ended.append(self._unreported.pop(pid))
        for cp_id, proc in ended:
            self._info_dirty = True
            if code == 0 or proc.killed:
                log.info("charge point %s (pid %d) ended with code %d", cp_id, pid, code)
            else:
                self._error(self.topics.cp_status(cp_id), f"charge point {cp_id} (pid {pid}) exited with "
                            f"code {code}; see {self.instances.root / cp_id}", "")

    def _error(self, topic: str, error: str, raw: bytes | str) -> None:
        self.mqtt.report_error(self.own.error, topic, error, raw)

    # -- MQTT input -------------------------------------------------------
    def _on_command(self, msg: Message) -> None:
        if msg.retain:
            self._error(msg.topic, RETAINED_INPUT, msg.payload)
            return
        try:
            command = LauncherCommand.parse(msg.payload, self.settings.template.definition_defaults())
        except PayloadError as exc:
            self._error(msg.topic, str(exc), msg.payload)
            return
        log.info("command %s for %d charge point(s)", command.type.value, len(command.ids))
        if not command.ids and command.type in (LauncherCommandType.START, LauncherCommandType.RESTART,
                                                LauncherCommandType.KILL):
            self._error(msg.topic, f"{command.type.value}: charge_points is empty, nothing to do", msg.payload)
            return
        if command.type is LauncherCommandType.START:
            self._start(command.charge_points, fresh=True, raw=msg.payload,
                        cps_per_process=command.cps_per_process, ramp=command.ramp)
        elif command.type is LauncherCommandType.RESTART:
            self._start(command.charge_points, fresh=False, raw=msg.payload,
                        cps_per_process=command.cps_per_process, ramp=command.ramp)
        elif command.type is LauncherCommandType.KILL:
            self._kill(command.ids, raw=msg.payload)
        elif command.type is LauncherCommandType.AUTO:
            self._auto(command, raw=msg.payload)
        else:
            log.info("close command: exiting, charge points keep running")
            self._stopping = True

    def _on_cp_status(self, msg: Message) -> None:
        parsed = self.topics.parse(msg.topic)
        if parsed is None or parsed.cp_id is None:
            return
        cp_id = parsed.cp_id
        if not msg.payload:
            self._remove(cp_id, msg)
            return
        try:
            status = CpStatus.from_payload(msg.payload)
        except PayloadError as exc:
            log.debug("ignoring unreadable status of %s: %s", cp_id[:60], exc)
            return
        self.statuses[cp_id] = status
        proc = self.processes.get(cp_id)
        if proc is None and status.status != CpRegistration.DEAD and status.launcher == self.settings.name:
            self._adopt(cp_id, status.pid or None)
        elif proc is not None and status.status == CpRegistration.DEAD and not proc.alive():
            self._forget(cp_id)
        elif (proc is not None and not msg.retain and status.status != CpRegistration.DEAD
              and status.launcher != self.settings.name):
            self._running_twice(cp_id, status, msg.payload)
        if status.status == CpRegistration.DEAD and self.stats:
            self.stats.stats.gone(cp_id)

    def _on_cp_stats(self, msg: Message) -> None:
        """Call statistics of one of this launcher's charge points (other launchers count theirs)."""
        parsed = self.topics.parse(msg.topic)
        if parsed is None or parsed.cp_id not in self.processes or self.stats is None:
            return
        try:
            self.stats.stats.update(parsed.cp_id, StatsReport.from_payload(msg.payload))
        except PayloadError as exc:
            self._error(msg.topic, str(exc), msg.payload)

    # -- commands ---------------------------------------------------------
    def _start(self, definitions: list[ChargePointDefinition], *, fresh: bool, raw: bytes | str,
               cps_per_process: int | None = None, ramp: float | None = None) -> None:
        """start (`fresh`: new directory) or restart (keep it) — refused for a running id; at
        `ramp` charge points per second (a packed process's members together), else all at once.

        `cps_per_process`: the command's packing; else a restart packs a CP as it was last
        started, and a start as the launcher's --cps-per-process says."""
        topic = self.own.cmd
        accepted: list[ChargePointDefinition] = []
        seen: set[str] = set()
        over_limit: list[str] = []
        for definition in definitions:
            cp_id = definition.id
            if cp_id in seen:
                self._error(topic, f"{cp_id}: repeated in one command, started once", raw)
                continue
            seen.add(cp_id)
            if cp_id in self.pacer:
                self._error(topic, f"{cp_id}: already waiting for its turn (ramp)", raw)
                continue
            proc = self._running(cp_id)
            if proc is not None:
                self._error(topic, f"{cp_id}: already running (pid {proc.pid})", raw)
                continue
            elsewhere = self._alive_elsewhere(cp_id)
            if elsewhere:
                self._error(topic, f"{cp_id}: not started, {elsewhere}", raw)
                continue
            if len(self.processes) + len(self.pacer) + len(accepted) >= self.settings.max_cps:
                over_limit.append(cp_id)
                continue
            accepted.append(definition)
        if over_limit:  # one message, however large the command
            self._error(topic, f"{len(over_limit)} charge point(s) not started, {self.settings.max_cps} would "
                        f"be running (--max-cps): {', '.join(over_limit[:10])}"
                        + (", …" if len(over_limit) > 10 else ""), raw)
        default = self.settings.cps_per_process
        for definition in accepted:
            cp_id = definition.id
            self.packing[cp_id] = cps_per_process or (default if fresh else self.packing.get(cp_id, default))
        for size in sorted({self.packing[d.id] for d in accepted}):
            self.pacer.add([d for d in accepted if self.packing[d.id] == size], fresh=fresh, raw=raw, rate=ramp,
                           group=size)
        self._info_dirty = True
        if ramp is not None and accepted:
            log.info("%d charge point(s) to start at %g per second", len(accepted), ramp)
        self._launch(self.pacer.due())

    def _launch(self, batch: list[PendingStart]) -> None:
        """Instance directories, then one fork batch (their turn has come)."""
        if not batch:
            return
        topic = self.own.cmd
        raws = {p.definition.id: p.raw for p in batch}
        prepared: list[tuple[str, Path]] = []
        for pending in batch:
            definition = pending.definition
            if elsewhere := self._alive_elsewhere(definition.id):  # started there while this one waited
                self._error(topic, f"{definition.id}: not started, {elsewhere}", pending.raw)
                continue
            try:
                path = self.instances.create(definition, self.settings.template, str(self.mqtt.url),
                                             self.settings.root, fresh=pending.fresh, launcher=self.settings.name)
            except (InstanceError, ConfigError, OSError) as exc:
                self._error(topic, f"{definition.id}: {exc}", pending.raw)
                continue
            prepared.append((definition.id, path))
        single = [(cp_id, path) for cp_id, path in prepared if self.packing[cp_id] <= 1]
        groups = [[entry] for entry in single]
        for size in sorted({self.packing[cp_id] for cp_id, _p in prepared} - {1}):
            groups += packed.batches([e for e in prepared if self.packing[e[0]] == size], size)
        assert self.spawner is not None
        requests = [self._spawn_request(group) for group in groups]
        for group, spawned in zip(groups, self.spawner.spawn(requests), strict=True):
            for cp_id, path in group:
                if spawned.error:
                    self._error(topic, f"{cp_id}: {spawned.error}", raws[cp_id])
                    continue
                packed_member = self.packing[cp_id] > 1
                self.processes[cp_id] = CpProcess(
                    spawned.pid, spawned.ticks, spawned=True, directory=path if packed_member else None,
                    marker_due=time.monotonic() + MEMBER_MARKER_WAIT if packed_member else 0.0)
                log.info("started charge point %s (pid %d) in %s", cp_id, spawned.pid, path)
        self._info_dirty = True

    def _alive_elsewhere(self, cp_id: str) -> str:
        """Why `cp_id` runs under another launcher, from its retained status, else "" (ids are
        unique across the fleet, whichever host runs them)."""
        status = self.statuses.get(cp_id)
        if status is None or status.status == CpRegistration.DEAD or status.launcher == self.settings.name:
            return ""
        return f"it is alive under {_launcher_label(status.launcher)} (status {status.status}, pid {status.pid})"

    def _running_twice(self, cp_id: str, status: CpStatus, raw: bytes) -> None:
        """A live status of another launcher's `cp_id` while this one runs its own: both were
        told to start it at the same moment, before either's status reached the other. The
        launcher whose name sorts first (the unnamed one before any) keeps it; the other kills
        its own. The kept one's status is on the topic again once its MQTT session is back
        (the two shared one client id, and it re-sends its retained statuses on reconnection)."""
        other = _launcher_label(status.launcher)
        if self.settings.name < status.launcher:
            log.warning("charge point %s runs under %s too (pid %s): that launcher stops its own", cp_id, other,
                        status.pid)
            return
        if self._running(cp_id) is None:  # ours is gone already: nothing to stop
            return
        self._kill([cp_id], raw=raw)
        self._error(self.own.cmd, f"{cp_id}: stopped here, {other} started it too at the same moment (pid "
                    f"{status.pid}); an id runs under one launcher, the one whose name sorts first", raw)

    def _spawn_request(self, group: list[tuple[str, Path]]) -> SpawnRequest:
        """One charge point in a process of its own, or a packed process of the group."""
        (first, path), broker = group[0], str(self.mqtt.url)
        if self.packing[first] <= 1:
            return SpawnRequest(path, self.instances.log_path(first), (path,), broker)
        return SpawnRequest(self.instances.root, packed.host_log(self.instances.workdir, first),
                            tuple(p for _i, p in group), broker, packed=True)

    def _kill(self, ids: list[str], *, raw: bytes | str) -> None:
        """SIGKILL (the CP's will then says Dead), after verifying each PID; wait until gone.
        A member of a packed process: its host drops it (never a signal to the host)."""
        victims: dict[str, CpProcess] = {}
        hosts: dict[tuple[int, int], list[str]] = {}
        waiting = set(self.pacer.cancel(ids))  # not started yet: they never will be
        for cp_id in ids:
            if cp_id in waiting:
                log.info("charge point %s: start cancelled before its turn", cp_id)
                continue
            proc = self._running(cp_id)
            if proc is None:
                self._not_running(cp_id, raw)
                continue
            if proc.packed and proc.ticks is not None:
                hosts.setdefault((proc.pid, proc.ticks), []).append(cp_id)
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.killed = True
            victims[cp_id] = proc
            log.info("killed charge point %s (pid %d)", cp_id, proc.pid)
        for (pid, ticks), members in hosts.items():
            self._kill_members(pid, ticks, members, raw)
        deadline = time.monotonic() + KILL_WAIT
        while any(p.alive() for p in victims.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
        for cp_id, proc in victims.items():
            if not proc.alive():
                self.processes.pop(cp_id, None)
        self._info_dirty = True

    def _kill_members(self, pid: int, ticks: int, ids: list[str], raw: bytes | str) -> None:
        try:
            killed = packed.kill_members(pid, ticks, ids, packed.KILL_ANSWER_TIMEOUT)
        except packed.HostUnreachable as exc:
            self._error(self.own.cmd, f"{', '.join(ids)}: not killed: {exc}", raw)
            return
        for cp_id in ids:
            proc = self.processes.pop(cp_id, None)
            if proc is not None:
                proc.killed = True
            if cp_id in killed:
                log.info("killed charge point %s (in packed process %d)", cp_id, pid)
        self._info_dirty = True

    def _auto(self, command: LauncherCommand, *, raw: bytes | str) -> None:
        """Automatic sessions on (or off) for many charge points: each gets its own `auto`
        command, with a seed derived from the command's seed and its id."""
        assert command.auto is not None
        settings = command.auto
        seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(SEED_MAX)
        ids = sorted(self.processes) if command.every_cp else command.ids
        sent = 0
        for cp_id in ids:
            if self._running(cp_id) is None:
                self._error(self.own.cmd, f"{cp_id}: not running, no automatic sessions", raw)
                continue
            cp_command = CpCommand(CpCommandType.AUTO, auto=settings.with_seed(derived_seed(seed, cp_id)))
            self.mqtt.publish(self.topics.cp_cmd(cp_id), cp_command.to_json())
            sent += 1
        log.info("automatic sessions %s for %d charge point(s), seed %d", "on" if settings.enabled else "off",
                 sent, seed)

    def _not_running(self, cp_id: str, raw: bytes | str) -> None:
        """kill of a CP without a process: correct a stale retained status, else say so."""
        status = self.statuses.get(cp_id)
        if (status is not None and status.status != CpRegistration.DEAD and status.launcher == self.settings.name
                and self.instances.exists(cp_id)):
            # Its will never fired (e.g. the broker restarted after it died): say Dead for it.
            log.warning("%s: no live process; marking its retained status Dead", cp_id)
            dead = status.with_status(CpRegistration.DEAD.value)
            self.statuses[cp_id] = dead
            self.mqtt.publish(self.topics.cp_status(cp_id), dead.to_json(), retain=True)
            return
        elsewhere = self._alive_elsewhere(cp_id)
        self._error(self.own.cmd, f"{cp_id}: not running" + (f" here, {elsewhere}" if elsewhere else ""), raw)

    def _remove(self, cp_id: str, msg: Message) -> None:
        """Empty retained CP status (removal protocol): delete the instance directory."""
        try:
            path = self.instances.path(cp_id)
        except InstanceError as exc:
            self._error(msg.topic, f"not removed: {exc}", msg.payload)
            return
        proc = self._running(cp_id)
        identity = None if proc else self.instances.identity(cp_id)  # another launcher's, in our workdir
        pid = proc.pid if proc else identity.pid if identity else None
        if pid is not None:
            self._error(msg.topic, f"{cp_id}: not removed, its process (pid {pid}) is running; "
                        "kill it first", msg.payload)
            return
        self.statuses.pop(cp_id, None)
        try:
            if self.instances.remove(cp_id):
                log.info("removed charge point %s", cp_id)
        except OSError as exc:
            self._error(msg.topic, f"{cp_id}: cannot remove {path}: {exc}", msg.payload)


def _launcher_label(name: str) -> str:
    return f"launcher '{name}'" if name else "the unnamed launcher"
