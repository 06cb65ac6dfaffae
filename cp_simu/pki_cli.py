"""`ocpp-simu pki DIR`: a throwaway CA, server and client certificates for security profiles 2 and 3."""

from __future__ import annotations

from pathlib import Path

import click

from cp_simu.models import PayloadError, validate_cp_id
from cp_simu.pki import DEFAULT_DAYS, PkiError, create_demo_pki


def _cp_ids(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(validate_cp_id(v, "--client") for v in values)
    except PayloadError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(name="pki", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--client", "clients", multiple=True, callback=_cp_ids, metavar="CP_ID",
              help="Also write a client certificate (CN = CP_ID) and key, as CP_ID.pem / CP_ID.key. Repeatable.")
@click.option("--server-name", "server_names", multiple=True, default=("localhost", "127.0.0.1"),
              show_default=True, help="Host names / IP addresses the server certificate is valid for.")
@click.option("--days", type=click.IntRange(min=1), default=DEFAULT_DAYS, show_default=True,
              help="Validity of the server and client certificates.")
def pki(directory: Path, clients: tuple[str, ...], server_names: tuple[str, ...], days: int) -> None:
    """Create a demo PKI in DIRECTORY: ca.pem / ca.key, server.pem / server.key and client
    certificates. An existing CA in DIRECTORY is kept (new certificates join it).

    \b
    Try security profile 3 with it:
      ocpp-simu pki demo-pki --client CP_1
      ocpp-simu csms --security-profile 3 --pki demo-pki
      charge point: security_profile = 3, ca_file = demo-pki/ca.pem,
                    client_cert = demo-pki/CP_1.pem, client_key = demo-pki/CP_1.key

    Keys are written with mode 0600. For demos and tests only.
    """
    try:
        written = create_demo_pki(directory, clients, server_names=server_names, days=days)
    except (PkiError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
