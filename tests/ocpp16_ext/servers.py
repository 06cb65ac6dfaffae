"""Loopback file servers for firmware and diagnostics transfers: an HTTP store (GET, PUT,
multipart POST) and a pyftpdlib FTP server whose password needs percent-encoding."""

from __future__ import annotations

import contextlib
import email.parser
import threading
import warnings
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

PAYLOAD = bytes(range(256)) * 1000  # 256 kB, every byte value


class Store(BaseHTTPRequestHandler):
    """GET serves `files` (every request path is kept in `gets`); PUT and multipart POST store
    into `received` (POST refused when `post_allowed` is False, like an object store's signed URL)."""

    files: dict[str, bytes]
    gets: list[str]
    received: dict[str, tuple[str, bytes]]
    post_allowed: bool

    def do_GET(self) -> None:
        self.gets.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.received[self.path] = ("PUT", self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        if not self.post_allowed:
            self.send_error(405)
            return
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw)
        part = message.get_payload()[0]
        self.received[self.path] = (f"POST {part.get_filename()}", part.get_payload(decode=True))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_http(files: Mapping[str, bytes]) -> Iterator[tuple[str, type[Store]]]:
    """An HTTP server on a free loopback port: its base URL and its handler class (state)."""
    handler = type("Handler", (Store,), {"files": dict(files), "gets": [], "received": {}, "post_allowed": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


FTP_USER, FTP_PASSWORD = "simu", "p@ss:word"


@contextlib.contextmanager
def serve_ftp(root: Path) -> Iterator[str]:
    """An FTP server on a free loopback port serving `root`: its base URL, credentials included."""
    with warnings.catch_warnings():  # pyftpdlib still imports asyncore/asynchat on Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        pytest.importorskip("pyftpdlib")
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer

    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elradfmw")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "auth_failed_timeout": 0.01})
    server = FTPServer(("127.0.0.1", 0), handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.02, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"ftp://{FTP_USER}:{quote(FTP_PASSWORD, safe='')}@127.0.0.1:{server.address[1]}"
    finally:
        stop.set()
        thread.join(5)
