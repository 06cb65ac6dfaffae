"""Why a connection failed, in the words a user needs: one classifier for every component.

The charge point's `reason` status field (OCPP side), its log and the launcher's stderr
(MQTT side) all say the same thing for the same failure, e.g. "connection refused",
"DNS failure: …", "TLS failure: certificate verify failed: self-signed certificate" or
"HTTP 401 Unauthorized on the WebSocket upgrade".
"""

from __future__ import annotations

import errno
import socket
import ssl

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import Close

_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
}


def _first_line(data: bytes, limit: int = 120) -> str:
    text = data.decode("utf-8", "replace").strip().splitlines()
    return text[0][:limit] if text else ""


def connection_failure(exc: BaseException) -> str:
    """Why opening a connection (TCP, TLS, WebSocket upgrade) failed."""
    if isinstance(exc, InvalidStatus):
        response = exc.response
        text = f"HTTP {response.status_code} {response.reason_phrase} on the WebSocket upgrade"
        body = _first_line(response.body or b"")
        return f"{text}: {body}" if body else text
    if isinstance(exc, InvalidURI):
        return f"invalid URL: {exc}"
    if isinstance(exc, InvalidHandshake):
        return f"WebSocket handshake failed: {exc}"
    if isinstance(exc, ConnectionClosed):
        return closed(exc.rcvd)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS failure: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"DNS failure: {exc.strerror or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno in _ERRNO_WORDS:
        return _ERRNO_WORDS[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def closed(close_frame: Close | None) -> str:
    """Why an open WebSocket ended: the peer's close frame, or none (socket dropped)."""
    if close_frame is None:
        return "connection lost (closed without a close frame)"
    text = f"connection closed by the CSMS (code {close_frame.code}"
    return f"{text}: {close_frame.reason})" if close_frame.reason else f"{text})"


def boot_refused(status: str, interval: float) -> str:
    """A BootNotification answered Pending or Rejected."""
    return f"BootNotification {status}; retrying in {interval:g} s"
