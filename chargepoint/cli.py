"""`ocpp-simu chargepoint --workdir DIR [--broker URL]`: run one simulated charge point.

DIR/config.ini (written by the launcher, or created here from the options when DIR is
new) defines the charge point. Several --workdir (or --packed) run them all in this one
process (`chargepoint.packed`). `main(argv)` runs the same command without the top-level
group, for `python -m chargepoint`; `run_instances` runs existing directories without any
argument parsing, for the launcher's forked children.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click

from chargepoint.packed_logs import log_file_handler, quiet_libraries
from cp_simu.broker_access import access_options, mqtt_options, resolve
from cp_simu.config import INSTANCE_FILE, ConfigError, load_config, write_instance_config
from cp_simu.logs import FORMAT
from cp_simu.models import ChargePointDefinition, PayloadError
from cp_simu.process import write_marker
from cp_simu.proctitle import cp_title, packed_title, set_title
from cp_simu.redact import install_log_filter

# option name -> definition key (options only matter when the instance directory is new)
DEFINITION_OPTIONS = {
    "cp_id": "id", "central_system": "central_system", "cp_type": "type", "connectors": "nb_connectors",
    "phases": "nb_phases", "voltage": "voltage", "max_setpoint": "max_setpoint",
    "max_setpoint_per_connector": "max_setpoint_per_connector", "vendor": "vendor", "model": "model",
    "serial": "serial", "ocpp_version": "ocpp_version",
}


def _setup_logging(directory: Path, verbose: int) -> None:
    """DIR/chargepoint.log (rotating, INFO) and stderr (WARNING, or more with -v)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler()
    stderr.setFormatter(logging.Formatter(FORMAT))
    stderr.setLevel(logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG)
    root.addHandler(log_file_handler(directory))
    root.addHandler(install_log_filter(stderr))
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    quiet_libraries(verbose)


def prepare_instance(directory: Path, options: dict[str, Any], broker: str | None,
                     access: dict[str, Any] | None = None) -> Any:
    """The instance to run: DIR/config.ini, created from the options if DIR is new (without
    the broker's credentials). `access`: the MQTT security options (`access_options`). A
    refused invocation leaves no directory behind that it created."""
    created = not directory.exists()
    try:
        return _instance(directory, options, broker, access or {})
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def _instance(directory: Path, options: dict[str, Any], broker: str | None, access: dict[str, Any]) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / INSTANCE_FILE
    given = {DEFINITION_OPTIONS[k]: v for k, v in options.items() if v is not None}
    if not path.exists():
        if "id" not in given:
            raise click.UsageError(f"{path} does not exist: give --id (and the definition options) "
                                   "to create it")
        template = load_config(None)
        try:
            definition = ChargePointDefinition.from_dict(given, template.definition_defaults())
        except PayloadError as exc:
            raise click.BadParameter(str(exc)) from None
        write_instance_config(template, definition, directory, broker=broker)
    elif given:
        logging.getLogger(__name__).warning("%s exists: definition options ignored", path)
    return load_instance(directory, broker, access)


def load_instance(directory: Path, broker: str | None, access: dict[str, Any]) -> Any:
    """The `Instance` an existing DIR/config.ini defines (ConfigError, ValueError if unusable)."""
    from chargepoint.station import Instance

    config = load_config(directory / INSTANCE_FILE)
    return Instance(directory, config, config.definition(), resolve(broker, defaults=config.mqtt, **access))


async def _serve(instance: Any) -> int:
    from chargepoint.station import Station

    station = Station(instance)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, station.close)
    return await station.run()


@click.command(name="chargepoint", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--workdir", "workdirs", required=True, multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Instance directory: config.ini, state, offline queue, logs. Repeat it to run "
                   "several existing instances in this one process.")
@click.option("--packed", is_flag=True, help="Run the instances as a packed process (implied by several "
                                             "--workdir): one asyncio loop, killable one by one by the launcher.")
@click.option("--broker", help="MQTT broker URL, mqtt:// or mqtts:// (overrides [Mqtt] broker of config.ini).")
@click.option("--id", "cp_id", help="Charge point id (only used to create a new DIR).")
@click.option("--central-system", help="CSMS URL, ws:// or wss://; {id} stands for the charge point id, "
                                             "else the CP connects to URL/<id>.")
@click.option("--type", "cp_type", type=click.Choice(["AC", "DC"]), help="AC (setpoints in A) or DC (W).")
@click.option("--connectors", type=int, help="Number of connectors.")
@click.option("--phases", type=int, help="Number of phases (AC).")
@click.option("--voltage", type=float, help="Voltage (V).")
@click.option("--max-setpoint", type=float, help="Charge-point-wide limit (A per phase, or W).")
@click.option("--max-setpoint-per-connector", type=float, help="Limit of each connector.")
@click.option("--vendor", help="Vendor name sent in BootNotification.")
@click.option("--model", help="Model name sent in BootNotification.")
@click.option("--serial", help="Serial number sent in BootNotification (default: SN-<id>).")
@click.option("--ocpp-version", type=click.Choice(["1.6", "2.0.1"]), help="OCPP version (default 1.6).")
@mqtt_options
@click.option("-v", "--verbose", count=True, help="More log output on stderr.")
def chargepoint(workdirs: tuple[Path, ...], packed: bool, broker: str | None, verbose: int, **options: Any) -> None:
    """Run one simulated charge point until it is told to close (MQTT `close`, SIGTERM);
    several (repeated --workdir) in one packed process."""
    access = access_options(options)
    if packed or len(workdirs) > 1:
        if any(options.get(k) is not None for k in DEFINITION_OPTIONS):
            raise click.UsageError("the definition options create one new instance: give a single --workdir")
        code = _run_packed(list(workdirs), broker, verbose, access)
    else:
        try:
            instance = prepare_instance(workdirs[0], options, broker, access)
        except (ConfigError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        code = _run_one(instance, verbose)
    if code:
        sys.exit(code)


def run_instances(workdirs: list[Path], broker: str | None, *, packed: bool = False) -> int:
    """Run existing instance directories, as `--workdir ... --broker URL [--packed]` would,
    without a command line to parse: what the launcher's forked children call (code a child
    runs for the first time copies memory pages; the MQTT credentials are in the
    environment). Returns the exit code; a refusal is said on stderr, as the command says it."""
    try:
        if packed or len(workdirs) > 1:
            return _run_packed(workdirs, broker, 0, {})
        try:
            instance = load_instance(workdirs[0], broker, {})
        except (ConfigError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return _run_one(instance, 0)


def _run_one(instance: Any, verbose: int) -> int:
    workdir = instance.directory
    set_title(cp_title(instance.definition.id))
    _setup_logging(workdir, verbose)
    write_marker(workdir)
    logging.getLogger(__name__).info("charge point %s starting (pid marker written)", instance.definition.id)
    return asyncio.run(_serve(instance))


def _run_packed(workdirs: list[Path], broker: str | None, verbose: int, access: dict[str, Any]) -> int:
    from chargepoint.packed import PackedHost, members_of
    from chargepoint.packed_logs import route_logging

    missing = [str(d) for d in workdirs if not (d / INSTANCE_FILE).is_file()]
    if missing:
        raise click.UsageError(f"no {INSTANCE_FILE} in {', '.join(missing)}")
    members = list(members_of(workdirs))
    set_title(packed_title([d.name for d in members]))
    route_logging(verbose)
    host = PackedHost(lambda directory: load_instance(directory, broker, access))
    return asyncio.run(host.run(members))


def main(argv: list[str] | None = None) -> int:
    """Run the command without the `ocpp-simu` group; returns the exit code."""
    try:
        chargepoint.main(args=argv, prog_name="chargepoint", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
