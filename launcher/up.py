"""`ocpp-simu up`: everything needed for a demo fleet on this machine, and a live view.

It starts only what is missing (an embedded broker if none answers, the demo CSMS unless
--csms is given, a launcher unless one is Alive on the broker), asks the launcher for the
charge points that are not already running, and shows them until Ctrl+C. Then it stops,
in reverse order, exactly what it started: its charge points (through the launcher, then
by verified PID if one is left), the launcher, the CSMS and the broker.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import click
import psutil

from cp_simu import redact
from cp_simu.broker import BrokerSecurity, add_user, reachable, spawn_embedded
from cp_simu.broker_access import BrokerAccess, access_options, mqtt_options, resolve
from cp_simu.models import (
    MAX_CPS_PER_PROCESS,
    OCPP_VERSIONS,
    AutoSettings,
    LauncherCommand,
    LauncherCommandType,
    LauncherStatus,
    PayloadError,
    decode_object,
    validate_central_system,
    validate_cp_id,
)
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import Topics
from cp_simu.urls import DEFAULT_BROKER_URL

from .cli import checked_launcher_name
from .daemon import KILL_WAIT
from .fleetview import FleetView
from .instances import Instances
from .remote_starts import RemoteStarts

DEMO_CSMS_PORT = 9000
# How long `up` waits for the CSMS or launcher it started to be ready: a crash is seen at once,
# so this only bounds a hang; a loaded machine may need tens of seconds to import and start one.
STARTUP_WAIT = 60.0
AUTO_WAIT = 120.0  # s `up --auto` waits for its charge points to be up before starting their sessions
# Closing the terminal (SIGHUP) stops `up` like Ctrl+C does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
STOP_WAIT = 5.0


def _say(text: str, **kwargs: Any) -> None:
    """Print, unless the terminal or pipe is gone (closed window, `| tee` killed by the same
    Ctrl+C): the clean-up that follows must happen all the same."""
    with contextlib.suppress(OSError):
        click.echo(text, **kwargs)


def _port_free(port: int) -> bool:
    """Whether a server could listen on `port` now. SO_REUSEADDR, as servers set it: the
    connections a just-stopped demo CSMS left in TIME_WAIT do not make its port "taken"."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port(preferred: int) -> int:
    """`preferred` if a server could listen there, else (or for 0) one the system picks."""
    if preferred and _port_free(preferred):
        return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _program() -> str:
    """How to call `ocpp-simu` from here: its name when it is on the PATH, else the path of the
    one beside this interpreter (`make run` does not activate the virtualenv)."""
    script = Path(sys.executable).with_name("ocpp-simu")
    if shutil.which("ocpp-simu") == str(script) or not script.exists():
        return "ocpp-simu"
    with contextlib.suppress(ValueError):
        return str(script.relative_to(Path.cwd()))
    return str(script)


def definitions(ids: list[str], cp_type: str, connectors: int, csms_url: str,
                versions: tuple[str, ...] = ("1.6",)) -> list[dict[str, object]]:
    """Start entries; the launcher's config.ini fills in the rest. DC: one 400 V phase, limits in W.
    `versions` are given to the charge points in turn (1.6, 1.6, 2.0.1, 1.6, …)."""
    dc = {"nb_phases": 1, "voltage": 400.0, "max_setpoint": 150_000.0 * connectors,
          "max_setpoint_per_connector": 150_000.0} if cp_type == "DC" else {}
    return [{"id": cp_id, "type": cp_type, "central_system": csms_url, "nb_connectors": connectors,
             "ocpp_version": version, **dc}
            for cp_id, version in zip(ids, itertools.cycle(versions), strict=False)]


def _versions(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    versions = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [v for v in versions if v not in OCPP_VERSIONS]
    if not versions or unknown:
        raise click.BadParameter(f"expected a comma-separated list of {', '.join(OCPP_VERSIONS)}")
    return versions


class Up:
    def __init__(self, broker: BrokerAccess, csms: str | None, workdir: Path,
                 embedded_tls: tuple[str, str] = ("", ""), *, keep_fleet: bool = False,
                 csms_port: int = DEMO_CSMS_PORT, cps_per_process: int = 1, launcher_name: str = "",
                 merge_pages: bool = False) -> None:
        self.access = broker
        self.broker = broker.url
        self.embedded_tls = embedded_tls  # certificate and key, if `up` starts an mqtts:// broker
        self.csms_url = csms
        self.csms_port = csms_port  # where the demo CSMS should listen (0: any free port)
        self.csms_kind = "external" if csms else ""
        self.api_url = ""  # the demo CSMS's control API, when `up` started it
        self.csms_ports: tuple[int, int] | None = None  # (OCPP, control API) of the demo CSMS it started
        self.workdir = workdir.resolve()
        self.keep_fleet = keep_fleet
        self.cps_per_process = cps_per_process
        self.topics = Topics()
        self.launcher_name = launcher_name  # the launcher `up` uses (and starts if missing); "" = unnamed
        self.own = self.topics.launcher(launcher_name)
        self.merge_pages = merge_pages  # the launcher `up` starts runs with --ksm
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []  # what we stop, in reverse
        self.cp_ids: list[str] = []  # the charge points we asked for (not those already running)
        self.mqtt: MqttClient | None = None
        self.remote_starts: RemoteStarts | None = None
        self.launcher_status: str = ""
        self._logs: list[IO[bytes]] = []
        self._stop = threading.Event()

    # -- starting ---------------------------------------------------------
    def _wait(self, predicate: Callable[[], object], timeout: float, what: str) -> None:
        """Poll `predicate`; give up after `timeout`, or at once on Ctrl+C (then stop() cleans up)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self._stop.is_set():
                raise click.Abort()
            if time.monotonic() > deadline:
                raise click.ClickException(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.05)

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """A helper process in its own session: Ctrl+C reaches only `up`, which stops it in order."""
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen([sys.executable, "-m", "cp_simu", *args], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.started.append((name, proc))
        return proc

    def start_broker(self) -> str:
        if reachable(self.broker):
            return "external"
        if not self.broker.is_loopback:
            raise click.ClickException(f"no MQTT broker answers at {self.broker}")
        try:
            proc = spawn_embedded(self.broker, log_file=self.workdir / "broker.log",
                                  security=self.embedded_security())
        except ValueError as exc:
            raise click.ClickException(f"cannot start the embedded broker: {exc}") from None
        self.started.append(("broker", proc))
        return "embedded"

    def embedded_security(self) -> BrokerSecurity:
        """The embedded broker admits exactly our user (a password file in the workdir, mode
        0600) and serves TLS with the --broker-certfile/--broker-keyfile given."""
        password_file = ""
        if self.broker.username:
            users = self.workdir / "broker.users"
            add_user(users, self.broker.username, self.broker.password or "")
            password_file = str(users)
        certfile, keyfile = self.embedded_tls
        return BrokerSecurity(password_file, certfile, keyfile)

    def start_csms(self) -> None:
        """The demo CSMS, unless --csms named one; started again (after stop_csms) on the same
        ports, where its charge points look for it."""
        if self.csms_url and not self.csms_ports:
            return
        port, api = self.csms_ports or (_free_port(self.csms_port), 0)
        api = api or _free_port(port + 1 if self.csms_port else 0)
        self.csms_ports = (port, api)
        proc = self._spawn("csms", ["csms", "--port", str(port), "--api-port", str(api),
                                    "--log", str(self.workdir / "csms.jsonl")])
        self.csms_url = f"ws://127.0.0.1:{port}/"
        self._wait(lambda: not _port_free(port) or proc.poll() is not None, STARTUP_WAIT,
                   "the demo CSMS")
        if proc.poll() is not None:
            raise click.ClickException(f"the demo CSMS exited; see {self.workdir / 'csms.log'}")
        self.api_url = f"http://127.0.0.1:{api}/api"
        self.csms_kind = f"demo, control API {self.api_url}"

    def stop_csms(self) -> None:
        """Stop the demo CSMS this run started (a CSMS outage); start_csms brings it back."""
        proc = next((p for name, p in reversed(self.started) if name == "csms"), None)
        if proc is None or self.csms_ports is None:
            raise click.ClickException("no demo CSMS was started here to stop (the CSMS was given with --csms)")
        proc.terminate()
        try:
            proc.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_WAIT)
        self.started.remove(("csms", proc))

    def csms_text(self, view: FleetView) -> str:
        """The CSMS URLs the fleet really uses: ours (if any) and those the running CPs report
        (a second `up` may start none, or its own while the first fleet stays where it is)."""
        ours = redact.url(self.csms_url) if self.csms_url else ""
        in_use = view.csms_in_use()
        texts = [f"{ours} ({self.csms_kind})"] if ours else []
        texts += [f"{url} ({n} running CP{'s' if n > 1 else ''})" for url, n in in_use.items() if url != ours]
        return " + ".join(texts) or "none yet"

    def connect(self, view: FleetView) -> None:
        self.mqtt = MqttClient(self.access, f"ocpp-simu-up-{os.getpid()}")
        self.mqtt.subscribe(self.own.status, self._on_launcher_status)
        for topic_filter in (self.topics.all_cp_statuses, self.topics.all_connector_statuses, self.own.error):
            self.mqtt.subscribe(topic_filter, view.on_message)
        try:
            self.mqtt.connect(10)
        except TimeoutError as exc:
            raise click.ClickException(str(exc)) from None

    def _on_launcher_status(self, msg: Message) -> None:
        self.launcher_status = msg.text

    def start_launcher(self, embedded_broker: bool) -> str:
        if not embedded_broker:  # a launcher may already serve this broker: its status is retained
            with contextlib.suppress(click.ClickException):
                self._wait(lambda: self.launcher_status, 1.0, "")
        if self.launcher_status == LauncherStatus.ALIVE.value:
            if self.merge_pages:
                _say("--ksm ignored: a launcher already runs on this broker (start it with --ksm yourself)")
            return "existing"
        # MQTT credentials and TLS files go through the environment, never the command line.
        name = ["--name", self.launcher_name] if self.launcher_name else []
        ksm = ["--ksm"] if self.merge_pages else []
        proc = self._spawn("launcher", ["launcher", "--broker", str(self.broker), "--workdir", str(self.workdir),
                                        *name, *ksm], env=self.access.environment_for_children())
        self._wait(lambda: self.launcher_status == LauncherStatus.ALIVE.value or proc.poll() is not None,
                   STARTUP_WAIT, "the launcher")
        if proc.poll() is not None:
            raise click.ClickException(f"the launcher exited; see {self.workdir / 'launcher.log'}")
        return f"pid {proc.pid}"

    def missing(self, ids: list[str], view: FleetView) -> list[str]:
        """Those of `ids` not already running (their retained status would say so)."""
        time.sleep(0.3)  # let the retained statuses of an existing fleet arrive
        return [] if self._stop.is_set() else [i for i in ids if not view.running(i)]

    def start_cps(self, missing: list[dict[str, object]], options: dict[str, object] | None = None) -> None:
        """Ask the launcher to start them; `options`: top-level fields of the start command."""
        assert self.mqtt is not None
        if self._stop.is_set():  # Ctrl+C before the start: nothing to start, nothing to kill
            return
        self.cp_ids += [str(d["id"]) for d in missing]
        if missing:
            packing = {"cps_per_process": self.cps_per_process} if self.cps_per_process > 1 else {}
            command = json.dumps({**(options or {}), **packing, "type": LauncherCommandType.START.value,
                                  "charge_points": missing})
            self.mqtt.publish(self.own.cmd, command).wait_for_publish(5)

    def hints(self, cp_id: str) -> list[str]:
        """What to do next, with the real broker, a real charge point id and the real ports."""
        pub = f"mosquitto_pub -h {self.broker.host} -p {self.broker.port}"
        if self.broker.username:  # the password is not printed: type it in
            pub += f" -u {self.broker.username} -P <password>"
        if self.broker.tls:
            pub += f" --cafile {self.access.ca_file or '<ca.pem>'}"
        car = '{"cable": 32, "consumption_l1": 16, "consumption_l2": 16, "consumption_l3": 16}'
        lines = [
            f"drive:      {pub} -t {self.topics.connector_car(cp_id, 1)} -m '{car}' && "
            f"{pub} -t {self.topics.connector_id_tag(cp_id, 1)} -m '{{\"id\": \"TAG1\"}}'",
            f"supervisor: {_program()} supervisor --broker {self.broker}",
        ]
        if self.api_url:
            lines.append(f"CSMS API:   curl -X POST {self.api_url}/cps/{cp_id}/call/RemoteStartTransaction "
                         f"-d '{{\"connectorId\": 1, \"idTag\": \"TAG1\"}}'")
        lines.append("Ctrl+C " + ("leaves the fleet running (--keep-fleet)" if self.keep_fleet
                                  else "stops every charge point of its launcher and everything `up` started"))
        return lines

    def start_auto(self, settings: AutoSettings, ids: list[str], view: FleetView) -> None:
        """Automatic sessions on every charge point of the fleet once it is up (through the
        launcher: per-CP seeds derived from the seed); remote starts answered through the
        demo CSMS when `up` started it."""
        assert self.mqtt is not None
        if self.api_url:
            self.remote_starts = RemoteStarts(self.mqtt, self.topics, self.api_url)
        try:
            self._wait(lambda: all(view.running(i) for i in ids), AUTO_WAIT, "the charge points to be up")
        except (click.ClickException, click.Abort) as exc:
            if not self._stop.is_set():
                _say(f"automatic sessions not started: {exc}", err=True)
            return
        command = LauncherCommand(LauncherCommandType.AUTO, ids=ids, auto=settings)
        if not self._command(command.to_json()):
            _say("automatic sessions not started: no launcher is Alive", err=True)

    # -- running ----------------------------------------------------------
    def show(self, view: FleetView) -> None:
        """Draw the view until Ctrl+C / SIGTERM."""
        tty = sys.stdout.isatty()
        if tty:
            click.echo("\x1b[?25l\x1b[2J", nl=False)  # hide the cursor, clear once
        try:
            while not self._stop.wait(0.25):
                view.draw(tty)
        finally:
            if tty:
                _say("\x1b[?25h", nl=False)

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Ctrl+C (or SIGTERM) came."""
        return self._stop.is_set()

    # -- stopping ---------------------------------------------------------
    def stop(self, view: FleetView) -> None:
        """Stop what we started, newest first, and the fleet of our launcher; never leave a
        process behind (--keep-fleet: leave it all running, and say what)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl+C must not interrupt the cleanup
        if self.keep_fleet:
            self._leave_running()
        else:
            self._stop_cps(view)
        if self.remote_starts:
            self.remote_starts.close()
        if self.mqtt:
            self.mqtt.stop()
        for name, proc in reversed([] if self.keep_fleet else self.started):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_WAIT)
                except subprocess.TimeoutExpired:
                    _say(f"{name} did not stop in {STOP_WAIT:g} s: killing it", err=True)
                    proc.kill()
                    proc.wait(STOP_WAIT)
        if not self.keep_fleet and "launcher" in dict(self.started):
            self._kill_strays()
        for log in self._logs:
            log.close()

    def _leave_running(self) -> None:
        running = [f"{name} (pid {proc.pid})" for name, proc in self.started if proc.poll() is None]
        count = len(self._fleet())
        _say(f"--keep-fleet: leaving {count} charge point(s) running"
             + (f", and {', '.join(running)}" if running else ""))

    def _fleet(self) -> list[str]:
        """The charge points to stop: ours, and, if `up` started the launcher, every one it runs
        (also those others started through it: mosquitto_pub, the supervisor)."""
        ids = list(self.cp_ids)
        if "launcher" in dict(self.started):
            instances = Instances(self.workdir)
            ids += [i for i in instances.ids() if i not in ids and instances.identity(i)]
        return ids

    def _command(self, payload: str) -> bool:
        """Publish a launcher command if a launcher can hear it."""
        if not (self.mqtt and self.mqtt.connected.is_set() and self.launcher_status == LauncherStatus.ALIVE.value):
            return False
        self.mqtt.publish(self.own.cmd, payload).wait_for_publish(STOP_WAIT)
        return True

    def _stop_cps(self, view: FleetView) -> None:
        """kill through the launcher, then by verified PID whatever is left in our workdir."""
        fleet = self._fleet()
        if not fleet:
            return
        _say(f"stopping {len(fleet)} charge point(s)")
        killed = self._command(LauncherCommand(LauncherCommandType.KILL, ids=fleet).to_json())
        ours = dict(self.started).get("launcher")
        if killed and ours is not None and self._command(LauncherCommand(LauncherCommandType.CLOSE).to_json()):
            # Handled in order: once our launcher has closed, its kill is done.
            with contextlib.suppress(subprocess.TimeoutExpired):
                ours.wait(STOP_WAIT + KILL_WAIT)
        elif killed:  # someone else's launcher: its CPs' wills say when they are gone
            deadline = time.monotonic() + STOP_WAIT
            while time.monotonic() < deadline and any(view.running(i) for i in fleet):
                time.sleep(0.1)
        instances = Instances(self.workdir)
        for cp_id in fleet:
            identity = instances.identity(cp_id) if instances.exists(cp_id) else None
            if identity:
                _say(f"killing {cp_id} (pid {identity[0]}) directly", err=True)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(identity[0], signal.SIGKILL)

    def _kill_strays(self) -> None:
        """Our launcher is gone: a process still working in one of its instance directories is
        a charge point it spawned too late for the kill (a start and a kill crossing on the
        broker, a launcher killed while its fork server still forked), maybe without its PID
        marker yet. Looked for a few times: a fork enters its directory a moment after birth."""
        root = str(Instances(self.workdir).root) + os.sep
        for attempt in range(3):
            time.sleep(0.5 * attempt)
            for proc in psutil.process_iter(["cwd"]):
                cwd = proc.info.get("cwd")
                if cwd and (cwd + os.sep).startswith(root):
                    _say(f"killing pid {proc.pid} (in {cwd}) directly", err=True)
                    with contextlib.suppress(psutil.Error):
                        proc.kill()


def auto_options(seed: int | None, rate: float | None, more: str | None) -> AutoSettings:
    """The `auto` settings `up --auto` gives its fleet (usage errors for bad ones)."""
    data: dict[str, object] = {}
    if more:
        text = more
        if not more.lstrip().startswith("{"):
            try:
                text = Path(more).read_text(encoding="utf-8")
            except OSError as exc:
                raise click.BadParameter(f"neither a JSON object nor a readable file: {exc}",
                                         param_hint="--auto-settings") from None
        try:
            data = decode_object(text, "--auto-settings")
        except PayloadError as exc:
            raise click.BadParameter(str(exc), param_hint="--auto-settings") from None
    data |= {k: v for k, v in (("seed", seed), ("rate", rate)) if v is not None}
    try:
        return AutoSettings.from_dict(data)
    except PayloadError as exc:
        raise click.BadParameter(str(exc), param_hint="--auto-settings") from None


@click.command(name="up", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cps", type=click.IntRange(0, 1000), default=3, show_default=True,
              help="Number of charge points (ids CP_0001…, see --id-prefix).")
@click.option("--csms", metavar="URL", help="Central System to connect to (ws:// or wss://; {id} stands for "
                                            "the charge point id, else <URL>/<id>); default: start the demo "
                                            "CSMS on --csms-port.")
@click.option("--csms-port", type=click.IntRange(0, 65535), default=DEMO_CSMS_PORT, show_default=True,
              help="Port of the demo CSMS `up` starts (its control API on the next free one); taken or 0: "
                   "a free port.")
@click.option("--broker", metavar="URL", default=DEFAULT_BROKER_URL, show_default=True,
              help="MQTT broker (mqtt://[user:pw@]host:port, mqtts:// for TLS); an embedded one is "
                   "started if nothing answers there.")
@mqtt_options
@click.option("--type", "cp_type", type=click.Choice(["AC", "DC"]), default="AC", show_default=True)
@click.option("--connectors", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Connectors per charge point.")
@click.option("--ocpp-versions", "versions", default="1.6,1.6,2.0.1", show_default=True, callback=_versions,
              help="OCPP versions given to the charge points in turn (a mixed fleet by default).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("ocpp-simu-work"), show_default=True,
              help="Instance directories and the logs of what `up` starts.")
@click.option("--broker-certfile", type=click.Path(dir_okay=False, exists=True),
              help="For an mqtts:// --broker that `up` starts: its certificate (PEM).")
@click.option("--broker-keyfile", type=click.Path(dir_okay=False, exists=True),
              help="For an mqtts:// --broker that `up` starts: its private key (PEM).")
@click.option("--cps-per-process", type=click.IntRange(1, MAX_CPS_PER_PROCESS), default=1, show_default=True,
              help="Charge points per process (above 1: packed processes, for large fleets).")
@click.option("--ramp", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Start the charge points at N per second (default: all at once).")
@click.option("--launcher", "launcher_name", default="", metavar="NAME", callback=checked_launcher_name,
              help="Use the named launcher NAME (started with --name NAME if none is Alive), one of several "
                   "sharing the broker; default: the unnamed one.")
@click.option("--ksm", "merge_pages", is_flag=True,
              help="Start the launcher with --ksm: the kernel's same-page merging on while it runs (root), "
                   "about a third of the memory per forked charge point.")
@click.option("--id-prefix", default="CP_", show_default=True,
              help="Charge point ids are PREFIX0001…: give each host's fleet its own (ids are unique across "
                   "the launchers of a broker).")
@click.option("--keep-fleet", is_flag=True,
              help="On exit, leave the charge points and what `up` started for them running.")
@click.option("--auto", "auto", is_flag=True,
              help="Automatic sessions on every charge point once it is up (cars arrive, charge and "
                   "leave on their own); remote starts go through the demo CSMS's control API.")
@click.option("--auto-seed", type=click.IntRange(0), metavar="N",
              help="Seed of the automatic sessions: the same seed gives the same inputs (default: random, "
                   "shown in each CP status's auto_seed).")
@click.option("--auto-rate", type=click.FloatRange(0, min_open=True), metavar="PER_HOUR",
              help="Car arrivals per hour per charge point (default 4).")
@click.option("--auto-settings", metavar="JSON|FILE",
              help="More automatic session settings: a JSON object (or a file holding one) with the keys "
                   "of the `auto` command, e.g. '{\"dwell\": [60, 300], \"invalid_share\": 0.1}'.")
def up(cps: int, csms: str | None, csms_port: int, broker: str, cp_type: str, connectors: int,
       versions: tuple[str, ...], workdir: Path, broker_certfile: str | None, broker_keyfile: str | None,
       keep_fleet: bool, cps_per_process: int, ramp: float | None, launcher_name: str, merge_pages: bool,
       id_prefix: str, auto: bool, auto_seed: int | None, auto_rate: float | None, auto_settings: str | None,
       **mqtt: str | None) -> None:
    """Start broker, demo CSMS, launcher and N charge points as needed; show every charge
    point on the broker live.

    Ctrl+C stops everything `up` started, and every charge point of the launcher it started
    (also those added through it by others), unless --keep-fleet; logs stay in WORKDIR. An
    embedded broker started for a URL with user:password admits only that user; for
    mqtts:// it serves TLS with --broker-certfile/--broker-keyfile.
    """
    ids = [f"{id_prefix}{i:04d}" for i in range(1, cps + 1)]
    try:
        access = resolve(broker, **access_options(mqtt))
        broker_url = access.url
        if csms:
            validate_central_system(csms, "--csms")
        for cp_id in ids[:1] + ids[-1:]:  # the shortest and the longest
            validate_cp_id(cp_id, "--id-prefix")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    automatic = auto_options(auto_seed, auto_rate, auto_settings) if auto else None
    workdir.mkdir(parents=True, exist_ok=True)
    run = Up(access, csms, workdir, (broker_certfile or "", broker_keyfile or ""), keep_fleet=keep_fleet,
             csms_port=csms_port, cps_per_process=cps_per_process, launcher_name=launcher_name,
             merge_pages=merge_pages)
    for sig in STOP_SIGNALS:
        signal.signal(sig, run.request_stop)
    parts: dict[str, str] = {}
    view = FleetView(Topics(), ids, header=lambda: (
        f"ocpp-simu up · broker {broker_url} ({parts.get('broker')}) · CSMS {run.csms_text(view)} "
        f"· launcher {launcher_name + ' ' if launcher_name else ''}{run.launcher_status or '?'} "
        f"({parts.get('launcher')})"))
    try:
        parts["broker"] = run.start_broker()
        run.connect(view)
        parts["launcher"] = run.start_launcher(parts["broker"] == "embedded")
        missing = run.missing(ids, view)
        if missing or not ids:  # none when the whole fleet runs already: it stays on its CSMS
            run.start_csms()
        view.hints = run.hints(ids[0] if ids else "<cp_id>")
        click.echo(view.header())
        if not sys.stdout.isatty():  # the live screen shows them under the table
            click.echo("\n".join(view.hints))
        wanted = definitions(ids, cp_type, connectors, str(run.csms_url), versions)  # versions by position
        run.start_cps([d for d in wanted if d["id"] in missing], {} if ramp is None else {"ramp": ramp})
        if automatic is not None and ids:
            threading.Thread(target=run.start_auto, args=(automatic, ids, view), daemon=True).start()
        view.started_at = time.monotonic()
        run.show(view)
    finally:
        _say("stopping…")
        run.stop(view)
        _say(f"stopped; logs in {run.workdir}")
