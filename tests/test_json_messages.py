"""Readers of others' topics (a scenario's observer, `up`'s fleet view) share one way to read a
message: the topic parsed, the payload decoded; a topic outside the tree or a payload that is
not JSON is dropped without an exception, and what the reader knew stays; `up`'s remote starter
starts nothing for such a message."""

from __future__ import annotations

import json

import pytest

from cp_simu.mqtt import Message, parse_json_message
from cp_simu.topics import TopicKind, Topics
from launcher.fleetview import FleetView
from launcher.remote_starts import RemoteStarts
from scenario.observer import Observer

T = Topics()
DEEP = b"[" * 100_000  # json raises RecursionError, not ValueError, for this
UNREADABLE = [b"{not json", b"\xff\xfe", DEEP]


def message(topic: str, payload: bytes | dict) -> Message:
    return Message(topic, payload if isinstance(payload, bytes) else json.dumps(payload).encode(), True)


def test_topic_and_payload_read_together() -> None:
    parsed, data = parse_json_message(T, message(T.connector_status("CP_1", 2), {"status": "Charging"}))
    assert (parsed.kind, parsed.cp_id, parsed.connector, data) == (
        TopicKind.CONNECTOR_STATUS, "CP_1", "2", {"status": "Charging"})
    parsed, data = parse_json_message(T, message(T.cp_status("CP_1"), b""))  # a cleared retained status
    assert (parsed.kind, data) == (TopicKind.CP_STATUS, None)
    assert parse_json_message(T, message("elsewhere/cps/CP_1/status", {"status": "Accepted"})) is None
    assert parse_json_message(T, message(T.launcher_error, {"error": 16.5}))[1] == {"error": 16.5}


@pytest.mark.parametrize("payload", UNREADABLE)
def test_unreadable_payloads_are_dropped(payload: bytes) -> None:
    assert parse_json_message(T, message(T.cp_status("CP_1"), payload)) is None


@pytest.mark.parametrize("payload", UNREADABLE)
def test_the_scenario_observer_keeps_what_it_knew(payload: bytes) -> None:
    observer = Observer(T)
    observer.watch(["CP_1"])
    observer.on_message(message(T.cp_status("CP_1"), {"status": "Accepted"}))
    observer.on_message(message(T.connector_status("CP_1", 1), {"status": "Charging"}))
    observer.on_message(message(T.cp_status("CP_1"), payload))
    observer.on_message(message(T.connector_status("CP_1", 1), payload))
    observer.on_message(message(T.launcher_error, payload))
    assert (observer.status("CP_1"), observer.status("CP_1", 1), observer.errors) == ("Accepted", "Charging", [])


@pytest.mark.parametrize("payload", UNREADABLE)
def test_the_fleet_view_keeps_what_it_knew(payload: bytes) -> None:
    view = FleetView(T, ["CP_1"])
    view.on_message(message(T.cp_status("CP_1"), {"status": "Accepted", "central_system": "ws://csms/"}))
    view.on_message(message(T.cp_status("CP_1"), payload))
    view.on_message(message(T.launcher_error, payload))
    assert (view.accepted(), view.last_error, view.csms_in_use()) == (1, "", {"ws://csms/": 1})
    view.on_message(message(T.cp_status("CP_1"), b""))  # cleared: the charge point was removed
    assert view.shown() == ["CP_1"] and not view.running("CP_1")


class _Subscriptions:
    """Only what RemoteStarts asks of its MQTT client: to be subscribed."""

    def subscribe(self, topic: str, handler: object) -> None:
        self.topic = topic


@pytest.mark.parametrize("payload", [*UNREADABLE, b"", b"[1, 2]", b'{"kind": "remote_start", "connector": "x"}'])
def test_up_s_remote_starter_ignores_what_it_cannot_read(payload: bytes) -> None:
    starter = RemoteStarts(_Subscriptions(), T, "http://127.0.0.1:1/api")  # type: ignore[arg-type]
    starter._on_auto(message(T.cp_auto("CP_1"), payload))
    starter._pool.shutdown(wait=True)  # a start it wrongly submitted would fail against port 1
    assert (starter.started, starter.failed) == (0, 0)
