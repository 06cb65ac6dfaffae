"""The `network` command: a dropped link, refused reconnections and added latency, on a real
charge point process against the demo CSMS (which stays up the whole time)."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from chargepoint.core.network_faults import NetworkFaults
from cp_simu import failures
from cp_simu.models import ID_TAG_MAX_LENGTH, NetworkAction, NetworkFault
from tests.chargepoint.conftest import Driver, T, call, messages, wait_message
from tests.chargepoint.test_offline import METER, register, tx_calls
from tests.procs import wait_until


def network(ui: Driver, **command: object) -> None:
    ui.publish(T.cp_cmd(ui.cp), {"type": "network", **command})


def connections(csms, cp_id: str = "CP1") -> list[dict]:
    """The connection events the CSMS journalled for the charge point."""
    entries = [json.loads(line) for line in csms.log.read_text().splitlines() if line.strip()]
    return [e for e in entries if e.get("cp_id") == cp_id and e.get("event")]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_drop_during_a_session_delivers_it_after_the_link_returns(broker, csms_factory, recorder_factory,
                                                                  cp_factory, version) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp = cp_factory(csms.url, broker.url, ocpp=METER, ocpp_version=version)
    ui.status("Accepted")
    tx = ui.start_session()["transaction_id"]
    network(ui, action="drop", duration=4.5)  # a fraction, as a peer may send it
    down = ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Disconnected")
    assert down["network"] == "drop"
    ui.wait(T.cp_status("CP1"), lambda d: d["reason"] == failures.INJECTED_DROP)
    since = len(csms.messages(direction="in"))
    time.sleep(1.5)  # meter values queue meanwhile
    ui.car(cable=0.0)  # the car leaves while offline: its stop waits in the queue too
    ui.connector("Available")
    assert len(csms.messages(direction="in")) == since, "nothing reaches the CSMS while the link is down"
    queued = [json.loads(line) for line in cp.directory.joinpath("queue.jsonl").read_text().splitlines()]
    assert any(q.get("op") == "add" for q in queued)
    up = ui.status("Accepted", timeout=15)
    assert up["network"] == ""
    if version == "1.6":
        stop = wait_message(csms, "StopTransaction")
        assert stop["transactionId"] == tx and stop["reason"] == "EVDisconnected"
        delivered = tx_calls(csms, since)
        assert [a for a, _ in delivered][-1] == "StopTransaction" and len(delivered) >= 2
        values = [p for a, p in delivered if a == "MeterValues"]
        assert values and [register(p) for p in values] == sorted(register(p) for p in values)
        assert len(messages(csms, "BootNotification")) == 1  # a network drop is no reboot
    else:
        ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
        events = [p for p in messages(csms, "TransactionEvent") if p["transactionInfo"]["transactionId"] == tx]
        assert [p["seqNo"] for p in events] == sorted(p["seqNo"] for p in events)
        assert ended["offline"] is True and ended["transactionInfo"]["stoppedReason"] == "EVDisconnected"
    gone = [e for e in connections(csms) if e["event"] == "disconnected"]
    assert gone and gone[0]["code"] == 1006, gone  # the link vanished: no closing handshake


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_the_longest_id_tag_crosses_a_dropped_link_whole(broker, csms_factory, recorder_factory, cp_factory,
                                                         version) -> None:
    """A session started with the longest id tag the version carries (20 characters in 1.6, 36
    in 2.0.1) and ended by the same card while the link is down: the queued end reaches the
    CSMS with the tag whole."""
    tag = f"LONG{'X' * (ID_TAG_MAX_LENGTH[version] - 8)}0042"
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url, ocpp_version=version)
    ui.status("Accepted")
    tx = ui.start_session(tag=tag)["transaction_id"]
    network(ui, action="drop", duration=3.5)
    ui.wait(T.cp_status("CP1"), lambda d: d["status"] == "Disconnected")
    ui.tag(tag)  # the card that started it ends it, offline
    ui.connector("Finishing")
    ui.status("Accepted", timeout=15)
    if version == "1.6":
        assert [p["idTag"] for p in messages(csms, "StartTransaction")] == [tag]
        stop = wait_message(csms, "StopTransaction")
        assert (stop["transactionId"], stop["idTag"], stop["reason"]) == (tx, tag, "Local")
    else:
        ended = wait_message(csms, "TransactionEvent", lambda p: p["eventType"] == "Ended")
        started = next(p for p in messages(csms, "TransactionEvent") if p["eventType"] == "Started")
        assert started["idToken"]["idToken"] == tag and ended["idToken"]["idToken"] == tag
        assert ended["offline"] is True and ended["transactionInfo"]["transactionId"] == tx


def test_refuse_keeps_a_charge_point_out_until_restore(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    network(ui, action="refuse")  # until restore
    ui.wait(T.cp_status("CP1"), lambda d: d["network"] == "refuse" and d["status"] == "Accepted")
    network(ui, action="drop", duration=0.5)
    refused = ui.wait(T.cp_status("CP1"), lambda d: d["reason"] == failures.INJECTED_REFUSAL, timeout=10)
    assert refused["status"] == "Disconnected" and refused["network"] == "refuse"
    boots = len(messages(csms, "BootNotification"))
    time.sleep(2)
    assert ui.rec.last_json(T.cp_status("CP1"))["status"] == "Disconnected"
    network(ui, action="restore")
    back = ui.status("Accepted", timeout=5)  # at once, not after the backoff
    assert back["network"] == ""
    assert len(messages(csms, "BootNotification")) == boots


def test_latency_slows_every_round_trip_then_ends(broker, csms_factory, recorder_factory, cp_factory) -> None:
    csms = csms_factory()
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")

    def round_trip() -> float:
        """The CSMS's TriggerMessage call to the charge point's answer, by the CSMS's journal."""
        call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "Heartbeat"})
        frames = [m for m in csms.messages(action="TriggerMessage", cp_id="CP1", direction=None)]
        sent, answered = frames[-2], frames[-1]
        assert (sent["direction"], answered["direction"]) == ("out", "in")
        return (datetime.fromisoformat(answered["time"]) - datetime.fromisoformat(sent["time"])).total_seconds()

    assert round_trip() < 1.0
    network(ui, action="latency", latency_ms=1500.5, duration=6)
    ui.wait(T.cp_status("CP1"), lambda d: d["network"] == "latency 1500.5 ms")
    assert round_trip() >= 1.5
    beats = len(messages(csms, "Heartbeat"))
    wait_until(lambda: len(messages(csms, "Heartbeat")) > beats, 10, what="the triggered Heartbeat, late too")
    ui.wait(T.cp_status("CP1"), lambda d: d["network"] == "", timeout=10)  # its time is over
    assert round_trip() < 1.0


def test_bad_network_commands_are_refused(broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    for bad, fragment in ((
            {"action": "latency"}, "latency_ms: missing"), ({"action": "unplug"}, "action: must be one of"),
            ({"action": "drop", "duration": -1}, "duration: must be > 0"),
            ({"action": "drop", "duration": "5"}, "duration: expected a number")):
        network(ui, **bad)
        error = ui.wait(T.cp_error("CP1"), lambda d, f=fragment: f in d["error"])
        assert error["topic"] == T.cp_cmd("CP1")
    assert ui.rec.last_json(T.cp_status("CP1"))["status"] == "Accepted"


def test_faults_keep_their_deadlines() -> None:
    now = [100.0]
    faults = NetworkFaults(clock=lambda: now[0])
    dropped: list[bool] = []
    faults.drop_listeners.append(lambda: dropped.append(True))
    faults.apply(NetworkFault(NetworkAction.DROP, 2.5))
    faults.apply(NetworkFault(NetworkAction.LATENCY, 10.0, 250.0))
    assert dropped == [True] and faults.down_for() == 2.5 and faults.latency() == 0.25
    assert faults.describe() == "drop, latency 250 ms" and faults.next_change() == 2.5
    now[0] += 3
    assert faults.down_for() == 0 and faults.describe() == "latency 250 ms" and faults.next_change() == 7.0
    faults.apply(NetworkFault(NetworkAction.REFUSE))
    assert faults.refusing() and faults.next_change() == 7.0
    now[0] += 1000
    assert faults.refusing() and faults.latency() == 0 and faults.next_change() is None
    faults.apply(NetworkFault(NetworkAction.RESTORE))
    assert not faults.refusing() and faults.describe() == ""
