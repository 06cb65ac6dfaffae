"""WebSocket side of the CSMS: handshake checks, subprotocol choice, connection registry.

Bad connections are refused during the HTTP handshake (400 with a plain-text reason), so a
charge point sees a clear failure instead of a WebSocket that closes right after opening.
"""

from __future__ import annotations

import functools
import logging
import re
import weakref
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import ocpp.messages
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, NegotiationError
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from .calls import CLOSED
from .handlers16 import ChargePoint16
from .handlers201 import ChargePoint201
from .journal import Journal, JournaledConnection
from .model import CentralSystem
from .security import ClientCertificate, CsmsSecurity, FrontDoor, client_certificate

LOGGER = logging.getLogger(__name__)

# Subprotocol -> (OCPP version, adapter class).
SUBPROTOCOLS: dict[str, tuple[str, type[ChargePoint16 | ChargePoint201]]] = {
    "ocpp1.6": ("1.6", ChargePoint16),
    "ocpp2.0.1": ("2.0.1", ChargePoint201),
}
# Connections the kernel queues until they are accepted: asyncio's default of 100 drops some
# of a boot storm's (each then retried a second or more later by the charge point's kernel).
LISTEN_BACKLOG = 4096
# Interval (s) of the server's own WebSocket pings by default (the library's); 0 or None: none.
PING_INTERVAL = 20.0
_CP_ID = re.compile(r"[A-Za-z0-9_.:-]{1,48}")

# Validate in the loop's thread: the same checks, without two thread-pool round trips per
# call (a boot storm of thousands of charge points spent more on those hops than on checking).
ocpp.messages.ASYNC_VALIDATION = False


def cp_id_from_path(path: str) -> str | None:
    """The charge point id is the last non-empty path segment; None if missing or invalid."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    if not segments:
        return None
    cp_id = unquote(segments[-1])
    if not _CP_ID.fullmatch(cp_id) or cp_id in (".", ".."):
        return None
    return cp_id


@dataclass
class Connection:
    """A live charge point: its protocol object and the socket under it."""

    cp: ChargePoint16 | ChargePoint201
    ws: ServerConnection
    ocpp_version: str


class CsmsServer:
    """Accepts charge points and keeps the registry the control API sends calls through."""

    def __init__(self, csms: CentralSystem, journal: Journal, security: CsmsSecurity | None = None, *,
                 ping_interval: float | None = PING_INTERVAL) -> None:
        """`ping_interval`: seconds between the server's own pings on each connection (None or 0:
        none, the charge points' pings then keep connections checked; 10,000 connections pinged
        every 20 s cost the CSMS more than their heartbeats)."""
        self.csms = csms
        self.journal = journal
        self.security = security or CsmsSecurity()
        self.connections: dict[str, Connection] = {}
        self._ping_interval = ping_interval or None
        self._servers: list[Server] = []
        self._front: FrontDoor | None = None
        # the security profile (and client certificate) of each accepted handshake, until its handler runs
        self._profiles: weakref.WeakKeyDictionary[ServerConnection, tuple[int, ClientCertificate | None]] = (
            weakref.WeakKeyDictionary())

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the bound port (useful with port 0). With a server certificate the
        port serves ws and wss alike (a front door pipes each connection to the right server)."""
        context = self.security.server_context
        if context is None:
            return self._port(await self._serve(host, port, tls=False))
        plain = await self._serve("127.0.0.1", 0, tls=False)
        secure = await self._serve("127.0.0.1", 0, tls=True, ssl=context)
        self._front = FrontDoor(self._port(plain), self._port(secure))
        return await self._front.start(host, port)

    async def _serve(self, host: str, port: int, *, tls: bool, **options: object) -> Server:
        server = await serve(
            self._handle, host, port,
            subprotocols=[Subprotocol(p) for p in SUBPROTOCOLS],
            select_subprotocol=self._select_subprotocol,
            process_request=functools.partial(self._process_request, tls=tls),
            reuse_address=True,  # a quick restart must not find the port taken (TIME_WAIT)
            backlog=LISTEN_BACKLOG,
            ping_interval=self._ping_interval,
            **options,
        )
        self._servers.append(server)
        return server

    @staticmethod
    def _port(server: Server) -> int:
        return int(next(iter(server.sockets)).getsockname()[1])

    async def stop(self) -> None:
        """Close every connection (1001 going away) and stop listening."""
        if self._front is not None:
            await self._front.stop()
        for server in self._servers:
            server.close()
            await server.wait_closed()

    # -- handshake ---------------------------------------------------------------------------

    def _refuse(self, connection: ServerConnection, request: Request, reason: str,
                status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> Response:
        self.journal.event("refused", cp_id_from_path(request.path), path=request.path[:200],
                           reason=reason, status=int(status))
        response = connection.respond(status, reason + "\n")
        if status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Basic realm="ocpp-simu demo CSMS", charset="UTF-8"'
        return response

    def _process_request(self, connection: ServerConnection, request: Request, *, tls: bool) -> Response | None:
        cp_id = cp_id_from_path(request.path)
        if cp_id is None:
            return self._refuse(connection, request, "missing or invalid charge point id in the URL path "
                                                     "(1-48 characters of A-Z a-z 0-9 _ - . :)")
        offered = [p.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in v.split(",") if p.strip()]
        if not any(p in SUBPROTOCOLS for p in offered):
            # Refused here rather than in select_subprotocol, so the CP gets a readable reason.
            return self._refuse(connection, request,
                                f"no supported OCPP subprotocol offered (got {', '.join(offered) or 'none'};"
                                f" supported: {', '.join(SUBPROTOCOLS)})")
        certificate = client_certificate(connection.transport.get_extra_info("ssl_object") if tls else None)
        profile, refusal = self.security.check(cp_id, request.headers.get("Authorization"), tls,
                                               certificate.common_name if certificate else None)
        if refusal is not None:
            return self._refuse(connection, request, refusal.reason, HTTPStatus(refusal.status))
        self._profiles[connection] = (profile, certificate)
        return None

    @staticmethod
    def _select_subprotocol(connection: ServerConnection,
                            offered: list[Subprotocol]) -> Subprotocol | None:
        """Honour the charge point's order of preference among the versions we speak."""
        for p in offered:
            if p in SUBPROTOCOLS:
                return p
        raise NegotiationError("no supported OCPP subprotocol")  # unreachable after _process_request

    # -- connections -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = cp_id_from_path(ws.request.path) if ws.request else None
        subprotocol = ws.subprotocol
        if cp_id is None or subprotocol not in SUBPROTOCOLS:  # guarded by the handshake checks
            await ws.close(1002, "bad charge point id or subprotocol")
            return
        version, cls = SUBPROTOCOLS[subprotocol]
        cp = cls(cp_id, JournaledConnection(ws, self.journal, cp_id, version), self.csms)
        entry = Connection(cp, ws, version)
        remote = "{}:{}".format(*ws.remote_address[:2]) if ws.remote_address else None
        profile, certificate = self._profiles.pop(ws, (0, None))

        previous = self.connections.get(cp_id)
        self.connections[cp_id] = entry
        self.csms.connected(cp_id, version, remote, profile)
        self.journal.event("connected", cp_id, subprotocol=subprotocol, remote=remote, security_profile=profile,
                           client_certificate_serial=certificate.serial if certificate else None)
        if previous is not None:
            # The newest connection wins: a CP that reconnects before we noticed it was gone.
            self.journal.event("replaced", cp_id, subprotocol=previous.ws.subprotocol)
            await previous.ws.close(1000, "replaced by a new connection with the same id")

        try:
            await cp.start()
        except ConnectionClosed:
            pass
        except Exception:
            LOGGER.exception("%s: connection handler failed", cp_id)
            await ws.close(1011, "internal error")
        finally:
            cp.closed = True
            cp._response_queue.put_nowait(CLOSED)
            if self.connections.get(cp_id) is entry:
                del self.connections[cp_id]
                self.csms.disconnected(cp_id)
            self.journal.event("disconnected", cp_id, subprotocol=subprotocol, code=ws.close_code,
                               reason=ws.close_reason or None)

