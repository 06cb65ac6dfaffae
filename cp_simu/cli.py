"""`ocpp-simu`: one command line for every part of the suite.

Subcommands are loaded on first use, so `ocpp-simu chargepoint` never imports Qt and
`ocpp-simu --help` stays instant.
"""

from __future__ import annotations

import asyncio
import importlib
import sys

import click

from cp_simu import __version__
from cp_simu.logs import setup_logging

# name -> (module:attribute of the click command, one-line help shown by --help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "broker": ("cp_simu.cli:broker", "Run the embedded MQTT broker (amqtt)."),
    "csms": ("cp_simu.csms.cli:csms", "Run the demo OCPP 1.6 / 2.0.1 Central System."),
    "launcher": ("launcher.cli:launcher", "Run the launcher daemon that starts/kills charge points."),
    "chargepoint": ("chargepoint.cli:chargepoint", "Run one simulated charge point."),
    "supervisor": ("supervisor.cli:supervisor", "Open the desktop supervisor (PySide6)."),
    "up": ("launcher.up:up", "Start broker, CSMS, launcher and N charge points; live view."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        target, _ = SUBCOMMANDS[cmd_name]
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return _unavailable(cmd_name, f"{module_name} is not installed ({exc})")
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in SUBCOMMANDS.items()])


def _unavailable(name: str, reason: str) -> click.Command:
    def run() -> None:
        raise click.ClickException(f"'{name}' is not available: {reason}")

    return click.Command(name, callback=run, help=f"Not available: {reason}")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ocpp-simu")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--log-file", type=click.Path(dir_okay=False), help="Also write the log to this file.")
def main(verbose: int, log_file: str | None) -> None:
    """Simulate fleets of OCPP charge points driven over MQTT.

    Typical use: `ocpp-simu up --cps 10` starts everything on this machine; the
    other commands run each part on its own (broker, csms, launcher, chargepoint,
    supervisor); each has --help.
    """
    setup_logging(verbose, log_file)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=1883, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
def broker(host: str, port: int) -> None:
    """Run the embedded MQTT 3.1.1 broker until Ctrl+C.

    Retained and will messages work as in any broker; point every component at it
    with --broker mqtt://HOST:PORT (the default is mqtt://127.0.0.1:1883).
    """
    from cp_simu.broker import serve

    try:
        asyncio.run(serve(host, port))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
