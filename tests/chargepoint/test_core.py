"""Plumbing without sockets: offline queue, configuration keys, message log, state store."""

from __future__ import annotations

import json
from pathlib import Path

from chargepoint.core.message_log import MessageLog
from chargepoint.core.ocpp_config import ChangeResult, OcppConfiguration
from chargepoint.core.offline_queue import OfflineQueue
from chargepoint.core.state_store import StateStore
from chargepoint.ocpp16.config_keys import REGISTRY
from cp_simu.config import load_config


def test_offline_queue_survives_a_restart_in_order(tmp_path: Path) -> None:
    path = tmp_path / "queue.jsonl"
    q = OfflineQueue(path)
    start = q.append("StartTransaction", {"connector_id": 1}, ref=7)
    q.append("MeterValues", {"connector_id": 1}, ref=7)
    q.append("StopTransaction", {"meter_stop": 5}, ref=7)
    q.done(start)
    q.map_transaction(7, 42)
    # killed here: nothing but the file remains
    again = OfflineQueue(path)
    assert [e.action for e in again] == ["MeterValues", "StopTransaction"]
    assert again.transaction_id(7) == 42 and again.last_ref == 7
    again.append("StartTransaction", {"connector_id": 2}, ref=8)
    assert [e.seq for e in again] == [2, 3, 4]


def test_offline_queue_compacts_when_empty_and_tolerates_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "queue.jsonl"
    q = OfflineQueue(path)
    for _ in range(3):
        q.done(q.append("MeterValues", {}, ref=1))
    q.map_transaction(1, 5)
    q.close()
    with path.open("a") as f:
        f.write('{"op":"add","seq":9,"act')  # a write cut by SIGKILL
    again = OfflineQueue(path)
    assert len(again) == 0 and again.transaction_id(1) == 5
    again.done(again.append("MeterValues", {}, ref=1))
    assert len(path.read_text().splitlines()) <= 2


def config(tmp_path: Path) -> OcppConfiguration:
    path = tmp_path / "config.ini"
    path.write_text((Path(__file__).parents[2] / "config.ini").read_text())
    return OcppConfiguration(REGISTRY, load_config(path).ocpp, path, fixed={"NumberOfConnectors": "2"})


def test_change_configuration_validates_and_persists(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    seen: list[tuple[str, str]] = []
    cfg.listeners.append(lambda k, v: seen.append((k, v)))
    assert cfg.change("HeartbeatInterval", "42") is ChangeResult.ACCEPTED
    assert cfg.change("HeartbeatInterval", "-1") is ChangeResult.REJECTED
    assert cfg.change("HeartbeatInterval", "abc") is ChangeResult.REJECTED
    for not_ocpp in ("1_0", "３０", "٣٠", "10.0", "1e1", "2147483648", "99999999999999999999999"):
        assert cfg.change("HeartbeatInterval", not_ocpp) is ChangeResult.REJECTED, not_ocpp
    assert cfg.change("LocalPreAuthorize", "TRUE") is ChangeResult.ACCEPTED
    assert cfg.change("LocalPreAuthorize", "yes") is ChangeResult.REJECTED
    assert cfg.change("NumberOfConnectors", "4") is ChangeResult.REJECTED  # read-only
    assert cfg.change("NoSuchKey", "1") is ChangeResult.NOT_SUPPORTED
    assert cfg.change("MeterValuesSampledData", "Voltage,Current.Import") is ChangeResult.ACCEPTED
    assert cfg.change("MeterValuesSampledData", "Voltage,Temperature") is ChangeResult.REJECTED
    assert cfg.change("WebSocketPingInterval", "10") is ChangeResult.REBOOT_REQUIRED
    assert seen == [("HeartbeatInterval", "42"), ("LocalPreAuthorize", "true"),
                    ("MeterValuesSampledData", "Voltage,Current.Import"), ("WebSocketPingInterval", "10")]
    persisted = load_config(tmp_path / "config.ini").ocpp
    assert persisted["HeartbeatInterval"] == "42" and persisted["LocalPreAuthorize"] == "true"
    reloaded = OcppConfiguration(REGISTRY, persisted, tmp_path / "config.ini")
    assert reloaded.integer("HeartbeatInterval") == 42
    known, unknown = cfg.lookup(["HeartbeatInterval", "Nope"])
    assert [(k.name, v, k.readonly) for k, v in known] == [("HeartbeatInterval", "42", False)]
    assert unknown == ["Nope"]
    assert cfg.dump()["NumberOfConnectors"] == "2"


def test_a_change_to_the_value_already_set_writes_nothing(tmp_path: Path) -> None:
    """Every accepted boot sets HeartbeatInterval: the same value must not rewrite config.ini."""
    cfg = config(tmp_path)
    assert cfg.change("HeartbeatInterval", "42") is ChangeResult.ACCEPTED
    written = (tmp_path / "config.ini").stat().st_mtime_ns
    (tmp_path / "config.ini").chmod(0o400)  # a rewrite (new file, renamed over it) would reset this
    seen: list[tuple[str, str]] = []
    cfg.listeners.append(lambda k, v: seen.append((k, v)))
    assert cfg.change("HeartbeatInterval", " 42 ") is ChangeResult.ACCEPTED
    assert cfg.change("WebSocketPingInterval", cfg.dump()["WebSocketPingInterval"]) is ChangeResult.REBOOT_REQUIRED
    assert (tmp_path / "config.ini").stat().st_mtime_ns == written
    assert (tmp_path / "config.ini").stat().st_mode & 0o777 == 0o400 and seen == []
    assert cfg.change("HeartbeatInterval", "43") is ChangeResult.ACCEPTED and seen == [("HeartbeatInterval", "43")]


def test_list_length_limit(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.change("StopTxnSampledData", "Voltage")
    too_many = ",".join(["Voltage"] * 11)
    assert cfg.change("StopTxnSampledData", too_many) is ChangeResult.REJECTED


def test_message_log_rotates_by_size(tmp_path: Path) -> None:
    log = MessageLog(tmp_path / "ocpp.log", max_bytes=400, backups=2)
    for i in range(30):
        log.record("out", json.dumps([2, str(i), "Heartbeat", {}]))
    log.record("in", "not json")
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["ocpp.log", "ocpp.log.1", "ocpp.log.2"]
    assert all(p.stat().st_size <= 400 for p in tmp_path.iterdir())
    last = json.loads((tmp_path / "ocpp.log").read_text().splitlines()[-1])
    assert last["direction"] == "in" and last["message"] == "not json" and last["time"].endswith("Z")


def test_state_store_sets_a_corrupt_file_aside(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    assert store.load() == {}
    store.save({"a": 1})
    assert store.load() == {"a": 1}
    (tmp_path / "state.json").write_text("{broken")
    assert store.load() == {}
    assert (tmp_path / "state.corrupt").exists()


def test_message_log_listeners_get_each_line_as_written(tmp_path: Path) -> None:
    log = MessageLog(tmp_path / "ocpp.log")
    seen: list[str] = []
    log.listeners.append(seen.append)
    log.record("out", json.dumps([2, "1", "Heartbeat", {}]))
    log.close()
    assert seen == (tmp_path / "ocpp.log").read_text().splitlines()
    assert json.loads(seen[0])["message"] == [2, "1", "Heartbeat", {}]


def test_only_a_new_charge_points_first_state_skips_the_disk_flush(tmp_path: Path, monkeypatch) -> None:
    """The state saved at the start of a new charge point is written without fsync (a crash
    would bring back that same fresh state); every later save, and any save of a charge point
    that had a state, is flushed."""
    import os

    from chargepoint.saved_state import SavedState

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    path = tmp_path / "state.json"
    fresh = SavedState(path, 0)
    fresh.save(1.5, {"connectors": {"1": {"meter_wh": 0.0}}})
    assert json.loads(path.read_text())["saved_at"] == 1.5 and synced == []
    fresh.save(2.5, {"connectors": {"1": {"meter_wh": 16.5}}})
    assert len(synced) == 1
    restarted = SavedState(path, 0)
    assert restarted.connector(1) == {"meter_wh": 16.5}
    restarted.save(3.5, {"connectors": {"1": {"meter_wh": 16.5}}})
    assert len(synced) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left
