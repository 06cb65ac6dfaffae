"""Secrets a CSMS sends a charge point never reach its logs or MQTT topics."""

from __future__ import annotations

import json

from tests.chargepoint.conftest import Driver, T, call
from tests.procs import wait_until

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
