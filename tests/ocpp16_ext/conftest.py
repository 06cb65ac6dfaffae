"""Loopback HTTP and FTP servers for the file transfer tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ocpp16_ext.servers import PAYLOAD, Store, serve_ftp, serve_http


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[Store]]]:
    with serve_http({"/fw.bin": PAYLOAD}) as server:
        yield server


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "ftproot"
    (root / "firmware").mkdir(parents=True)
    (root / "firmware" / "fw v2.bin").write_bytes(PAYLOAD)
    with serve_ftp(root) as url:
        yield url, root
