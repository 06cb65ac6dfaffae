"""The CP status says why a charge point is not registered (`reason`), "" once it is.

Each case is a real charge point process against a real peer that fails in one way: nothing
listening, a name that does not resolve, a certificate it cannot verify, an HTTP error on the
WebSocket upgrade, a CSMS that closes or drops the socket, a BootNotification not accepted.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection, serve

from tests.chargepoint.test_connection import make_certificates
from tests.conftest import Recorder
from tests.procs import free_port

TOPIC = "cp_simu/cps/{}/status"


@contextlib.contextmanager
def failing_csms(tmp: Path, *, tls: bool = False) -> Iterator[str]:
    """A WebSocket server whose answer depends on the charge point id: 401/404 on the upgrade,
    a close frame, or a dropped socket. Yields its URL."""
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path.endswith("/CP401"):
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        if request.path.endswith("/CP404"):
            return connection.respond(HTTPStatus.NOT_FOUND, "")
        return None

    def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path.endswith("/CPDROP"):
            ws.socket.close()  # no close frame
        else:
            ws.close(4000, "maintenance")

    context = None
    if tls:
        _, cert, key = make_certificates(tmp)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    with serve(handler, "127.0.0.1", 0, process_request=process_request, ssl=context,
               subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"{'wss' if tls else 'ws'}://127.0.0.1:{server.socket.getsockname()[1]}/ocpp"
        finally:
            server.shutdown()
            thread.join(5)


def _status(rec: Recorder, cp_id: str, predicate: Callable[[dict], bool], timeout: float = 15.0) -> dict:
    return rec.wait_json(TOPIC.format(cp_id), predicate, timeout)


def _disconnected_because(rec: Recorder, cp_id: str, reason: str) -> dict:
    return _status(rec, cp_id, lambda d: d["status"] == "Disconnected" and reason in d.get("reason", ""))


@pytest.mark.parametrize("cp_id, reason", [
    ("CP401", "HTTP 401 Unauthorized on the WebSocket upgrade: bad credentials"),
    ("CP404", "HTTP 404 Not Found on the WebSocket upgrade"),
    ("CPCLOSE", "connection closed by the CSMS (code 4000: maintenance)"),
    ("CPDROP", "connection lost (closed without a close frame)"),
])
def test_upgrade_refused_or_socket_closed(cp_id, reason, tmp_path, broker, cp_factory, recorder_factory):
    rec = recorder_factory(broker.url)
    with failing_csms(tmp_path) as url:
        cp_factory(url, broker.url, cp_id)
        assert _disconnected_because(rec, cp_id, reason)["reason"] == reason


def test_connection_refused_then_empty_reason_once_accepted(broker, cp_factory, csms_factory, recorder_factory):
    rec = recorder_factory(broker.url)
    csms = csms_factory(start=False)  # its port is free: nothing answers there yet
    cp_factory(csms.url, broker.url, "CP1")
    assert _disconnected_because(rec, "CP1", "connection refused")["reason"] == "connection refused"
    csms.start()
    accepted = _status(rec, "CP1", lambda d: d["status"] == "Accepted")
    assert accepted["reason"] == ""


def test_dns_failure(broker, cp_factory, recorder_factory):
    rec = recorder_factory(broker.url)
    cp_factory(f"ws://no-such-csms.invalid:{free_port()}/", broker.url, "CP1")
    assert _disconnected_because(rec, "CP1", "DNS failure: ")


def test_tls_failure_says_what_the_verifier_said(tmp_path, broker, cp_factory, recorder_factory):
    rec = recorder_factory(broker.url)
    with failing_csms(tmp_path, tls=True) as url:  # signed by a CA the charge point does not trust
        cp_factory(url, broker.url, "CP1")
        status = _disconnected_because(rec, "CP1", "TLS failure: ")
        assert status["reason"] == ("TLS failure: certificate verify failed: "
                                    "unable to get local issuer certificate")


@pytest.mark.parametrize("answer", ["Rejected", "Pending"])
def test_boot_not_accepted(answer, broker, cp_factory, csms_factory, recorder_factory):
    rec = recorder_factory(broker.url)
    csms = csms_factory("--boot-status", answer, "--boot-retry-interval", "7")
    cp_factory(csms.url, broker.url, "CP1")
    status = _status(rec, "CP1", lambda d: d["status"] == answer)
    assert status["reason"] == f"BootNotification {answer}; retrying in 7 s"
