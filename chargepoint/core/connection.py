"""The WebSocket to the CSMS: security profile, subprotocol, frame logging and reconnection backoff."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from chargepoint.core.message_log import MessageLog
from chargepoint.core.transport_security import TransportSecurity
from cp_simu import failures


class Backoff:
    """Capped exponential delays with a little jitter, so a fleet does not reconnect in lockstep."""

    def __init__(self, minimum: float = 1.0, maximum: float = 30.0, factor: float = 2.0) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.factor = factor
        self._next = minimum

    def next(self) -> float:
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return delay * random.uniform(0.9, 1.1)

    def reset(self) -> None:
        self._next = self.minimum


class OcppConnection:
    """What `ocpp.ChargePoint` needs (recv/send) over a WebSocket, logging every frame."""

    def __init__(self, ws: ClientConnection, log: MessageLog) -> None:
        self.ws = ws
        self._log = log
        self.latency: Callable[[], float] = lambda: 0.0  # s every frame sent waits (injected latency)

    async def recv(self) -> str:
        frame = await self.ws.recv()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        self._log.record("in", text)
        return text

    async def send(self, frame: str) -> None:
        delay = self.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        self._log.record("out", frame)
        await self.ws.send(frame)

    async def close(self) -> None:
        await self.ws.close()

    def abort(self) -> None:
        """Drop the TCP connection at once, without a close frame (a power cut)."""
        self.ws.transport.abort()

    def close_reason(self) -> str:
        """Why the WebSocket ended (once it has): the CP status's `reason`."""
        p = self.ws.protocol
        return failures.closed(p.close_rcvd, p.close_sent, p.close_rcvd_then_sent)


async def open_connection(url: str, subprotocol: str, log: MessageLog, *,
                          security: TransportSecurity | None = None, ping_interval: float = 30.0,
                          open_timeout: float = 10.0, sock: socket.socket | None = None) -> OcppConnection:
    """Open the WebSocket secured as `security` says (profile 0 by default: a wss:// URL is
    verified against the system's CAs). `sock`: an already connected socket to speak over
    (the fork server's warm-up)."""
    security = security or TransportSecurity()
    security.check()
    url = security.target(url)
    context = await security.context_for(url)
    ws = await connect(url, subprotocols=[Subprotocol(subprotocol)], ssl=context,
                       additional_headers=security.headers(), ping_interval=ping_interval or None,
                       open_timeout=open_timeout, compression=None, proxy=None, max_queue=4, sock=sock)
    if ws.subprotocol != subprotocol:
        await ws.close()
        raise ConnectionError(f"the CSMS did not accept the {subprotocol} subprotocol")
    return OcppConnection(ws, log)
