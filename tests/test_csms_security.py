"""The demo CSMS's security settings on their own: what it refuses to start with, how it
classifies a handshake, and the passwords it learns from the calls it sends."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from cp_simu.cli import main
from cp_simu.csms.security import CsmsSecurity, CsmsSecurityError, load_passwords


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("args", "message"), [
    (["--security-profile", "1"], "needs --password-file"),
    (["--security-profile", "2", "--password-file", "{pw}"], "needs a server certificate"),
])
def test_csms_refuses_to_start_without_what_the_profile_needs(tmp_path: Path, args, message) -> None:
    (tmp_path / "pw.txt").write_text("CP1 = password-0123456789\n")
    args = [a.format(pw=tmp_path / "pw.txt") for a in args]
    result = CliRunner().invoke(main, ["csms", "--port", "0", "--api-port", "0", *args])
    assert result.exit_code == 2 and message in result.output


def test_password_table_formats(tmp_path: Path) -> None:
    lines = tmp_path / "pw.txt"
    lines.write_text("# comment\nCP1 = pass = with equals\n\nCP2=p2-0123456789\n")
    assert load_passwords(lines) == {"CP1": "pass = with equals", "CP2": "p2-0123456789"}
    (tmp_path / "pw.json").write_text('{"CP1": "x"}')
    assert load_passwords(tmp_path / "pw.json") == {"CP1": "x"}
    for bad in ("CP1 password\n", '{"CP1": 5}', "[1, 2"):
        (tmp_path / "bad").write_text(bad)
        with pytest.raises(CsmsSecurityError):
            load_passwords(tmp_path / "bad")


def test_handshake_classification() -> None:
    security = CsmsSecurity(minimum_profile=1, passwords={"CP1": "right-password-16"})
    assert security.check("CP1", basic("CP1", "right-password-16"), False, None) == (1, None)
    assert security.check("CP1", basic("CP1", "right-password-16"), True, None) == (2, None)
    for header in (basic("CP1", "wrong"), basic("CP2", "right-password-16"), "Basic !!!", "Bearer x"):
        _, refusal = security.check("CP1", header, False, None)
        assert refusal is not None and refusal.status == 401
    assert security.check("CP1", None, False, None)[1].status == 401  # type: ignore[union-attr]
    assert security.check("CP1", None, True, "CP1") == (3, None)
    assert security.check("CP1", None, True, "CP9")[1].status == 403  # type: ignore[union-attr]
    strict = CsmsSecurity(minimum_profile=3, passwords={"CP1": "right-password-16"})
    assert strict.check("CP1", basic("CP1", "right-password-16"), True, None)[1].status == 403  # type: ignore[union-attr]


def test_passwords_the_csms_sets_are_remembered() -> None:
    security = CsmsSecurity(minimum_profile=1, passwords={"CP1": "old-password-0000"})
    security.call_answered("CP1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "new-1"},
                           {"status": "Rejected"})
    assert security.passwords["CP1"] == "old-password-0000"
    security.call_answered("CP1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": "new-1"},
                           {"status": "Accepted"})
    assert security.passwords["CP1"] == "new-1"
    variable = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}
    security.call_answered("CP1", "SetVariables",
                           {"setVariableData": [{**variable, "attributeValue": "new-2"}]},
                           {"setVariableResult": [{**variable, "attributeStatus": "Accepted"}]})
    assert security.passwords["CP1"] == "new-2"
