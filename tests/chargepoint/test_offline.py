"""The offline queue end to end: the CSMS goes away mid-session, the CP even gets SIGKILLed;
every transaction message still arrives, in order, with the right transaction id."""

from __future__ import annotations

import time

from tests.chargepoint.conftest import Driver, T, messages, wait_message
from tests.procs import wait_until

METER = {"MeterValueSampleInterval": "1", "MeterValuesSampledData": "Energy.Active.Import.Register"}


def tx_calls(csms, since: int = 0) -> list[tuple[str, dict]]:
    """(action, payload) of the transaction-related calls the CSMS received, in order."""
    return [(m["action"], m["payload"]) for m in csms.messages(direction="in")[since:]
            if m["message_type"] == "call" and m["action"] in ("StartTransaction", "StopTransaction",
                                                               "MeterValues")]


def register(payload: dict) -> int:
    return int(payload["meterValue"][0]["sampledValue"][0]["value"])


def test_csms_down_mid_transaction(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, ocpp=METER)
    ui.status("Accepted")
    tx = ui.start_session()["transaction_id"]
    wait_message(csms, "MeterValues")
    csms.stop()
    ui.status("Disconnected")
    # charging goes on
    energy = ui.rec.last_json(T.connector_status("CP1", 1))["energy_wh"]
    ui.mark = len(ui.rec.messages)
    ui.wait(T.connector_status("CP1", 1), lambda d: d["status"] == "Charging" and d["energy_wh"] > energy + 5)
    time.sleep(2)
    ui.tag("TAG1")  # the session's own tag stops it without asking anyone
    ui.connector("Finishing")
    assert len(cp.directory.joinpath("queue.jsonl").read_text().splitlines()) >= 3
    since = len(csms.messages(direction="in"))
    csms.start()
    ui.status("Accepted", timeout=15)
    stop = wait_message(csms, "StopTransaction")
    assert stop["reason"] == "Local" and stop["transactionId"] == tx
    delivered = tx_calls(csms, since)
    assert [a for a, _ in delivered][-1] == "StopTransaction" and len(delivered) >= 3
    values = [p for a, p in delivered if a == "MeterValues"]
    assert all(p["transactionId"] == tx for p in values)
    stamps = [p["meterValue"][0]["timestamp"] for p in values]
    assert stamps == sorted(stamps) and [register(p) for p in values] == sorted(register(p) for p in values)
    assert stop["meterStop"] >= register(values[-1])
    assert len(messages(csms, "BootNotification")) == 1  # a reconnection is no reboot
    after = [m["payload"] for m in csms.messages(direction="in")[since:] if m["action"] == "StatusNotification"]
    assert {p["connectorId"] for p in after} >= {0, 1}  # statuses re-sent after reconnection
    wait_until(lambda: '"op":"add"' not in cp.directory.joinpath("queue.jsonl").read_text(),
               what="the queue compacted once empty")


def test_sigkill_while_offline_then_restart(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, ocpp=METER)
    ui.status("Accepted")
    ui.start_session()  # TAG1 is now in the authorization cache
    ui.tag("TAG1")
    wait_message(csms, "StopTransaction")
    ui.car(cable=0)
    csms.stop()
    ui.status("Disconnected")
    ui.car()
    ui.tag("TAG1")  # offline: the cache authorizes TAG1, StartTransaction is queued
    ui.connector("Charging")
    assert ui.rec.last_json(T.connector_status("CP1", 1))["transaction_id"] is None
    ui.mark = len(ui.rec.messages)
    ui.wait(T.connector_status("CP1", 1), lambda d: d["energy_wh"] > 3)
    time.sleep(1.5)
    cp.kill()
    ui.status("Dead")
    time.sleep(2)  # the power stays off a while: the stop is dated when it went, not when it came back
    cp.start()  # still offline: the cut transaction is stopped (PowerLoss) into the queue
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Disconnected" and d["pid"] == cp.process.pid)
    ui.connector("Finishing")  # the car is still plugged
    since = len(csms.messages(direction="in"))
    csms.start()
    ui.status("Accepted", timeout=15)
    stop = wait_message(csms, "StopTransaction", lambda p: p["reason"] == "PowerLoss")
    delivered = tx_calls(csms, since)
    actions = [a for a, _ in delivered]
    assert actions[0] == "StartTransaction" and actions[-1] == "StopTransaction"
    assert set(actions[1:-1]) == {"MeterValues"}
    start = delivered[0][1]
    assert start["idTag"] == "TAG1"
    answer = [m for m in csms.messages(action="StartTransaction", direction="out")
              if m["message_type"] == "call_result"][-1]
    tx_id = answer["payload"]["transactionId"]
    assert all(p["transactionId"] == tx_id for _, p in delivered[1:])
    assert stop["transactionId"] == tx_id and stop["meterStop"] >= start["meterStart"] + 3
    end = stop["transactionData"][-1]  # the register when the power went, dated then
    assert end["sampledValue"][0]["context"] == "Transaction.End" and end["timestamp"] == stop["timestamp"]
    assert end["sampledValue"][0]["value"] == str(stop["meterStop"])
    boots = csms.messages(action="BootNotification", direction="in")
    assert len(boots) == 2  # the restarted process booted again
    first_tx_call = next(m for m in csms.messages(direction="in")[since:] if m["action"] == "StartTransaction")
    assert boots[-1]["time"] <= first_tx_call["time"]
    ui.car(cable=0)
    ui.connector("Available")
