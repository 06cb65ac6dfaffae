"""`ocpp-simu launcher`: the daemon's command line."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from cp_simu import ksm
from cp_simu.broker import reachable, spawn_embedded
from cp_simu.broker_access import access_options, mqtt_options, resolve
from cp_simu.config import ConfigError, load_config
from cp_simu.models import MAX_CPS_PER_PROCESS, PayloadError, Setup, validate_launcher_name
from cp_simu.urls import BrokerUrl

from .daemon import SPAWN_MODES, Launcher, LauncherError, LauncherSettings
from .stats import DEFAULT_METRICS_PORT


def checked_launcher_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """--name: a launcher name follows the charge point id rules (one safe topic level)."""
    try:
        return validate_launcher_name(value, "NAME")
    except PayloadError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="launcher", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--broker", metavar="URL", help="MQTT broker (mqtt://[user:pw@]host:port, mqtts:// for TLS); "
                                              "default: config.ini [Mqtt] broker, else mqtt://127.0.0.1:1883.")
@mqtt_options
@click.option("--name", default="", metavar="NAME", callback=checked_launcher_name,
              help="Run as the named launcher NAME (topics cp_simu/launchers/NAME/…), one of several "
                   "sharing a broker (one per host); default: the unnamed one (cp_simu/launcher/…).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Holds config.ini and the chargepoints/<id>/ instance directories.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Template copied into each instance; default: WORKDIR/config.ini, else the built-in one.")
@click.option("--setup", "setup_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Start the charge points of this setup file (supervisor format) not already running.")
@click.option("--reset", is_flag=True, help="Kill this workdir's charge points and delete their "
                                            "directories before starting.")
@click.option("--spawn-mode", type=click.Choice(SPAWN_MODES), default="fork", show_default=True,
              help="fork: from a preloaded helper (fast, shares memory); subprocess: one "
                   "`python -m chargepoint` each (for debugging).")
@click.option("--max-cps", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Refuse to run more charge points than this.")
@click.option("--cps-per-process", type=click.IntRange(1, MAX_CPS_PER_PROCESS), default=1, show_default=True,
              help="Charge points per process: above 1, packed processes each run up to this many "
                   "charge points on one event loop (each keeps its own connections, will and "
                   "directory); a start command's or setup file's cps_per_process overrides it.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              show_default=f"{DEFAULT_METRICS_PORT}, or any free port when another process holds it",
              help="Serve the fleet's call round-trip histograms for Prometheus on http://METRICS_HOST:PORT"
                   "/metrics; 0: any free port. The port in use is printed and published in the "
                   "launcher's info (\"metrics\"); a port given here that is taken is an error.")
@click.option("--no-metrics", is_flag=True, help="No metrics endpoint.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address of the metrics endpoint (0.0.0.0 to let another machine's Prometheus scrape it).")
@click.option("--embedded-broker/--no-embedded-broker", default=True, show_default=True,
              help="Start the embedded broker when nothing answers at a loopback broker URL.")
@click.option("--ksm", "merge_pages", is_flag=True,
              help="Switch on the kernel's same-page merging while the launcher runs (root, Linux >= 6.4): "
                   "forked charge points then take about a third of the memory, for some CPU of the "
                   "kernel's ksmd; switched off again on exit (pages merged by then stay merged).")
def launcher(broker: str | None, name: str, workdir: Path, config_path: Path | None, setup_path: Path | None,
             reset: bool, spawn_mode: str, max_cps: int, cps_per_process: int, metrics_port: int | None,
             no_metrics: bool, metrics_host: str, embedded_broker: bool, merge_pages: bool,
             **mqtt: str | None) -> None:
    """Run the launcher daemon: start / restart / kill charge point processes on MQTT command.

    It listens on cp_simu/launcher/cmd, publishes Alive/Dead on cp_simu/launcher/status
    and rejected commands on cp_simu/launcher/error (with --name NAME:
    cp_simu/launchers/NAME/cmd, /status, /error). Charge points keep running when it
    stops (Ctrl+C, or a {"type": "close"} command); a new launcher of the same name adopts
    them. It refuses to start an id that runs under another launcher. Its charge
    points reach the broker with its MQTT credentials and TLS files, handed to them through
    their environment (never on a command line or in their config.ini).

    It also merges the charge points' call statistics (cp_simu/cps/<id>/stats): served for
    Prometheus (--metrics-port), published on cp_simu/launcher/stats and written to a run
    file, WORKDIR/runs/run-<time>.jsonl, that `ocpp-simu report` turns into tables and plots.
    """
    if config_path is None and (workdir / "config.ini").is_file():
        config_path = workdir / "config.ini"
    try:
        template = load_config(config_path)
        access = resolve(broker, defaults=template.mqtt, **access_options(mqtt))
        setup_text = setup_path.read_text() if setup_path else ""
        setup = Setup.parse(setup_text, template.definition_defaults()) if setup_path else None
    except (ConfigError, ValueError, OSError) as exc:
        prefix = f"{setup_path}: " if isinstance(exc, PayloadError) else ""
        raise click.ClickException(f"{prefix}{exc}") from None
    if setup and setup.launcher != name:
        wanted = f"--name {setup.launcher}" if setup.launcher else "no --name"
        raise click.ClickException(f"{setup_path}: its charge points are meant for launcher "
                                   f"{setup.launcher or '(unnamed)'}; run with {wanted}")
    if embedded_broker:
        ensure_broker(access.url, workdir)
    settings = LauncherSettings(broker=access, workdir=workdir, template=template,
                                root=template.mqtt.root, spawn_mode=spawn_mode, max_cps=max_cps,
                                cps_per_process=cps_per_process,
                                setup=setup, setup_text=setup_text, reset=reset, name=name,
                                metrics_host=metrics_host, metrics_port=metrics_port, metrics=not no_metrics)
    try:
        with ksm.merging() if merge_pages else contextlib.nullcontext(False) as switched_on:
            if switched_on:
                click.echo("kernel same-page merging switched on until the launcher exits", err=True)
            Launcher(settings).run()
    except (LauncherError, ksm.KsmError) as exc:
        raise click.ClickException(str(exc)) from None


def ensure_broker(url: BrokerUrl, workdir: Path) -> None:
    """No broker at a loopback URL: start the embedded one, detached, so that it outlives the
    launcher like the charge points that use it do."""
    if not url.is_loopback or reachable(url):
        return
    if url.username or url.tls:
        raise click.ClickException(f"no MQTT broker answers at {url}; the embedded one is started only for a "
                                   "plain mqtt:// URL without user name: start it yourself (ocpp-simu broker "
                                   "--password-file / --certfile)")
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        proc = spawn_embedded(url, workdir / "broker.log")
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise click.ClickException(f"no MQTT broker at {url} and the embedded one did not start: {exc}") from None
    click.echo(f"no MQTT broker answered at {url}: started the embedded one (pid {proc.pid}, log "
               f"{workdir / 'broker.log'}); it keeps running after the launcher exits", err=True)
