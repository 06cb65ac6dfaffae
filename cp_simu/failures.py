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

# The `network` command's faults (chargepoint.core.network_faults), as the CP status says them.
INJECTED_DROP = "network down (injected drop)"
INJECTED_REFUSAL = "connection refused (injected fault)"

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
        return f"invalid URL: {exc.msg}"  # the URL itself may carry a password
    if isinstance(exc, InvalidHandshake):
        return f"WebSocket handshake failed: {exc}"
    if isinstance(exc, ConnectionClosed):
        return closed(exc.rcvd, exc.sent, exc.rcvd_then_sent)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS failure: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and tls_version_refused(exc):
        return "TLS failure: the peer offers no TLS 1.2 or newer"
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


def tls_version_refused(exc: ssl.SSLError) -> bool:
    """The handshake failed on the protocol version (the peer speaks only TLS < 1.2)."""
    reason = str(exc.reason or exc)
    return any(word in reason for word in ("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE"))


def closed(rcvd: Close | None, sent: Close | None = None, rcvd_then_sent: bool | None = None) -> str:
    """Why an open WebSocket ended, from the close frames received and sent (none: dropped)."""
    if rcvd is None and sent is None:
        return "connection lost (closed without a close frame)"
    by_csms = rcvd is not None and (sent is None or bool(rcvd_then_sent))
    frame = rcvd if by_csms else sent
    assert frame is not None
    text = f"connection closed by the {'CSMS' if by_csms else 'charge point'} (code {frame.code}"
    return f"{text}: {frame.reason})" if frame.reason else f"{text})"


def boot_refused(status: str, interval: float) -> str:
    """A BootNotification answered Pending or Rejected."""
    return f"BootNotification {status}; retrying in {interval:g} s"


def boot_failed(exc: BaseException, retry_in: float) -> str:
    """A BootNotification without a usable answer (CallError, timeout)."""
    what = "no answer" if isinstance(exc, TimeoutError) else f"error answer: {exc}"
    return f"BootNotification got {what}; retrying in {retry_in:g} s"
