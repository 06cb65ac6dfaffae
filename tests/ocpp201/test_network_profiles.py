"""NetworkProfiles on its own: what SetNetworkProfile may store, and the slot order with
its fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.ocpp201.network_profiles import NetworkProfiles

GOOD = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0"}


@pytest.mark.parametrize(("slot", "change", "reason"), [
    (0, {}, "does not exist"),
    (2, {"ocppVersion": "OCPP16"}, "only OCPP20 over JSON"),
    (2, {"ocppTransport": "SOAP"}, "only OCPP20 over JSON"),
    (2, {"ocppCsmsUrl": "http://csms/"}, "expected a ws:// or wss:// URL"),
    (2, {"ocppCsmsUrl": "../../etc"}, "expected a ws:// or wss:// URL"),
    (2, {"securityProfile": 7}, "must be 0-3"),
    (2, {"securityProfile": 0}, "lower than the one in use"),
])
def test_refused_profiles_say_why(tmp_path: Path, slot: int, change: dict, reason: str) -> None:
    assert reason in (NetworkProfiles(tmp_path).check(slot, {**GOOD, **change}, current_profile=1) or "")


def test_slots_rotate_after_their_attempts_and_survive_a_restart(tmp_path: Path) -> None:
    profiles = NetworkProfiles(tmp_path)
    assert profiles.check(2, GOOD, 1) is None
    profiles.store(2, GOOD, "ws://own/", 1)
    assert profiles.next_slot([2, 1], attempts=2) == 2
    profiles.failed()
    assert profiles.next_slot([2, 1], attempts=2) == 2
    profiles.failed()
    assert profiles.next_slot([2, 1], attempts=2) == 1  # two failures: the next slot
    assert profiles.slot(1, "ws://ignored/", 3).url == "ws://own/"  # slot 1 as it was when slot 2 came
    assert profiles.check(1, GOOD, 1) == "slot 1 is the one in use"
    again = NetworkProfiles(tmp_path)
    assert again.next_slot([9, 2], attempts=3) == 2  # a slot nobody set is skipped
    assert again.slot(2, "", 0).security_profile == 2
