"""The expectations on what an observer was fed (the messages a broker would deliver): what
they accept, and what their messages say when they do not hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cp_simu.mqtt import Message
from cp_simu.topics import Topics
from scenario.expectations import (
    Context,
    contains,
    expect_count,
    expect_latency,
    expect_reply,
    expect_status,
    percentile,
)
from scenario.observer import Observer

T = Topics()
T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _feed(observer: Observer, topic: str, payload: dict) -> None:
    observer.on_message(Message(topic, json.dumps(payload).encode(), False))


def _frame(observer: Observer, cp: str, direction: str, message: list, ms: float) -> None:
    stamp = (T0 + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    _feed(observer, T.cp_ocpp_log(cp), {"time": stamp, "direction": direction, "message": message})


def _fleet(n: int) -> tuple[Observer, list[str]]:
    observer = Observer(T)
    ids = [f"CP_{i:03d}" for i in range(1, n + 1)]
    observer.watch(ids)
    return observer, ids


def test_contains_compares_a_part():
    answer = {"idTagInfo": {"status": "Accepted", "expiryDate": "x"}, "transactionId": 7,
              "results": [{"status": "Accepted", "extra": 1}]}
    assert contains(answer, {"idTagInfo": {"status": "Accepted"}})
    assert contains(answer, {"transactionId": 7.0, "results": [{"status": "Accepted"}]})
    assert not contains(answer, {"idTagInfo": {"status": "Invalid"}})
    assert not contains(answer, {"results": []}) and not contains(answer, {"missing": None})


def test_status_of_many_names_the_laggards():
    observer, ids = _fleet(8)
    for cp in ids[:6]:
        _feed(observer, T.cp_status(cp), {"status": "Accepted"})
    _feed(observer, T.cp_status("CP_007"), {"status": "Pending"})
    _feed(observer, T.cp_status("CP_999"), {"status": "Accepted"})  # not ours: ignored
    check = expect_status({"status": "Accepted"}, Context(observer, ids, T0))
    assert not check.ok
    assert check.expected == "8 charge points Accepted"
    assert check.seen == "2/8 not yet (1 Pending, 1 no status yet): CP_007 Pending, CP_008 -"
    _feed(observer, T.cp_status("CP_007"), {"status": "Accepted"})
    _feed(observer, T.cp_status("CP_008"), {"status": "Accepted"})
    assert expect_status({"status": ["Accepted"]}, Context(observer, ids, T0)).ok


def test_connector_status_and_a_restart_forgets_the_old_one():
    observer, ids = _fleet(1)
    _feed(observer, T.connector_status("CP_001", 1), {"status": "Charging"})
    assert expect_status({"status": "Charging", "connector": 1}, Context(observer, ids, T0)).ok
    observer.watch(ids)  # started again: what the broker retained from before does not count
    check = expect_status({"status": "Charging", "connector": 1}, Context(observer, ids, T0))
    assert (check.ok, check.expected, check.seen) == (False, "connector 1 of CP_001 Charging", "no status yet")


def test_reply_count_and_latency_from_the_frames():
    observer, ids = _fleet(2)
    for n, cp in enumerate(ids):
        _frame(observer, cp, "out", [2, f"b{n}", "BootNotification", {}], 0)
        _frame(observer, cp, "in", [3, f"b{n}", {"status": "Accepted", "interval": 300}], 40 + 100 * n)
    _frame(observer, "CP_001", "out", [2, "a1", "Authorize", {"idTag": "BAD"}], 500)
    _frame(observer, "CP_001", "in", [3, "a1", {"idTagInfo": {"status": "Invalid"}}], 510)
    _frame(observer, "CP_002", "out", [2, "a2", "Authorize", {"idTag": "T"}], 500)
    _frame(observer, "CP_002", "in", [4, "a2", "InternalError", "boom", {}], 520)
    _frame(observer, "CP_001", "in", [2, "r1", "RemoteStartTransaction", {"idTag": "T"}], 600)
    ctx = Context(observer, ids, T0)

    assert expect_reply({"action": "BootNotification", "match": {"status": "Accepted"}}, ctx).ok
    check = expect_reply({"action": "Authorize", "match": {"idTagInfo": {"status": "Accepted"}}}, ctx)
    assert not check.ok
    assert check.seen == ("CP_001: answered CallResult {'idTagInfo': {'status': 'Invalid'}}, "
                          "CP_002: answered CallError InternalError")
    assert not expect_reply({"action": "Heartbeat"}, ctx).ok
    assert expect_reply({"action": "Heartbeat"}, ctx).seen.startswith("CP_001: no Heartbeat sent")
    assert not expect_reply({"action": "Authorize", "error": True}, ctx).ok  # CP_001 got a result
    assert expect_reply({"action": "Authorize", "error": True}, Context(observer, ["CP_002"], T0)).ok

    assert expect_count({"action": "BootNotification", "equals": 2}, ctx).ok
    assert expect_count({"action": "RemoteStartTransaction", "direction": "in", "min": 1, "max": 1}, ctx).ok
    check = expect_count({"action": "Authorize", "max": 1}, ctx)
    assert (check.ok, check.expected, check.seen) == (False, "at most 1 Authorize sent by 2 charge points", "2")
    later = Context(observer, ids, T0 + timedelta(milliseconds=550))
    assert expect_count({"action": "Authorize", "equals": 0, "since": "step"}, later).ok

    check = expect_latency({"action": "BootNotification", "percentile": 50, "max_ms": 50}, ctx)
    assert check.ok and check.seen == "p50 40 ms (p50 40, max 140) over 2 calls"
    check = expect_latency({"percentile": 100, "max_ms": 100}, ctx)
    assert not check.ok and check.seen.startswith("p100 140 ms") and "over 4 calls" in check.seen
    assert not expect_latency({"action": "Heartbeat", "max_ms": 100}, ctx).ok


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50.0, 95.0, 100.0)
    assert percentile([7.0], 95) == 7.0


def test_frames_from_the_charge_points_own_log(tmp_path):
    """With the instance directories at hand, frames come from ocpp.log: a line still being
    written waits, a rotated file is read from its start, an earlier run's lines are skipped."""
    log = tmp_path / "CP_001" / "ocpp.log"
    log.parent.mkdir()
    old = {"time": "2026-11-27T09:00:00.000Z", "direction": "out", "message": [2, "old", "Heartbeat", {}]}
    log.write_text(json.dumps(old) + "\n")
    observer = Observer(T, tmp_path)
    observer.watch(["CP_001"])
    call = {"time": "2026-11-27T10:00:00.000Z", "direction": "out", "message": [2, "u1", "Heartbeat", {}]}
    answer = json.dumps({"time": "2026-11-27T10:00:00.030Z", "direction": "in", "message": [3, "u1", {}]})
    with log.open("a") as f:
        f.write(json.dumps(call) + "\n" + answer[:20])
    observer.refresh(["CP_001"])
    calls = observer.calls("CP_001", "Heartbeat")
    assert [c.unique_id for c in calls] == ["u1"] and observer.answer(calls[0]) is None
    with log.open("a") as f:
        f.write(answer[20:] + "\n")
    observer.refresh(["CP_001"])
    assert observer.answer(calls[0]) is not None
    log.write_text(json.dumps({**call, "message": [2, "u2", "Heartbeat", {}]}) + "\n")  # rotated
    observer.refresh(["CP_001"])
    assert [c.unique_id for c in observer.calls("CP_001", "Heartbeat")] == ["u1", "u2"]
    _frame(observer, "CP_001", "out", [2, "mqtt", "Heartbeat", {}], 0)  # the topic is not read then
    assert len(observer.calls("CP_001", None)) == 2
