"""`ocpp-simu`: one command line for every part of the suite.

Subcommands are loaded on first use, so `ocpp-simu chargepoint` never imports Qt and
`ocpp-simu --help` stays instant.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path

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
    "scenario": ("scenario.cli:scenario", "Run a scripted scenario against a CSMS; verdict, JUnit."),
    "pki": ("cp_simu.pki_cli:pki", "Create a demo CA, server and client certificates (security profiles 2, 3)."),
    "report": ("cp_simu.report:report", "Turn a launcher's run file into a latency table and plots."),
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
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Only the users in this file may connect (lines `user:argon2-hash`; see --add-user).")
@click.option("--add-user", metavar="USER", help="Add USER to --password-file (password asked for, or "
                                                 "taken from OCPP_SIMU_MQTT_PASSWORD), then exit.")
@click.option("--certfile", type=click.Path(dir_okay=False, exists=True), help="Serve TLS (mqtts://) with "
                                                                              "this PEM certificate (chain).")
@click.option("--keyfile", type=click.Path(dir_okay=False, exists=True), help="Private key of --certfile.")
@click.option("--cafile", type=click.Path(dir_okay=False, exists=True),
              help="CA bundle that client certificates are verified against.")
@click.option("--require-certificate", is_flag=True, help="Refuse TLS clients without a certificate "
                                                          "signed by --cafile.")
def broker(host: str, port: int, password_file: Path | None, add_user: str | None, certfile: str | None,
           keyfile: str | None, cafile: str | None, require_certificate: bool) -> None:
    """Run the embedded MQTT 3.1.1 broker until Ctrl+C.

    Retained and will messages work as in any broker; point every component at it
    with --broker mqtt://HOST:PORT (the default is mqtt://127.0.0.1:1883), or
    mqtts://HOST:PORT with --certfile/--keyfile. With --password-file only its users
    may connect: `ocpp-simu broker --password-file users --add-user fleet` adds one.
    """
    from cp_simu.broker import BrokerSecurity, serve
    from cp_simu.broker_access import ENV_PASSWORD

    if add_user:
        if not password_file:
            raise click.UsageError("--add-user needs --password-file")
        from cp_simu.broker import add_user as add

        password = os.environ.get(ENV_PASSWORD) or click.prompt(
            f"password for {add_user}", hide_input=True, confirmation_prompt=True)
        try:
            add(password_file, add_user, password)
        except (ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{add_user} added to {password_file}")
        return
    if password_file and not password_file.is_file():
        raise click.BadParameter(f"{password_file} does not exist (create it with --add-user)",
                                 param_hint="--password-file")
    if bool(certfile) != bool(keyfile) or ((cafile or require_certificate) and not certfile):
        raise click.UsageError("TLS needs --certfile and --keyfile (--cafile, --require-certificate with them)")
    if require_certificate and not cafile:
        raise click.UsageError("--require-certificate needs --cafile")
    security = BrokerSecurity(str(password_file or ""), certfile or "", keyfile or "", cafile or "",
                              require_certificate)
    try:
        asyncio.run(serve(host, port, security))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
