"""A tiny HTTP/1.1 JSON API so tests and users can drive the CSMS (plain asyncio, no deps).

One request per TCP connection (`Connection: close`): enough for curl, urllib and test
helpers, and it keeps the parser small. It listens on loopback unless told otherwise,
because it lets anyone send arbitrary OCPP calls to the connected charge points.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .calls import CallFailed, call_raw, canonical_action
from .journal import Journal
from .model import CentralSystem
from .server import CsmsServer

LOGGER = logging.getLogger(__name__)

MAX_BODY = 1 << 20
HEADER_TIMEOUT = 10.0
MAX_HEADERS = 100

JsonReply = tuple[int, dict[str, Any]]
Handler = Callable[[list[str], dict[str, str], bytes], Awaitable[JsonReply]]


class HttpError(Exception):
    """Ends a request early with this status and a JSON error body."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"status": "error", "error": error, "message": message, **extra}


class ControlApi:
    """Routes `/api/...` requests onto the CSMS registry, model and journal."""

    def __init__(self, server: CsmsServer, csms: CentralSystem, journal: Journal) -> None:
        self.server = server
        self.csms = csms
        self.journal = journal
        self._listener: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._listener = await asyncio.start_server(self._serve_client, host, port, reuse_address=True)
        return int(self._listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
            await self._listener.wait_closed()

    # -- HTTP plumbing -----------------------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            try:
                method, target, headers = await asyncio.wait_for(self._read_head(reader), HEADER_TIMEOUT)
                body = await self._read_body(reader, writer, headers)
                status, reply = await self._dispatch(method, target, body)
            except HttpError as e:
                status, reply = e.status, e.body
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            except Exception as e:  # a bug here must not kill the CSMS
                LOGGER.exception("control API request failed")
                status, reply = 500, {"status": "error", "error": "internal", "message": str(e)}
            await self._write(writer, status, reply)
        finally:
            self._clients.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
        parts = (await reader.readline()).decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, "bad_request", "malformed HTTP request line")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS):
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                return parts[0].upper(), parts[1], headers
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        raise HttpError(431, "bad_request", "too many headers")

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         headers: dict[str, str]) -> bytes:
        if "transfer-encoding" in headers:
            raise HttpError(411, "bad_request", "send the body with a Content-Length")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise HttpError(400, "bad_request", "bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise HttpError(413, "bad_request", f"body larger than {MAX_BODY} bytes")
        if length and headers.get("expect", "").lower() == "100-continue":  # curl, for big bodies
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await asyncio.wait_for(reader.readexactly(length), HEADER_TIMEOUT) if length else b""

    @staticmethod
    async def _write(writer: asyncio.StreamWriter, status: int, reply: dict[str, Any]) -> None:
        data = (json.dumps(reply, ensure_ascii=False) + "\n").encode()
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        head = (f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + data)
            await writer.drain()

    # -- routes ------------------------------------------------------------------------------

    async def _dispatch(self, method: str, target: str, body: bytes) -> JsonReply:
        url = urlsplit(target)
        path = [unquote(p) for p in url.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        endpoint = self._endpoint(path)
        routes: dict[tuple[str, str], Handler] = {
            ("GET", "index"): self._index,
            ("GET", "cps"): self._list_cps,
            ("GET", "cp"): self._cp_details,
            ("POST", "call"): self._call,
            ("GET", "transactions"): self._transactions,
            ("GET", "messages"): self._messages,
        }
        allowed = [m for m, e in routes if e == endpoint]
        if not allowed:
            raise HttpError(404, "not_found", f"no such endpoint: {url.path}")
        handler = routes.get((method, endpoint or ""))
        if handler is None:
            raise HttpError(405, "method_not_allowed", f"{url.path} accepts {', '.join(allowed)}")
        return await handler(path, query, body)

    @staticmethod
    def _endpoint(path: list[str]) -> str | None:
        """Name of the endpoint a path (split into segments) addresses, if any."""
        match path:
            case ["api"]:
                return "index"
            case ["api", "cps"]:
                return "cps"
            case ["api", "cps", _]:
                return "cp"
            case ["api", "cps", _, "call", _]:
                return "call"
            case ["api", "transactions"]:
                return "transactions"
            case ["api", "messages"]:
                return "messages"
        return None

    async def _index(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        return 200, {"status": "ok", "service": "ocpp-simu demo CSMS", "endpoints": [
            "GET /api/cps", "GET /api/cps/<cp_id>", "POST /api/cps/<cp_id>/call/<Action>",
            "GET /api/transactions?cp_id=X&active=1", "GET /api/messages?cp_id=X&action=Y&limit=N",
        ]}

    async def _list_cps(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        cps = [self.csms.record(cp_id).summary() for cp_id in sorted(self.server.connections)]
        return 200, {"status": "ok", "cps": cps}

    async def _cp_details(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        cp_id = path[2]
        if cp_id not in self.csms.cps:
            raise HttpError(404, "unknown_cp", f"{cp_id} has never connected")
        rec = self.csms.cps[cp_id]
        txs = [t.as_dict() for t in self.csms.transactions.values() if t.cp_id == cp_id]
        return 200, {"status": "ok", "cp": {**rec.details(), "transactions": txs}}

    async def _call(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        cp_id, action = path[2], path[4]
        conn = self.server.connections.get(cp_id)
        if conn is None:
            raise HttpError(404, "unknown_cp", f"{cp_id} is not connected")
        try:
            action = canonical_action(conn.ocpp_version, action)
        except CallFailed as e:
            return e.http_status, {**e.as_dict(), "cp_id": cp_id, "action": action}
        try:
            payload = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(400, "invalid_json", f"body is not JSON: {e}") from None
        if not isinstance(payload, dict):
            raise HttpError(400, "invalid_payload", "the body must be a JSON object (the OCPP payload)")
        timeout = self._number(query, "timeout", self.csms.settings.call_timeout)
        validate = query.get("validate", "1").lower() not in ("0", "false", "no")
        try:
            response = await call_raw(conn.cp, action, payload, timeout=timeout, validate=validate)
        except CallFailed as e:
            return e.http_status, {**e.as_dict(), "cp_id": cp_id, "action": action}
        self.server.security.call_answered(cp_id, action, payload, response)
        return 200, {"status": "ok", "cp_id": cp_id, "action": action, "response": response}

    async def _transactions(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        cp_id = query.get("cp_id")
        only_active = query.get("active", "0").lower() in ("1", "true", "yes")
        txs = [t.as_dict() for t in self.csms.transactions.values()
               if (cp_id is None or t.cp_id == cp_id) and (t.active or not only_active)]
        return 200, {"status": "ok", "transactions": txs}

    async def _messages(self, path: list[str], query: dict[str, str], body: bytes) -> JsonReply:
        limit = int(self._number(query, "limit", 100))
        found = self.journal.messages(query.get("cp_id"), query.get("action"), limit)
        return 200, {"status": "ok", "messages": found}

    @staticmethod
    def _number(query: dict[str, str], name: str, default: float) -> float:
        if name not in query:
            return default
        try:
            value = float(query[name])
        except ValueError:
            value = -1
        if value <= 0 or value != value:
            raise HttpError(400, "bad_request", f"{name} must be a positive number")
        return value
