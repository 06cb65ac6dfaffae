"""File transfers for UpdateFirmware and GetDiagnostics, and the diagnostics archive.

Plain blocking functions (the charge point runs them in a thread executor) over http(s)
(urllib) and ftp / ftps (ftplib, `user:password@` in the URL, passive mode). Every failure,
whatever its layer, surfaces as one `TransferError` whose message says what went wrong.
"""

from __future__ import annotations

import contextlib
import ftplib
import re
import shutil
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from http.client import HTTPResponse
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cp_simu import redact
from cp_simu.config import INSTANCE_FILE
from cp_simu.security_settings import without_secrets

CHUNK = 64 * 1024
MAX_STATE_FILE_BYTES = 16 * 1024 * 1024  # larger non-log files (firmware images…) stay out of archives
LOG_NAME = re.compile(r"\.log(\.\d+)?$")
# An ISO-like timestamp near the start of a log line: Python logging's asctime, JSON "time" fields…
LINE_TIMESTAMP = re.compile(rb"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})([.,]\d+)?(Z|[+-]\d{2}:?\d{2})?")
TIMESTAMP_SEARCH_SPAN = 64


class TransferError(Exception):
    """A download or upload that did not complete."""


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch `url` into the file `dest` (created or replaced only once complete)."""
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".part")
    try:
        with open(partial, "wb") as out:
            scheme = urlsplit(url).scheme.lower()
            if scheme in ("http", "https"):
                with _http(urllib.request.Request(url), timeout) as response:
                    shutil.copyfileobj(response, out, CHUNK)
            elif scheme in ("ftp", "ftps"):
                with _ftp(url, timeout) as (ftp, remote):
                    ftp.retrbinary(f"RETR {remote}", out.write, CHUNK)
            else:
                raise TransferError(f"unsupported URL scheme {scheme!r} in {redact.url(url)}")
        partial.replace(dest)
    except TransferError:
        partial.unlink(missing_ok=True)
        raise
    except (OSError, EOFError, ftplib.Error) as exc:
        partial.unlink(missing_ok=True)
        raise TransferError(f"download of {redact.url(url)} failed: {exc}") from exc
    return dest


def upload(path: Path, url: str, timeout: float = 60.0, method: str | None = None) -> None:
    """Send the file `path` to `url`.

    HTTP: `method` "POST" sends a multipart/form-data form (field `file`), "PUT" the raw
    bytes; None tries POST and falls back to PUT when the server refuses the method (405/501),
    which covers both kinds of CSMS upload endpoint. FTP: STOR, under the file's own name when
    the URL names a directory (ends with `/`).
    """
    path = Path(path)
    scheme = urlsplit(url).scheme.lower()
    try:
        if scheme in ("http", "https"):
            _http_upload(path, url, timeout, method)
        elif scheme in ("ftp", "ftps"):
            with _ftp(url, timeout) as (ftp, remote), open(path, "rb") as source:
                if not remote or remote.endswith("/"):
                    remote += path.name
                ftp.storbinary(f"STOR {remote}", source, CHUNK)
        else:
            raise TransferError(f"unsupported URL scheme {scheme!r} in {redact.url(url)}")
    except TransferError:
        raise
    except (OSError, EOFError, ftplib.Error) as exc:
        raise TransferError(f"upload of {path.name} to {redact.url(url)} failed: {exc}") from exc


def build_diagnostics_archive(instance_dir: Path, start: datetime | None, stop: datetime | None,
                              dest: Path, include: Callable[[str], bool] = lambda name: True) -> Path:
    """Zip a charge point's instance directory for GetDiagnostics / GetLog: its logs within
    [start, stop] and its state and configuration files (those whose relative name
    `include` accepts). Secrets stay home: private keys (`*.key`) are left out and the
    passwords of config.ini are blanked.

    A log (`*.log`, `*.log.N`) last written before `start` is left out; in the others, lines
    carrying a timestamp outside the window are dropped, and so are the untimestamped lines
    that follow them (tracebacks). Naive timestamps are local time, as Python logging writes
    them. Other files go in whole, except archives and files over 16 MiB.
    """
    instance_dir, dest = Path(instance_dir), Path(dest)
    partial = dest.with_name(dest.name + ".part")
    files = sorted(p for p in instance_dir.rglob("*")
                   if p.is_file() and p not in (dest, partial) and p.suffix not in (".zip", ".key")
                   and not p.name.endswith(".part") and include(p.relative_to(instance_dir).as_posix()))
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in files:
            name = file.relative_to(instance_dir).as_posix()
            stat = file.stat()
            if name == INSTANCE_FILE:
                archive.writestr(name, without_secrets(file.read_text(errors="replace")))
            elif LOG_NAME.search(file.name):
                content = _log_excerpt(file, stat.st_mtime, start, stop)
                if content is not None:
                    info = zipfile.ZipInfo(name, datetime.fromtimestamp(stat.st_mtime).timetuple()[:6])
                    archive.writestr(info, content, zipfile.ZIP_DEFLATED)
            elif stat.st_size <= MAX_STATE_FILE_BYTES:
                archive.write(file, name)
    partial.replace(dest)
    return dest


def _log_excerpt(path: Path, mtime: float, start: datetime | None, stop: datetime | None) -> bytes | None:
    if start is not None and mtime < start.timestamp():
        return None
    data = path.read_bytes()
    if start is None and stop is None:
        return data
    kept: list[bytes] = []
    keep: bool | None = None  # None until the first timestamp: leading lines follow it
    leading: list[bytes] = []
    for line in data.splitlines(keepends=True):
        stamp = _line_time(line)
        if stamp is not None:
            keep = (start is None or stamp >= start.timestamp()) and (stop is None or stamp <= stop.timestamp())
            if keep:
                kept.extend(leading)
            leading = []
        if keep is None:
            leading.append(line)
        elif keep:
            kept.append(line)
    if keep is None:  # no timestamps at all: judge the file by its mtime
        return data if stop is None or mtime <= stop.timestamp() else None
    return b"".join(kept) or None


def _line_time(line: bytes) -> float | None:
    match = LINE_TIMESTAMP.search(line, 0, TIMESTAMP_SEARCH_SPAN)
    if match is None:
        return None
    date, fraction, zone = match.groups()
    text = (date.replace(b" ", b"T") + (fraction or b"").replace(b",", b".")
            + (b"+00:00" if zone == b"Z" else zone or b"")).decode()
    try:
        return datetime.fromisoformat(text).timestamp()  # naive: local time
    except ValueError:
        return None


def _http(request: urllib.request.Request, timeout: float) -> HTTPResponse:
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise TransferError(f"{request.get_method()} {redact.url(request.full_url)}: "
                            f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise TransferError(f"{request.get_method()} {redact.url(request.full_url)}: {exc.reason}") from exc


def _http_upload(path: Path, url: str, timeout: float, method: str | None) -> None:
    data = path.read_bytes()
    if method in (None, "POST"):
        boundary = uuid.uuid4().hex
        filename = path.name.replace('"', "%22")
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n")
        body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                                         method="POST")
        try:
            _http(request, timeout).close()
            return
        except TransferError as exc:
            refused = isinstance(exc.__cause__, urllib.error.HTTPError) and exc.__cause__.code in (405, 501)
            if method == "POST" or not refused:
                raise
    elif method != "PUT":
        raise TransferError(f"unsupported upload method {method!r}")
    _http(urllib.request.Request(url, data, {"Content-Type": "application/octet-stream"}, method="PUT"),
          timeout).close()


@contextlib.contextmanager
def _ftp(url: str, timeout: float) -> Iterator[tuple[ftplib.FTP, str]]:
    """A logged-in passive-mode session, and the URL's path relative to the login directory
    (RFC 1738: `ftp://host/%2Fabs` reaches an absolute path)."""
    parts = urlsplit(url)
    ftp = ftplib.FTP_TLS(timeout=timeout) if parts.scheme.lower() == "ftps" else ftplib.FTP(timeout=timeout)
    try:
        ftp.connect(parts.hostname or "", parts.port or 21)
        ftp.login(unquote(parts.username or "anonymous"), unquote(parts.password or ""))
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.set_pasv(True)
        yield ftp, unquote(parts.path[1:])
        with contextlib.suppress(OSError, EOFError, ftplib.Error):
            ftp.quit()  # the transfer is done: a rude goodbye is no failure
    finally:
        ftp.close()


