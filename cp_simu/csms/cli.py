"""`ocpp-simu csms`: command line of the demo CSMS, and its run/stop lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

import click
from ocpp.exceptions import OCPPError

from cp_simu.collector import freeze_startup_heap
from cp_simu.descriptors import raise_descriptor_limit

from .control_api import ControlApi
from .journal import Journal
from .model import BOOT_STATUSES, CentralSystem, Settings
from .security import CsmsSecurity, CsmsSecurityError
from .server import PING_INTERVAL, SUBPROTOCOLS, CsmsServer


class _NoProtocolErrorTraces(logging.Filter):
    """A charge point's bad message is already on stdout and in the journal (as the CallError
    sent back, or an `invalid` frame); the ocpp library's traceback would only bury real
    problems on stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], OCPPError))


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not verbose:
        handler.addFilter(_NoProtocolErrorTraces())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


FAST_FLUSH_INTERVAL = 0.5  # s between the --fast journal file's flushes


async def serve(settings: Settings, host: str, port: int, api_host: str, api_port: int,
                log_path: Path | None, security: CsmsSecurity | None = None, *, fast: bool = False,
                ping_interval: float | None = PING_INTERVAL) -> None:
    """Run until SIGINT/SIGTERM, then close every connection and return."""
    try:
        journal = Journal(log_path, quiet=fast)
    except OSError as e:
        raise click.ClickException(f"cannot open the log file: {e}") from None
    raise_descriptor_limit()  # a connection per charge point: thousands of them
    security = security or CsmsSecurity()
    csms = CentralSystem(settings, security.sign if security.authority else None)
    server = CsmsServer(csms, journal, security, ping_interval=ping_interval)
    api = ControlApi(server, csms, journal) if api_port else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            ws_port = await server.start(host, port)
            bound_api = await api.start(api_host, api_port) if api else None
        except OSError as e:
            raise click.ClickException(f"cannot listen: {e}") from None
        freeze_startup_heap()
        schemes = "ws:// and wss://" if security.server_context else "ws://"
        click.echo(f"demo CSMS listening on {schemes}{host}:{ws_port}/<cp_id> ({', '.join(SUBPROTOCOLS)}), "
                   f"security profile {security.minimum_profile} or higher")
        click.echo(f"WebSocket pings from the CSMS every {ping_interval:g} s" if ping_interval else
                   "no WebSocket pings from the CSMS (the charge points' own pings check the connections)")
        if bound_api:
            click.echo(f"control API on http://{api_host}:{bound_api}/api")
        if log_path:
            click.echo(f"OCPP message log: {log_path}")
        sys.stdout.flush()
        if fast:
            while not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), FAST_FLUSH_INTERVAL)
                journal.flush()
        await stop.wait()
        click.echo("stopping demo CSMS")
    finally:
        if api:
            await api.stop()
        await server.stop()
        journal.close()


@click.command(name="csms", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address of the OCPP WebSocket server. Use 0.0.0.0 to accept charge points "
                   "from other machines.")
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True,
              help="Port of the OCPP WebSocket server. Charge points connect to ws://HOST:PORT/<cp_id>.")
@click.option("--api-host", default="127.0.0.1", show_default=True,
              help="Address of the control API. It can make charge points do anything: keep it local.")
@click.option("--api-port", type=click.IntRange(0, 65535), default=9001, show_default=True,
              help="Port of the HTTP control API; 0 disables it.")
@click.option("--reject-prefix", "reject_prefixes", multiple=True, default=("BAD",), show_default=True,
              help="Id tags starting with this prefix are answered Invalid; all others Accepted. "
                   "Repeat for several prefixes.")
@click.option("--heartbeat-interval", type=click.IntRange(min=1), default=300, show_default=True,
              help="Heartbeat interval (s) given in accepted BootNotification answers.")
@click.option("--boot-status", type=click.Choice(BOOT_STATUSES),
              default="Accepted", show_default=True,
              help="Answer to BootNotification, to test a charge point's retry behaviour.")
@click.option("--pending-boots", type=click.IntRange(min=0), default=None,
              help="With --boot-status Pending/Rejected: answer that to the first N boots of each "
                   "charge point, then Accepted. Default: never accept.")
@click.option("--boot-retry-interval", type=click.IntRange(min=1), default=10, show_default=True,
              help="Interval (s) given in Pending/Rejected BootNotification answers.")
@click.option("--call-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="Default wait (s) for a charge point's answer to a control-API call.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              default=None, help="Append one JSON line per OCPP message and connection event to FILE.")
@click.option("--security-profile", type=click.IntRange(0, 3), default=0, show_default=True,
              help="Lowest OCPP security profile accepted: 1 Basic auth, 2 TLS + Basic auth, 3 TLS client "
                   "certificate (CN = charge point id). Higher profiles are always accepted.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Basic auth passwords: lines `CP_ID = password` or a JSON object {\"CP_ID\": \"password\"}.")
@click.option("--pki", "pki_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Folder made by `ocpp-simu pki`: server.pem/server.key for TLS, ca.pem/ca.key to verify "
                   "client certificates and sign charge point CSRs.")
@click.option("--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Server certificate (PEM, with its chain); enables wss:// on the same port as ws://.")
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Server private key (PEM).")
@click.option("--ca", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="CA (PEM) that client certificates must chain to (profile 3).")
@click.option("--ca-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Private key of --ca: signs the CSRs of SignCertificate (answered with CertificateSigned).")
@click.option("--fast", is_flag=True,
              help="For large fleets: no line per OCPP message on stdout, the --log file written in "
                   "batches (at most 0.5 s late) instead of after every message, and no WebSocket pings "
                   "from the CSMS (unless --ping-interval says otherwise): the charge points ping.")
@click.option("--ping-interval", type=click.FloatRange(min=0), default=None,
              help=f"Seconds between the CSMS's own WebSocket pings on each connection; 0: none. "
                   f"[default: {PING_INTERVAL:g}, 0 with --fast]")
@click.option("-v", "--verbose", is_flag=True, help="Log library details on stderr.")
def csms(host: str, port: int, api_host: str, api_port: int, reject_prefixes: tuple[str, ...],
         heartbeat_interval: int, boot_status: str, pending_boots: int | None,
         boot_retry_interval: int, call_timeout: float, log_path: Path | None, security_profile: int,
         password_file: Path | None, pki_dir: Path | None, cert: Path | None, key: Path | None,
         ca: Path | None, ca_key: Path | None, fast: bool, ping_interval: float | None, verbose: bool) -> None:
    """Run the demo CSMS: an OCPP 1.6 / 2.0.1 Central System for demos and tests.

    It accepts every charge point (id = last segment of the URL path), prints one line per
    OCPP message, and lets you send CSMS-initiated calls through a local HTTP API, e.g.

    \b
      curl -X POST localhost:9001/api/cps/CP_1/call/RemoteStartTransaction \\
           -d '{"connectorId": 1, "idTag": "TAG1"}'

    Security profiles: `ocpp-simu pki DIR` makes a demo PKI, then e.g.
    `ocpp-simu csms --security-profile 1 --password-file pw.txt --pki DIR`.

    Stop it with Ctrl+C (or SIGTERM).
    """
    _setup_logging(verbose)
    if pki_dir is not None:
        cert, key = cert or _in(pki_dir, "server.pem"), key or _in(pki_dir, "server.key")
        ca, ca_key = ca or _in(pki_dir, "ca.pem"), ca_key or _in(pki_dir, "ca.key")
    try:
        security = CsmsSecurity.configure(security_profile, password_file, cert, key, ca, ca_key)
    except CsmsSecurityError as exc:
        raise click.UsageError(str(exc)) from None
    settings = Settings(
        reject_prefixes=tuple(reject_prefixes), heartbeat_interval=heartbeat_interval,
        boot_status=boot_status, pending_boots=pending_boots,
        boot_retry_interval=boot_retry_interval, call_timeout=call_timeout,
    )
    if ping_interval is None:
        ping_interval = 0 if fast else PING_INTERVAL
    asyncio.run(serve(settings, host, port, api_host, api_port, log_path, security, fast=fast,
                      ping_interval=ping_interval))


def _in(directory: Path, name: str) -> Path | None:
    path = directory / name
    return path if path.is_file() else None
