"""Security settings in `start` entries: carried into the instance's private config.ini, used
to connect, and never on a command line or a retained topic — in both spawn modes."""

from __future__ import annotations

import configparser
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from cp_simu.pki import create_demo_pki
from tests.conftest import Csms, start_csms
from tests.launcher.conftest import definition

PASSWORD = "launcher-password-0123"


@pytest.fixture
def secure_csms(tmp_path: Path) -> Iterator[Csms]:
    create_demo_pki(tmp_path / "pki")
    passwords = tmp_path / "passwords.txt"
    passwords.write_text(f"# demo table\nSEC1 = {PASSWORD}\n")
    yield from start_csms(tmp_path, "--security-profile", "2", "--password-file", str(passwords),
                          "--pki", str(tmp_path / "pki"))


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_start_entry_security_reaches_the_charge_point(mode, launcher_factory, secure_csms, tmp_path) -> None:
    run = launcher_factory("--spawn-mode", mode)
    run.start(definition("SEC1", secure_csms.url, security_profile=2, basic_auth_password=PASSWORD,
                         ca_file="pki/ca.pem"))  # relative to the launcher's directory
    status = run.wait_status("SEC1", "Accepted", timeout=45)  # a loaded machine warms the fork server slowly
    config_file = run.instance("SEC1") / "config.ini"
    assert config_file.stat().st_mode & 0o777 == 0o600
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config_file)
    assert dict(parser["Security"]) == {
        "security_profile": "2", "basic_auth_password": PASSWORD, "ca_file": str(tmp_path / "pki" / "ca.pem"),
        "client_cert": "", "client_key": "", "tls_skip_hostname_check": "false", "tls_allow_self_signed": "false"}
    assert all(key not in parser["ChargePoint"] for key in ("basic_auth_password", "security_profile"))
    assert PASSWORD not in " ".join(psutil.Process(status["pid"]).cmdline())
    published = [m.topic for m in run.rec.messages if PASSWORD.encode() in m.payload]
    assert published == ["cp_simu/launcher/cmd"]  # only in the command that gave it


def test_bad_security_entry_is_refused_with_the_key_named(launcher_factory, csms) -> None:
    run = launcher_factory()
    run.start(definition("SEC2", csms.url, security_profile=5))
    error = run.wait_error("security_profile")
    assert "must be 0, 1, 2 or 3" in error["error"]
    assert not run.instance("SEC2").exists()
