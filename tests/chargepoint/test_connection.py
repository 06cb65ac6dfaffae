"""The WebSocket client: wss:// verified against a configured CA, subprotocol, backoff."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from chargepoint.core.connection import Backoff, open_connection
from chargepoint.core.message_log import MessageLog
from chargepoint.core.transport_security import TransportSecurity
from cp_simu.urls import csms_endpoint


def make_certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=ocpp-simu test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf")
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


async def test_wss_verified_against_the_configured_ca(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    received: list[tuple[str, str | None]] = []

    async def handler(ws: ServerConnection) -> None:
        received.append((ws.request.path, ws.subprotocol))
        await ws.send(await ws.recv())

    async with serve(handler, "127.0.0.1", 0, ssl=context, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        url = csms_endpoint(f"wss://127.0.0.1:{port}/ocpp/", "CP 1")
        log = MessageLog(tmp_path / "ocpp.log")
        conn = await open_connection(url, "ocpp1.6", log, security=TransportSecurity(ca_pem=ca.read_text()))
        await conn.send('[2,"1","Heartbeat",{}]')
        assert await conn.recv() == '[2,"1","Heartbeat",{}]'
        await conn.close()
        assert received == [("/ocpp/CP%201", "ocpp1.6")]
        assert len((tmp_path / "ocpp.log").read_text().splitlines()) == 2
        with pytest.raises(ssl.SSLCertVerificationError):  # the system CAs do not know ours
            await open_connection(url, "ocpp1.6", log)


async def test_a_csms_without_the_subprotocol_is_refused(tmp_path: Path) -> None:
    async with serve(lambda ws: ws.wait_closed(), "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        with pytest.raises(ConnectionError, match="subprotocol"):
            await open_connection(f"ws://127.0.0.1:{port}/CP1", "ocpp1.6", MessageLog(tmp_path / "l"))


def test_backoff_is_capped_exponential() -> None:
    backoff = Backoff(1.0, 8.0)
    delays = [backoff.next() for _ in range(6)]
    assert all(0.9 <= d / e <= 1.1 for d, e in zip(delays, [1, 2, 4, 8, 8, 8], strict=True))
    backoff.reset()
    assert 0.9 <= backoff.next() <= 1.1
