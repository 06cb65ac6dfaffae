"""Firmware updates and diagnostics end to end, against real loopback HTTP and FTP servers:
UpdateFirmware (retries, retrieveDate, waiting for the session, the new version booted and
kept), GetDiagnostics (archive of the time window, HTTP POST and FTP, failure)."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chargepoint.csms_requests import CsmsRequests
from chargepoint.model.smart_charging import format_datetime, parse_datetime
from cp_simu.config import load_config
from tests.chargepoint.conftest import Driver, T, call, messages, utc, wait_message
from tests.ocpp16_ext.servers import serve_ftp, serve_http
from tests.procs import free_port, wait_until

FIRMWARE = b"simulated firmware image"


def statuses(csms: Any, action: str) -> list[str]:
    return [p["status"] for p in messages(csms, action)]


def wait_statuses(csms: Any, action: str, expected: list[str], timeout: float = 10.0) -> None:
    wait_until(lambda: statuses(csms, action) == expected, timeout,
               what=f"{action} {expected} (got {statuses(csms, action)})")


def update_firmware(csms: Any, location: str, delay: float = 0.0, **extra: Any) -> None:
    request = {"location": location, "retrieveDate": format_datetime(utc(time.time() + delay)), **extra}
    assert call(csms.api, "CP1", "UpdateFirmware", request) == {}


def booted_version(csms: Any, boots: int) -> str:
    wait_until(lambda: len(messages(csms, "BootNotification")) == boots, what=f"BootNotification #{boots}")
    return messages(csms, "BootNotification")[-1]["firmwareVersion"]


def test_firmware_update_over_http_and_ftp(broker, csms, recorder_factory, cp_factory, tmp_path: Path) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    installed = ["Downloading", "Downloaded", "Installing", "Installed"]
    with serve_http({"/fw/simu-cp-2.1.0.bin": FIRMWARE}) as (base, http):
        # a download that keeps failing: tried `retries` times, then DownloadFailed
        update_firmware(csms, f"{base}/fw/missing-9.9.bin", retries=2, retryInterval=1)
        wait_statuses(csms, "FirmwareStatusNotification", ["Downloading", "DownloadFailed"])
        assert http.gets == ["/fw/missing-9.9.bin"] * 2
        assert not (cp.directory / "firmware" / "missing-9.9.bin").exists()
        # downloaded at retrieveDate, installed, rebooted with the new version
        update_firmware(csms, f"{base}/fw/simu-cp-2.1.0.bin", delay=1.0)
        time.sleep(0.5)
        assert len(http.gets) == 2  # not before retrieveDate
        wait_statuses(csms, "FirmwareStatusNotification", ["Downloading", "DownloadFailed", *installed])
        assert booted_version(csms, 2) == "2.1.0"
    assert (cp.directory / "firmware" / "simu-cp-2.1.0.bin").read_bytes() == FIRMWARE
    assert ui.wait(T.cp_status("CP1"), lambda d: d["firmware_version"] == "2.1.0")["status"] == "Accepted"
    # over FTP, while a session runs: installed once it ended
    (tmp_path / "ftproot").mkdir()
    (tmp_path / "ftproot" / "simu-cp-3.0.0.bin").write_bytes(FIRMWARE)
    tx = ui.start_session()["transaction_id"]
    with serve_ftp(tmp_path / "ftproot") as url:
        update_firmware(csms, f"{url}/simu-cp-3.0.0.bin")
        wait_statuses(csms, "FirmwareStatusNotification", ["Downloading", "DownloadFailed", *installed,
                                                           "Downloading", "Downloaded"])
    time.sleep(0.5)
    assert statuses(csms, "FirmwareStatusNotification")[-1] == "Downloaded"  # the session goes on
    ui.tag("TAG1")
    assert wait_message(csms, "StopTransaction")["transactionId"] == tx
    assert booted_version(csms, 3) == "3.0.0"
    assert statuses(csms, "FirmwareStatusNotification")[-2:] == ["Installing", "Installed"]
    # the version survives a restart
    cp.kill()
    cp.start()
    assert booted_version(csms, 4) == "3.0.0"
    assert load_config(cp.directory / "config.ini").charge_point["firmware_version"] == "3.0.0"


def archive_names(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return set(archive.namelist())


def test_diagnostics_upload_over_http_and_ftp(broker, csms, recorder_factory, cp_factory, tmp_path: Path) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    ui.start_session()
    until = time.time()
    time.sleep(0.1)
    ui.tag("TAG1")
    wait_message(csms, "StopTransaction")
    window = {"startTime": format_datetime(utc(until - 3600)), "stopTime": format_datetime(utc(until))}
    with serve_http({}) as (base, http):
        name = call(csms.api, "CP1", "GetDiagnostics", {"location": f"{base}/upload", **window})["fileName"]
        assert name.startswith("diagnostics-CP1-") and name.endswith(".zip")
        wait_statuses(csms, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"])
        how, data = http.received["/upload"]
    assert how == f"POST {name}"
    assert archive_names(data) >= {"ocpp.log", "chargepoint.log", "config.ini", "state.json"}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        logged = [json.loads(line) for line in archive.read("ocpp.log").splitlines()]
    assert logged[0]["message"][2] == "BootNotification"
    assert all(parse_datetime(f["time"]).timestamp() <= until for f in logged)  # the window only
    assert "StopTransaction" not in {f["message"][2] for f in logged if f["message"][0] == 2}
    # FTP: stored under the archive's name in the directory the URL names
    (tmp_path / "ftproot").mkdir()
    with serve_ftp(tmp_path / "ftproot") as url:
        name = call(csms.api, "CP1", "GetDiagnostics", {"location": f"{url}/"})["fileName"]
        wait_statuses(csms, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"] * 2)
    assert "ocpp.log" in archive_names((tmp_path / "ftproot" / name).read_bytes())
    # nobody listening: retried, then UploadFailed
    location = f"http://127.0.0.1:{free_port()}/upload"
    call(csms.api, "CP1", "GetDiagnostics", {"location": location, "retries": 2, "retryInterval": 1})
    wait_statuses(csms, "DiagnosticsStatusNotification", ["Uploading", "Uploaded"] * 2 + ["Uploading", "UploadFailed"])
    assert not list(cp.directory.glob("*.zip"))


def test_get_log_uploads_under_the_name_its_answer_announced() -> None:
    """The answer (dry run) and the upload (applied after it) are two calls: a second may
    tick between them, and the CSMS must still find the file under the name it was given."""
    clock = iter([1_700_000_000.2, 1_700_000_001.4])  # the answer, then the upload a second later
    started: list[str] = []
    logs = SimpleNamespace(request_id=None, start=lambda name, *_: started.append(name))
    station = SimpleNamespace(definition=SimpleNamespace(id="CP1"), config=None, queue=None, message_log=None,
                              connection=None, security=None, network=None, logs=logs, clock=lambda: next(clock))
    requests = CsmsRequests(station)  # type: ignore[arg-type]
    announced = requests.get_log("SecurityLog", 7, "ftp://x/", (None, None), None, None, dry_run=True)
    with_clock_past = requests.get_log("SecurityLog", 7, "ftp://x/", (None, None), None, None)
    assert announced == with_clock_past == started[0] == "security-log-CP1-20231114T221320Z.zip"
