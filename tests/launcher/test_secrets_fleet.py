"""A running fleet with secrets configured leaves none of them in a log, a topic or a
command line: the MQTT password, a charge point's basic-auth password (security profile 1,
checked by the CSMS), an AuthorizationKey set by ChangeConfiguration and the password of an
FTP URL (in both spawn modes)."""

from __future__ import annotations

import json
import stat
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from cp_simu.broker_access import BrokerAccess
from cp_simu.topics import Topics
from cp_simu.urls import BrokerUrl
from tests.chargepoint.conftest import call
from tests.conftest import Recorder, start_amqtt, start_csms
from tests.launcher.conftest import cp_processes
from tests.procs import managed, ocpp_simu, wait_until

T = Topics()
MQTT_USER, MQTT_PASSWORD = "fleet", "Fleet-Mqtt-Pass-9"
BASIC_AUTH = "CpBasicAuth-Pass-31"
AUTH_KEY = "AuthKey-0123456789ab"
FTP_PASSWORD = "Ftp-Pass-7731"
SECRETS = (MQTT_PASSWORD, BASIC_AUTH, AUTH_KEY, FTP_PASSWORD)
# Files that hold a secret by design: the test's own password file, and each instance's
# config.ini (the charge point's own credentials, mode 0600).
HOLDERS = ("mqtt.pass", "config.ini")


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_no_secret_in_logs_topics_or_command_lines(tmp_path: Path, fleet_dir: Path, mode: str) -> None:
    passwords = tmp_path / "csms-passwords.txt"  # the CSMS's table: Basic auth (security profile 1)
    passwords.write_text(f"SECF1 = {BASIC_AUTH}\n")
    with contextmanager(start_amqtt)(tmp_path, users={MQTT_USER: MQTT_PASSWORD}) as broker, \
            contextmanager(start_csms)(tmp_path, "--security-profile", "1", "--password-file", str(passwords)) as csms:
        access = BrokerAccess(BrokerUrl.parse(f"mqtt://{MQTT_USER}:{MQTT_PASSWORD}@127.0.0.1:{broker.port}"))
        rec = Recorder(access, "cp_simu/#", f"secrets-recorder-{mode}")  # type: ignore[arg-type]
        secret_file = tmp_path / "mqtt.pass"
        secret_file.write_text(MQTT_PASSWORD + "\n")
        env = {"OCPP_SIMU_MQTT_USERNAME": MQTT_USER, "OCPP_SIMU_MQTT_PASSWORD_FILE": str(secret_file)}
        args = ocpp_simu("-v", "launcher", "--broker", broker.url, "--workdir", str(fleet_dir), "--spawn-mode", mode)
        with managed(args, log=fleet_dir / "launcher.log", env=env) as launcher:
            wait_until(lambda: rec.last(T.launcher_status) == b"Alive", 20, what="the launcher")
            entry = {"id": "SECF1", "central_system": csms.url, "security_profile": 1,
                     "basic_auth_password": BASIC_AUTH}
            rec.publish(T.launcher_cmd, json.dumps({"type": "start", "charge_points": [entry]}))
            rec.wait_json(T.cp_status("SECF1"), lambda d: d["status"] == "Accepted", 20)
            call(csms.api, "SECF1", "UpdateFirmware", {"location": f"ftp://fw:{FTP_PASSWORD}@127.0.0.1:1/fw.bin",
                                                       "retrieveDate": "2020-01-01T00:00:00Z", "retries": 1})
            call(csms.api, "SECF1", "GetDiagnostics", {"location": f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:1/"})
            rec.publish(T.cp_cmd("SECF1"), json.dumps({"type": "ocpp_config"}))
            wait_until(lambda: rec.last(T.cp_ocpp_config("SECF1")), what="ocpp_config")
            instance = fleet_dir / "chargepoints" / "SECF1"
            wait_until(lambda: "GetDiagnostics" in (instance / "ocpp.log").read_text(), what="the frames logged")
            # a new key: the CP reconnects with it and reports the change
            call(csms.api, "SECF1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTH_KEY})
            wait_until(lambda: "AuthorizationKey changed" in (instance / "ocpp.log").read_text(),
                       what="the reconnection with the new key")

            processes = [launcher.pid, broker.process.pid, *(p.pid for p in cp_processes(fleet_dir))]
            processes += [c.pid for c in psutil.Process(launcher.pid).children(recursive=True)]
            command_lines = {pid: cmdline(pid) for pid in set(processes)}
            assert len(command_lines) >= 3 + (mode == "fork")  # launcher, broker, CP (+ fork server)
            late = Recorder(access, "#", f"secrets-late-{mode}")  # type: ignore[arg-type]
            time.sleep(1.0)  # every retained message arrives
            retained = {m.topic: m.text for m in late.messages if m.retain}
            late.close()
        rec.close()

    assert {pid: line for pid, line in command_lines.items() if leaks(line)} == {}
    assert T.cp_status("SECF1") in retained and T.launcher_info in retained
    assert {t: p for t, p in retained.items() if leaks(p)} == {}
    # what the components published (the start command is the test's own message)
    assert [m.topic for m in rec.messages if leaks(m.text) and m.topic != T.launcher_cmd] == []
    files = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("csms-")]
    assert any(p.name == "ocpp.log" for p in files) and any(p.name == "launcher.log" for p in files)
    assert {str(p): leaks(p.read_text(errors="replace")) for p in files
            if p.name not in HOLDERS and leaks(p.read_text(errors="replace"))} == {}
    config = instance / "config.ini"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert MQTT_PASSWORD not in config.read_text()
