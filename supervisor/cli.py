"""`ocpp-simu supervisor`: open the desktop supervisor on a broker."""

from __future__ import annotations

import click

from cp_simu.broker_access import access_options, mqtt_options, resolve
from cp_simu.topics import DEFAULT_ROOT
from cp_simu.urls import DEFAULT_BROKER_URL


@click.command(name="supervisor", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--broker", metavar="URL",
              help="MQTT broker URL (mqtt://[user:pw@]host:port, mqtts:// for TLS, tcp://)  "
                   f"[default: the last broker connected to, else {DEFAULT_BROKER_URL}]")
@mqtt_options
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="Root of the MQTT topic tree.")
@click.option("--no-connect", is_flag=True, help="Open the window without connecting to the broker.")
def supervisor(broker: str | None, root: str, no_connect: bool, **mqtt: str | None) -> None:
    """Watch and drive the fleet of simulated charge points (PySide6 window).

    Talks only MQTT: any launcher and charge point that honour the contract show up,
    on any broker. Connecting never blocks the window; it retries until the broker answers.
    """
    try:
        from supervisor.settings import SupervisorSettings
        access = resolve(broker or SupervisorSettings().broker or DEFAULT_BROKER_URL, **access_options(mqtt))
        from supervisor.app import run  # the window's imports take a while: a bad URL fails before them
    except ImportError as exc:
        raise click.ClickException(f"the supervisor needs PySide6: pip install 'ocpp-simu[gui]' ({exc})") \
            from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from None
    raise SystemExit(run(access, root, connect=not no_connect))
