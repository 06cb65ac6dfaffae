"""OCPP security profiles 1-3 against the demo CSMS in TLS mode, with throwaway PKIs: what
the charge point presents, what it accepts, and why it stays Disconnected when it must."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from websockets.asyncio.server import ServerConnection, serve

from chargepoint.core.connection import open_connection
from chargepoint.core.message_log import MessageLog
from chargepoint.core.transport_security import TransportSecurity
from cp_simu import failures
from tests.chargepoint.conftest import Driver, T
from tests.chargepoint.security_helpers import PASSWORD, events, make_pki, password_file, self_signed
from tests.procs import wait_until


def refused(cp, rec, text: str, timeout: float = 15.0) -> str:
    """The CP is Disconnected with `text` in its status's reason, and logged it; returns its log."""
    Driver(rec, cp.cp_id).wait(T.cp_status(cp.cp_id), lambda d: d["status"] == "Disconnected"
                               and text in d.get("reason", ""), timeout)
    wait_until(lambda: text in cp.output(), timeout, what=f"'{text}' in the charge point's log")
    return cp.output()


async def test_profile_1_sends_the_cp_id_and_password_as_basic_auth(tmp_path: Path) -> None:
    seen: list[str | None] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws.request.headers.get("Authorization") if ws.request else None)
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/CP1"
        log = MessageLog(tmp_path / "ocpp.log")
        conn = await open_connection(url, "ocpp1.6", log, security=TransportSecurity(1, "CP1", "pässword:16chars"))
        await conn.close()
        conn = await open_connection(url, "ocpp1.6", log, security=TransportSecurity(0, "CP1", "pässword:16chars"))
        await conn.close()
    assert seen == ["Basic " + base64.b64encode("CP1:pässword:16chars".encode()).decode(), None]


def test_profile_1_right_password_accepted_wrong_one_refused(tmp_path, broker, recorder_factory, csms_factory,
                                                             cp_factory) -> None:
    csms = csms_factory("--security-profile", "1", "--password-file",
                        str(password_file(tmp_path, CP1=PASSWORD, CP2="another-password-16")))
    rec = recorder_factory(broker.url)
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD)
    Driver(rec).status("Accepted")
    assert events(csms, "connected")[-1]["security_profile"] == 1

    intruder = cp_factory(csms.url, broker.url, "CP2", security_profile=1, basic_auth_password=PASSWORD)
    out = refused(intruder, rec, "HTTP 401")
    assert events(csms, "refused", "CP2")[-1]["status"] == 401
    assert Driver(rec, "CP2").status("Disconnected")
    assert not events(csms, "connected", "CP2")
    assert PASSWORD not in out and PASSWORD not in (cp.directory / "chargepoint.log").read_text()

    unauthenticated = cp_factory(csms.url, broker.url, "CP3")
    refused(unauthenticated, rec, "HTTP 401")
    no_password = cp_factory(csms.url, broker.url, "CP4", security_profile=1)  # never even tries
    refused(no_password, rec, "security profile 1 needs a basic auth password")
    assert not events(csms, "refused", "CP4")


def test_instance_config_holding_the_password_is_private(tmp_path, broker, csms, cp_factory) -> None:
    cp = cp_factory(csms.url, broker.url, start=False, security_profile=1, basic_auth_password=PASSWORD)
    config = cp.directory / "config.ini"
    assert config.stat().st_mode & 0o777 == 0o600
    assert f"basic_auth_password = {PASSWORD}" in config.read_text()


def test_profile_2_needs_the_right_ca_and_host(tmp_path, broker, recorder_factory, csms_factory, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other")
    passwords = str(password_file(tmp_path, CP1=PASSWORD, CP2=PASSWORD, CP3=PASSWORD))
    csms = csms_factory("--security-profile", "2", "--password-file", passwords, "--pki", str(pki.directory))
    rec = recorder_factory(broker.url)
    cp_factory(csms.url, broker.url, security_profile=2, basic_auth_password=PASSWORD, ca_file=str(pki.ca))
    Driver(rec).status("Accepted")
    assert events(csms, "connected")[-1]["security_profile"] == 2

    wrong_ca = cp_factory(csms.url, broker.url, "CP2", security_profile=2, basic_auth_password=PASSWORD,
                          ca_file=str(other.ca))
    refused(wrong_ca, rec, "TLS failure: certificate verify failed: ")
    plain = cp_factory(csms.url, broker.url, "CP3", security_profile=1, basic_auth_password=PASSWORD)
    refused(plain, rec, "HTTP 403")  # profile 1 (no TLS) below the CSMS's minimum
    assert Driver(rec, "CP2").status("Disconnected") and not events(csms, "connected", "CP2")


@pytest.mark.parametrize("case", ["wrong_host", "expired"])
def test_profile_2_refuses_a_bad_server_certificate(case, tmp_path, broker, recorder_factory, csms_factory,
                                                   cp_factory) -> None:
    pki = make_pki(tmp_path / "pki")
    if case == "wrong_host":
        cert, key = pki.server("localhost-only", names=("localhost",))
        expected = "IP address mismatch"
    else:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        cert, key = pki.server("expired", names=("127.0.0.1",), days=1, not_before=past)
        expected = "certificate has expired"
    csms = csms_factory("--security-profile", "2", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)),
                        "--cert", str(cert), "--key", str(key))
    rec = recorder_factory(broker.url)
    cp = cp_factory(csms.url, broker.url, security_profile=2, basic_auth_password=PASSWORD, ca_file=str(pki.ca))
    refused(cp, rec, f"TLS failure: certificate verify failed: {expected}")
    assert Driver(rec).status("Disconnected") and not events(csms, "connected")
    if case == "wrong_host":  # the lab switch lets it through, and says so
        lab = cp_factory(csms.url, broker.url, "CP1", security_profile=2, basic_auth_password=PASSWORD,
                         ca_file=str(pki.ca), tls_skip_hostname_check=True)
        cp.stop()
        Driver(rec).status("Accepted", timeout=15)
        assert "tls_skip_hostname_check is on" in lab.output()


def test_self_signed_server_only_with_the_lab_switch(tmp_path, broker, recorder_factory, csms_factory,
                                                    cp_factory) -> None:
    cert, key = self_signed(tmp_path, "127.0.0.1")
    csms = csms_factory("--security-profile", "2", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)),
                        "--cert", str(cert), "--key", str(key))
    rec = recorder_factory(broker.url)
    strict = cp_factory(csms.url, broker.url, security_profile=2, basic_auth_password=PASSWORD)
    refused(strict, rec, "TLS failure: certificate verify failed: self-signed certificate")
    strict.stop()
    lab = cp_factory(csms.url, broker.url, security_profile=2, basic_auth_password=PASSWORD,
                     tls_allow_self_signed=True)
    Driver(rec).status("Accepted", timeout=15)
    assert "tls_allow_self_signed" in lab.output()


def test_profile_3_presents_the_client_certificate(tmp_path, broker, recorder_factory, csms_factory,
                                                   cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP1")
    csms = csms_factory("--security-profile", "3", "--pki", str(pki.directory))
    rec = recorder_factory(broker.url)
    cert, key = pki.client("CP1")
    cp_factory(csms.url, broker.url, security_profile=3, ca_file=str(pki.ca), client_cert=str(cert),
               client_key=str(key))
    Driver(rec).status("Accepted")
    connected = events(csms, "connected")[-1]
    serial = format(x509.load_pem_x509_certificate(cert.read_bytes()).serial_number, "x")
    assert connected["security_profile"] == 3 and connected["client_certificate_serial"] == serial

    impostor = cp_factory(csms.url, broker.url, "CP2", security_profile=3, ca_file=str(pki.ca),
                          client_cert=str(cert), client_key=str(key))
    refused(impostor, rec, "HTTP 403")
    assert "is not 'CP2'" in events(csms, "refused", "CP2")[-1]["reason"]
    without = cp_factory(csms.url, broker.url, "CP3", security_profile=2, basic_auth_password=PASSWORD,
                         ca_file=str(pki.ca))
    refused(without, rec, "HTTP 401")  # no password is valid here: certificates only


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.0/1.1 on purpose
async def test_tls_below_1_2_is_refused(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.set_ciphers("DEFAULT:@SECLEVEL=0")
    server_context.minimum_version = ssl.TLSVersion.TLSv1
    server_context.maximum_version = ssl.TLSVersion.TLSv1_1
    server_context.load_cert_chain(pki.directory / "server.pem", pki.directory / "server.key")
    versions: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_handshakes() -> None:  # a TLS 1.1-only server: handshake, then hang up
        for _ in range(2):
            raw, _ = listener.accept()
            with contextlib.suppress(OSError), server_context.wrap_socket(raw, server_side=True) as tls:
                versions.append(str(tls.version()))
            raw.close()

    thread = threading.Thread(target=serve_handshakes, daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    old_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old_client.set_ciphers("DEFAULT:@SECLEVEL=0")
    old_client.minimum_version = ssl.TLSVersion.TLSv1
    old_client.load_verify_locations(pki.ca)
    try:
        with old_client.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1"):
            pass
    except ssl.SSLError:
        pytest.skip("this OpenSSL build cannot speak TLS 1.1 at all")
    wait_until(lambda: versions, 5, what="the TLS 1.1 handshake")
    assert versions == ["TLSv1.1"]  # the server is alive and speaks TLS 1.1
    security = TransportSecurity(2, "CP1", PASSWORD, ca_pem=pki.ca.read_text())
    with pytest.raises(ssl.SSLError) as failure:
        await open_connection(f"ws://127.0.0.1:{port}/CP1", "ocpp1.6", MessageLog(tmp_path / "ocpp.log"),
                              security=security)
    thread.join(5)
    listener.close()
    assert failures.connection_failure(failure.value) == "TLS failure: the peer offers no TLS 1.2 or newer"
