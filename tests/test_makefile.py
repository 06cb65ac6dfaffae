"""The Makefile's system check: every needed program and library is looked for on its own.

`make system-deps` runs for real with a PATH that has the broker but not its clients and a
stand-in for apt-get that records what it was asked to install.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.procs import REPO

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make not installed")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MAKE, "-s", "--no-print-directory", "-C", str(REPO), *args],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "MAKEFLAGS": ""})


def _bin_dir(tmp_path: Path, *programs: str) -> Path:
    """A directory holding stand-ins for `programs`, and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in programs:
        path = bin_dir / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def _recording_apt_get(tmp_path: Path) -> tuple[Path, Path]:
    record = tmp_path / "apt-get.calls"
    script = tmp_path / "apt-get"
    script.write_text(f'#!/bin/sh\necho "$*" >> {record}\n')
    script.chmod(0o755)
    return script, record


def test_broker_without_its_clients_installs_the_clients(tmp_path: Path):
    bin_dir = _bin_dir(tmp_path, "mosquitto")
    apt_get, record = _recording_apt_get(tmp_path)
    result = _make("system-deps", f"SYSTEM_PATH={bin_dir}", f"APT_GET={apt_get}", "SUDO=")
    assert result.returncode == 0, result.stderr
    calls = record.read_text().splitlines()
    install = next(c for c in calls if c.startswith("install"))
    assert "mosquitto-clients" in install.split()
    assert "mosquitto" not in install.split()  # the broker is there: not reinstalled
    assert "mosquitto-clients" in result.stdout


def test_each_client_is_checked_on_its_own(tmp_path: Path):
    only_pub = _bin_dir(tmp_path, "mosquitto", "mosquitto_pub")
    result = _make("missing-system-deps", f"SYSTEM_PATH={only_pub}")
    assert result.returncode == 0, result.stderr
    assert "mosquitto-clients" in result.stdout.split()


def test_nothing_is_installed_when_everything_is_there(tmp_path: Path):
    everything = _bin_dir(tmp_path, "mosquitto", "mosquitto_pub", "mosquitto_sub")
    apt_get, record = _recording_apt_get(tmp_path)
    missing = _make("missing-system-deps", f"SYSTEM_PATH={everything}").stdout.split()
    assert not {"mosquitto", "mosquitto-clients"} & set(missing)
    result = _make("system-deps", f"SYSTEM_PATH={everything}", f"APT_GET={apt_get}", "SUDO=",
                   "SYSTEM_DEPS=mosquitto=mosquitto mosquitto_pub=mosquitto-clients mosquitto_sub=mosquitto-clients")
    assert result.returncode == 0, result.stderr
    assert not record.exists()


def test_a_missing_library_names_its_package(tmp_path: Path):
    result = _make("missing-system-deps", "SYSTEM_DEPS=libnot-there-at-all.so.7=libnot-there7 libc.so.6=libc6")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["libnot-there7"]


def test_a_dry_run_installs_nothing(tmp_path: Path):
    """`make -n test` shows what it would do; it must not reach apt-get."""
    bin_dir = _bin_dir(tmp_path, "mosquitto")
    apt_get, record = _recording_apt_get(tmp_path)
    result = _make("-n", "system-deps", f"SYSTEM_PATH={bin_dir}", f"APT_GET={apt_get}", "SUDO=")
    assert result.returncode == 0, result.stderr
    assert not record.exists()
