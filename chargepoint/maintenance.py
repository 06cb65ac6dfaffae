"""Firmware updates and log uploads (UpdateFirmware / SignedUpdateFirmware, GetDiagnostics /
GetLog), version-neutral.

Each is one background job at a time (a new request replaces a running one). Transfers and
the archive run in a thread executor, so OCPP and MQTT never wait for a slow server. Progress
goes out through an async `report` callback that returns once the status message is
delivered (the protocol adapter's job), which keeps the statuses in order and lets the last
one reach the CSMS before a reboot.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from chargepoint.core.file_transfer import TransferError, build_diagnostics_archive, download, upload
from chargepoint.model.meter import Clock
from chargepoint.model.smart_charging import utc_from_timestamp

log = logging.getLogger(__name__)

FIRMWARE_DIR = "firmware"
DEFAULT_RETRY_INTERVAL = 30.0  # s between attempts when the request does not say
VERSION_MAX_LENGTH = 50  # BootNotification firmwareVersion
_EXTENSION = re.compile(r"\.[A-Za-z]\w*$")
_VERSION = re.compile(r"\d+(?:\.\d+)+(?:-[0-9A-Za-z.]+)?")

Report = Callable[[str], Awaitable[None]]
Verify = Callable[[Path], str | None]  # a downloaded image -> why its signature is refused, None if good
Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]


class FirmwareStatus(StrEnum):
    IDLE = "Idle"
    DOWNLOADING = "Downloading"
    DOWNLOADED = "Downloaded"
    DOWNLOAD_FAILED = "DownloadFailed"
    INSTALLING = "Installing"
    INSTALLED = "Installed"
    INSTALLATION_FAILED = "InstallationFailed"
    INVALID_SIGNATURE = "InvalidSignature"  # signed updates only
    SIGNATURE_VERIFIED = "SignatureVerified"


class LogStatus(StrEnum):
    IDLE = "Idle"
    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    UPLOAD_FAILURE = "UploadFailure"


class DiagnosticsStatus(StrEnum):
    IDLE = "Idle"
    UPLOADING = "Uploading"
    UPLOADED = "Uploaded"
    UPLOAD_FAILED = "UploadFailed"


@dataclass(frozen=True)
class Retries:
    """How often a transfer is tried: the request's `retries` (at least one attempt) and
    `retryInterval`."""

    attempts: int = 1
    interval: float = DEFAULT_RETRY_INTERVAL

    @classmethod
    def from_request(cls, retries: int | None, interval: int | None) -> Retries:
        return cls(max(1, retries or 1), DEFAULT_RETRY_INTERVAL if interval is None else max(0.0, interval))


def firmware_version(file_name: str) -> str:
    """The version a simulated firmware image installs: the version number in its file name
    (`simu-cp-2.1.0.bin` → `2.1.0`), else the name without its extension."""
    stem = _EXTENSION.sub("", file_name)
    found = _VERSION.search(stem)
    return (found.group(0) if found else stem)[:VERSION_MAX_LENGTH]


class _Job:
    """One background job at a time, and the status a TriggerMessage reports (Idle between jobs)."""

    idle: str

    def __init__(self, report: Report, spawn: Spawn) -> None:
        self._report = report
        self._spawn = spawn
        self._task: asyncio.Task[None] | None = None
        self.status = self.idle

    def _launch(self, job: Coroutine[Any, Any, None]) -> None:
        if self._task is not None and not self._task.done():
            log.warning("%s replaced by a new request", type(self).__name__)
            self._task.cancel()
        self._task = self._spawn(self._run(job))

    async def _run(self, job: Coroutine[Any, Any, None]) -> None:
        try:
            await job
        finally:
            if self._task is asyncio.current_task():  # not replaced meanwhile
                self.status = self.idle

    async def _set(self, status: str) -> None:
        self.status = status
        await self._report(status)

    @staticmethod
    async def _transfer(work: Callable[[], object], retries: Retries, what: str) -> bool:
        """Run a blocking transfer in the executor, up to `retries.attempts` times."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, retries.attempts + 1):
            try:
                await loop.run_in_executor(None, work)
                return True
            except (TransferError, OSError) as exc:
                log.warning("%s, attempt %d/%d: %s", what, attempt, retries.attempts, exc)
            if attempt < retries.attempts:
                await asyncio.sleep(retries.interval)
        return False


class FirmwareUpdater(_Job):
    """UpdateFirmware: download at `retrieve_at`, wait until no session runs, install (the new
    version is the one the file name carries; an empty file fails), report, reboot."""

    idle = FirmwareStatus.IDLE

    def __init__(self, directory: Path, report: Report, spawn: Spawn, *, clock: Clock,
                 idle_connectors: Callable[[], Awaitable[None]], install: Callable[[str], None],
                 reboot: Callable[[], Awaitable[None]]) -> None:
        super().__init__(report, spawn)
        self.directory = directory / FIRMWARE_DIR
        self._clock = clock
        self._idle_connectors = idle_connectors
        self._install = install
        self._reboot = reboot
        self.request_id: int | None = None  # of a signed update (SignedFirmwareStatusNotification)

    def start(self, location: str, retrieve_at: float, retries: Retries, *, request_id: int | None = None,
              verify: Verify | None = None) -> None:
        """`verify` (signed updates): the image is installed only if it accepts the signature."""
        self.request_id = request_id
        self._launch(self._update(location, retrieve_at, retries, verify))

    async def _update(self, location: str, retrieve_at: float, retries: Retries, verify: Verify | None) -> None:
        await asyncio.sleep(max(0.0, retrieve_at - self._clock()))
        name = Path(unquote(urlsplit(location).path)).name or "firmware.bin"
        image = self.directory / name
        await self._set(FirmwareStatus.DOWNLOADING)
        self.directory.mkdir(parents=True, exist_ok=True)
        if not await self._transfer(lambda: download(location, image), retries, "firmware download"):
            await self._set(FirmwareStatus.DOWNLOAD_FAILED)
            return
        await self._set(FirmwareStatus.DOWNLOADED)
        if verify is not None:
            problem = verify(image)
            if problem is not None:
                log.error("firmware %s refused: %s", image.name, problem)
                await self._set(FirmwareStatus.INVALID_SIGNATURE)
                return
            await self._set(FirmwareStatus.SIGNATURE_VERIFIED)
        await self._idle_connectors()
        await self._set(FirmwareStatus.INSTALLING)
        version = firmware_version(name)
        try:
            if image.stat().st_size == 0:
                raise OSError(f"{image.name} is empty")
            self._install(version)
        except OSError as exc:
            log.error("firmware installation failed: %s", exc)
            await self._set(FirmwareStatus.INSTALLATION_FAILED)
            return
        log.warning("firmware %s installed from %s: rebooting", version, image.name)
        await self._set(FirmwareStatus.INSTALLED)
        await self._reboot()


class DiagnosticsUploader(_Job):
    """GetDiagnostics: an archive of the instance directory for the time window, uploaded."""

    idle = DiagnosticsStatus.IDLE
    uploading, uploaded = DiagnosticsStatus.UPLOADING, DiagnosticsStatus.UPLOADED
    failed = DiagnosticsStatus.UPLOAD_FAILED

    def __init__(self, directory: Path, report: Report, spawn: Spawn) -> None:
        super().__init__(report, spawn)
        self.directory = directory

    def start(self, file_name: str, location: str, window: tuple[float | None, float | None],
              retries: Retries, include: Callable[[str], bool] = lambda name: True) -> None:
        """`include`: which files of the instance directory (relative names) go into the archive."""
        self._launch(self._upload(file_name, location, window, retries, include))

    async def _upload(self, file_name: str, location: str, window: tuple[float | None, float | None],
                      retries: Retries, include: Callable[[str], bool]) -> None:
        start, stop = (None if t is None else utc_from_timestamp(t) for t in window)
        loop = asyncio.get_running_loop()
        with tempfile.TemporaryDirectory(prefix="diagnostics-") as tmp:
            archive = Path(tmp) / file_name
            try:
                await loop.run_in_executor(None, build_diagnostics_archive, self.directory, start, stop, archive,
                                           include)
            except OSError as exc:
                log.error("cannot build the diagnostics archive: %s", exc)
                await self._set(self.failed)
                return
            await self._set(self.uploading)
            uploaded = await self._transfer(lambda: upload(archive, location), retries, "diagnostics upload")
        await self._set(self.uploaded if uploaded else self.failed)


class LogUploader(DiagnosticsUploader):
    """GetLog: the diagnostics archive (DiagnosticsLog) or the security log (SecurityLog),
    reported with the request's id (LogStatusNotification)."""

    idle = LogStatus.IDLE
    uploading, uploaded, failed = LogStatus.UPLOADING, LogStatus.UPLOADED, LogStatus.UPLOAD_FAILURE

    def __init__(self, directory: Path, report: Report, spawn: Spawn) -> None:
        super().__init__(directory, report, spawn)
        self.request_id: int | None = None
