"""Secrets a CSMS sends a charge point never reach its logs or MQTT topics."""

from __future__ import annotations

import json
import stat
from contextlib import contextmanager
from pathlib import Path

from tests.chargepoint.conftest import Driver, T, call
from tests.conftest import start_mosquitto
from tests.procs import PYTHON, managed, wait_until

AUTH_KEY = "0123456789abcdef0123"
FTP_PASSWORD = "ftp-Pa55word"


def test_authorization_key_and_url_passwords_stay_out_of_logs_and_topics(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    call(csms.api, "CP1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": AUTH_KEY})
    call(csms.api, "CP1", "UpdateFirmware", {"location": f"ftp://fw:{FTP_PASSWORD}@127.0.0.1:1/fw.bin",
                                             "retrieveDate": "2020-01-01T00:00:00Z", "retries": 1})
    call(csms.api, "CP1", "GetDiagnostics", {"location": f"ftp://diag:{FTP_PASSWORD}@127.0.0.1:1/"})
    ui.rec.client.publish(T.cp_cmd("CP1"), {"type": "ocpp_config"})
    wait_until(lambda: ui.rec.last(T.cp_ocpp_config("CP1")), what="ocpp_config")
    wait_until(lambda: any("fw:***@127.0.0.1" in m.text for m in ui.rec.on_topic(T.cp_ocpp_log("CP1"))),
               what="the UpdateFirmware frame on ocpp_log")
    wait_until(lambda: "ftp://diag:***@" in (cp.directory / "ocpp.log").read_text(), what="GetDiagnostics logged")

    logged = (cp.directory / "ocpp.log").read_text()
    change = [json.loads(line)["message"] for line in logged.splitlines() if "ChangeConfiguration" in line]
    assert change and change[0][3] == {"key": "AuthorizationKey", "value": "***"}
    published = "\n".join(m.text for m in ui.rec.messages)
    everything = "\n".join([logged, published, cp.output(),
                            *(p.read_text(errors="replace") for p in cp.directory.glob("*.log*"))])
    assert AUTH_KEY not in everything
    assert FTP_PASSWORD not in everything
    assert "AuthorizationKey" not in json.loads(ui.rec.last(T.cp_ocpp_config("CP1")))


def test_broker_credentials_from_the_url_stay_out_of_the_instance(tmp_path: Path, csms, recorder_factory) -> None:
    with contextmanager(start_mosquitto)(tmp_path, users={"cp": "Cp-Broker-Pass-1"}) as broker:
        url = f"mqtt://cp:Cp-Broker-Pass-1@127.0.0.1:{broker.port}"
        rec = recorder_factory(url)
        directory = tmp_path / "NEW1"
        with managed([PYTHON, "-m", "chargepoint", "--workdir", str(directory), "--id", "NEW1",
                      "--central-system", csms.url, "--broker", url], log=tmp_path / "new1.out"):
            rec.wait_json(T.cp_status("NEW1"), lambda d: d["status"] == "Accepted", 15)
            config = (directory / "config.ini").read_text()
            assert "Cp-Broker-Pass-1" not in config
            assert f"broker = mqtt://127.0.0.1:{broker.port}" in config
            assert stat.S_IMODE((directory / "config.ini").stat().st_mode) == 0o600
