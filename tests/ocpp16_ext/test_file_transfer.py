"""Downloads and uploads against real loopback HTTP and FTP servers, and the diagnostics archive."""

from __future__ import annotations

import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargepoint.core.file_transfer import TransferError, build_diagnostics_archive, download, upload
from tests.ocpp16_ext.servers import PAYLOAD, Store

# --- HTTP -------------------------------------------------------------------------------------

def test_http_download(http_server: tuple[str, type[Store]], tmp_path: Path) -> None:
    base, _ = http_server
    assert download(f"{base}/fw.bin", tmp_path / "fw.bin", timeout=5).read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw.bin"]


def test_http_download_failure_is_a_transfer_error_and_leaves_nothing(http_server: tuple[str, type[Store]],
                                                                      tmp_path: Path) -> None:
    base, _ = http_server
    with pytest.raises(TransferError, match="HTTP 404"):
        download(f"{base}/missing.bin", tmp_path / "fw.bin", timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_unreachable_and_unsupported(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match="refused"):
        download("http://127.0.0.1:9/x", tmp_path / "x", timeout=2)
    with pytest.raises(TransferError, match="unsupported URL scheme 'sftp'"):
        download("sftp://host/x", tmp_path / "x")
    with pytest.raises(TransferError, match="unsupported URL scheme"):
        upload(tmp_path, "gopher://host/x")


def test_http_upload_post_multipart(http_server: tuple[str, type[Store]], tmp_path: Path) -> None:
    base, handler = http_server
    source = tmp_path / "diag.zip"
    source.write_bytes(PAYLOAD)
    upload(source, f"{base}/upload", timeout=5)
    assert handler.received["/upload"] == ("POST diag.zip", PAYLOAD)


def test_http_upload_falls_back_to_put_when_post_is_refused(http_server: tuple[str, type[Store]],
                                                           tmp_path: Path) -> None:
    base, handler = http_server
    handler.post_allowed = False
    source = tmp_path / "diag.zip"
    source.write_bytes(b"zip")
    upload(source, f"{base}/bucket/diag.zip?sig=1", timeout=5)
    assert handler.received["/bucket/diag.zip?sig=1"] == ("PUT", b"zip")
    with pytest.raises(TransferError, match="HTTP 405"):
        upload(source, f"{base}/only-post", timeout=5, method="POST")
    upload(source, f"{base}/put", timeout=5, method="PUT")
    assert handler.received["/put"] == ("PUT", b"zip")


def test_missing_upload_file_is_a_transfer_error(tmp_path: Path) -> None:
    with pytest.raises(TransferError, match=r"nothing\.zip"):
        upload(tmp_path / "nothing.zip", "http://127.0.0.1:9/")


# --- FTP --------------------------------------------------------------------------------------

def test_ftp_download_with_credentials(ftp_server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = ftp_server
    assert download(f"{base}/firmware/fw%20v2.bin", tmp_path / "fw.bin", timeout=5).read_bytes() == PAYLOAD


def test_ftp_upload_to_a_directory_and_to_a_name(ftp_server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = ftp_server
    source = tmp_path / "diag.zip"
    source.write_bytes(PAYLOAD)
    upload(source, f"{base}/", timeout=5)
    upload(source, f"{base}/firmware/renamed.zip", timeout=5)
    assert (root / "diag.zip").read_bytes() == (root / "firmware" / "renamed.zip").read_bytes() == PAYLOAD


def test_ftp_errors_hide_the_password(ftp_server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = ftp_server
    with pytest.raises(TransferError) as missing:
        download(f"{base}/firmware/none.bin", tmp_path / "x", timeout=5)
    assert "550" in str(missing.value) and "p%40ss" not in str(missing.value) and "***" in str(missing.value)
    with pytest.raises(TransferError, match="530"):
        download(base.replace("p%40ss", "wrong") + "/firmware/fw%20v2.bin", tmp_path / "x", timeout=5)
    assert not (tmp_path / "x").exists()


# --- diagnostics archive ------------------------------------------------------------------------

def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, 10, hour, minute, tzinfo=UTC)


def test_diagnostics_archive_keeps_the_window(tmp_path: Path) -> None:
    instance = tmp_path / "cp1"
    instance.mkdir()
    (instance / "config.ini").write_text("[ChargePoint]\n")
    (instance / "state.json").write_text("{}")
    (instance / "ocpp.log").write_text(
        '{"time":"2025-03-10T08:00:00.000Z","direction":"out"}\n'
        '{"time":"2025-03-10T09:30:00.000Z","direction":"in"}\n'
        '{"time":"2025-03-10T11:00:00.000Z","direction":"out"}\n')
    (instance / "cp.log").write_text(
        "2025-03-10T07:00:00Z INFO early\n"
        "2025-03-10T09:00:00+00:00 ERROR boom\nTraceback (most recent call last):\n  detail\n"
        "2025-03-10 12:00:00,250+00:00 INFO late\n")
    (instance / "ocpp.log.1").write_text('{"time":"2025-03-09T08:00:00.000Z"}\n')
    os.utime(instance / "ocpp.log.1", (utc(0).timestamp() - 86400,) * 2)  # last written before the window
    (instance / "old.zip").write_bytes(b"PK")
    dest = instance / "diagnostics.zip"

    assert build_diagnostics_archive(instance, utc(9), utc(10), dest) == dest
    with zipfile.ZipFile(dest) as archive:
        assert sorted(archive.namelist()) == ["config.ini", "cp.log", "ocpp.log", "state.json"]
        assert archive.read("ocpp.log") == b'{"time":"2025-03-10T09:30:00.000Z","direction":"in"}\n'
        assert archive.read("cp.log").decode() == (
            "2025-03-10T09:00:00+00:00 ERROR boom\nTraceback (most recent call last):\n  detail\n")

    build_diagnostics_archive(instance, None, None, dest)  # no window: everything, the old archive aside
    with zipfile.ZipFile(dest) as archive:
        assert sorted(archive.namelist()) == ["config.ini", "cp.log", "ocpp.log", "ocpp.log.1", "state.json"]
        assert archive.read("ocpp.log").count(b"\n") == 3
