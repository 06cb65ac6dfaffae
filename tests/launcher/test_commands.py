"""Launcher commands end to end: real launcher, broker, demo CSMS and charge point processes."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from cp_simu.topics import Topics
from tests.launcher.conftest import cp_processes, definition
from tests.procs import wait_until

T = Topics()


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"], indirect=True)
def test_start_kill_restart_remove(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("T1", csms.url), definition("T2", csms.url, nb_connectors=2), definition("T2", csms.url))
    run.wait_error("T2: repeated in one command")
    first = run.wait_status("T1", "Accepted")
    run.wait_status("T2", "Accepted")
    run.wait_running(2)
    for cp_id in ("T1", "T2"):
        assert len(csms.messages("BootNotification", cp_id=cp_id, direction="in")) == 1
    assert (run.instance("T2") / "config.ini").read_text().count("nb_connectors = 2") == 1

    run.start(definition("T1", csms.url))  # duplicate
    run.wait_error("T1: already running")

    run.kill("T1")
    run.wait_status("T1", "Dead", pid=first["pid"])  # the charge point's MQTT will
    assert gone(first["pid"])
    run.wait_running(1)

    keep = run.instance("T1") / "kept.txt"
    keep.write_text("persistent state")
    run.send({"type": "restart", "charge_points": [definition("T1", csms.url)]})
    again = run.wait_status("T1", "Accepted", not_pids=(first["pid"],))
    assert keep.exists(), "restart keeps the instance directory"

    run.kill("T1")
    run.wait_status("T1", "Dead", pid=again["pid"])
    assert gone(again["pid"])
    run.start(definition("T1", csms.url))
    run.wait_status("T1", "Accepted", not_pids=(first["pid"], again["pid"]))
    assert not keep.exists(), "start makes a fresh instance directory"

    # Removal protocol: refused while the process lives, done once it is killed.
    run.rec.publish(T.cp_status("T2"), b"", retain=True)
    run.wait_error("T2: not removed")
    assert run.instance("T2").is_dir()
    run.kill("T2")
    run.wait_status("T2", "Dead")
    for topic in (T.connector_status("T2", 1), T.connector_status("T2", 2), T.cp_status("T2")):
        run.rec.publish(topic, b"", retain=True)
    wait_until(lambda: not run.instance("T2").exists(), 5, what="T2's directory removed")

    run.kill("T2")
    run.wait_error("T2: not running")
    assert run.proc.alive()


def test_hostile_and_malformed_commands(launcher_factory, tmp_path: Path):
    run = launcher_factory()
    ok = {"id": "OK_1"}
    bad: list[tuple[str | bytes, str]] = [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        ("[" * 100_000, "nested too deeply"),
        ({"type": "explode", "charge_points": []}, "type: must be one of"),
        ({"type": "start"}, "charge_points: missing"),
        ({"type": "start", "charge_points": []}, "start: charge_points is empty, nothing to do"),
        ({"type": "kill", "charge_points": []}, "kill: charge_points is empty, nothing to do"),
        ({"type": "start", "charge_points": [{"id": "N0", "nb_connectors": float("nan")}]},
         "nb_connectors: expected an integer"),
        ({"type": "start", "charge_points": {"id": "A"}}, "charge_points: expected an array"),
        ({"type": "start", "charge_points": [ok, {"id": "../x"}]}, "charge_points[1].id: invalid"),
        ({"type": "start", "charge_points": [{"id": "/etc"}]}, "invalid charge point id"),
        ({"type": "start", "charge_points": [{"id": "a;touch pwned"}]}, "invalid charge point id"),
        ({"type": "start", "charge_points": [{"id": "$(touch pwned)"}]}, "invalid charge point id"),
        ({"type": "start", "charge_points": [{"id": ".."}]}, "invalid charge point id"),
        ({"type": "start", "charge_points": [{"id": "x" * 49}]}, "invalid charge point id"),
        ({"type": "start", "charge_points": [{"id": 12}]}, "id: expected a string"),
        ({"type": "start", "charge_points": [{"id": "N1", "nb_connectors": "2"}]},
         "nb_connectors: expected an integer"),
        ({"type": "start", "charge_points": [{"id": "N2", "voltage": "230"}]}, "voltage: expected a number"),
        ({"type": "start", "charge_points": [{"id": "N3", "nb_connectors": 1.5}]},
         "nb_connectors: expected an integer"),
        ({"type": "start", "charge_points": [{"id": "N4", "max_setpoint": True}]},
         "max_setpoint: expected a number"),
        ({"type": "start", "charge_points": [{"id": "N5", "central_system": "http://x"}]},
         "central_system: expected a ws://"),
        ({"type": "restart", "charge_points": ["N6"]}, "expected an object"),
        ({"type": "kill", "charge_points": [{"id": "../../etc"}]}, "invalid charge point id"),
        # INI injection into the instance's config.ini (a "\r" is a line break to configparser)
        ({"type": "start", "charge_points": [{"id": "INI1", "vendor": "a\r[Mqtt]\rroot=evil"}]},
         "INI1: [ChargePoint] vendor: control characters"),
        ({"type": "start", "charge_points": [{"id": "INI2", "x\n[Mqtt]\nroot": "evil"}]},
         "INI2: [ChargePoint] 'x\\n[Mqtt]\\nroot': not a valid key"),
    ]
    for payload, _ in bad:
        run.send(json.dumps(payload) if isinstance(payload, dict) else payload)
    wait_until(lambda: len(run.errors()) >= len(bad), 10, what="one error per bad command")
    errors = run.errors()
    assert len(errors) == len(bad)
    for (payload, expected), error in zip(bad, errors, strict=True):
        assert error["topic"] == T.launcher_cmd
        assert expected in error["error"], (payload, error)
        assert len(error["payload"]) <= 200

    # Removal requests that point outside chargepoints/ or through a symlink delete nothing.
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("x")
    (run.workdir / "chargepoints").mkdir(exist_ok=True)
    (run.workdir / "chargepoints" / "LINK").symlink_to(outside)
    for cp_id in ("LINK", "..", "."):
        run.rec.publish(f"cp_simu/cps/{cp_id}/status", b"", retain=True)
    wait_until(lambda: len(run.errors()) >= len(bad) + 3, 5, what="removal refusals")
    assert all("not removed" in e["error"] for e in run.errors()[len(bad):])
    assert (outside / "precious").exists() and (run.workdir / "chargepoints" / "LINK").is_symlink()

    assert run.proc.alive()
    assert [p.name for p in (run.workdir / "chargepoints").iterdir()] == ["LINK"], "nothing created"
    assert not list(tmp_path.rglob("pwned"))
    assert run.info()["running"] == 0


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"], indirect=True)
def test_a_retained_command_is_refused_not_obeyed_at_every_start(launcher_factory, broker, recorder_factory, csms):
    """A stray retained `close` would stop the launcher each time it starts (it subscribes and
    gets the retained message at once)."""
    recorder_factory(broker.url, "x/#", "stray").publish(T.launcher_cmd, '{"type": "close"}', retain=True)
    run = launcher_factory()
    error = run.wait_error("retained message ignored")
    assert error["topic"] == T.launcher_cmd and "empty retained message" in error["error"]
    run.start(definition("R1", csms.url, max_setpoint=31.5))
    run.wait_status("R1", "Accepted")
    assert run.proc.alive() and run.rec.last(T.launcher_status) == b"Alive"


def test_shell_metacharacters_are_plain_text(launcher_factory, csms, tmp_path: Path):
    run = launcher_factory()
    run.start(definition("SH_1", csms.url, vendor="`touch pwned`", model="$(touch pwned)",
                         serial="; touch pwned &"))
    status = run.wait_status("SH_1", "Accepted")
    assert status["vendor"] == "`touch pwned`" and status["model"] == "$(touch pwned)"
    assert not list(tmp_path.rglob("pwned"))


def test_setup_file_starts_only_what_is_missing_and_reset_wipes(launcher_factory, csms, tmp_path: Path):
    first = launcher_factory()
    first.start(definition("S1", csms.url))
    s1 = first.wait_status("S1", "Accepted")
    first.send({"type": "close"})
    assert first.proc.wait(10) == 0
    wait_until(lambda: first.rec.last(T.launcher_status) == b"Dead", 5, what="launcher Dead")
    assert not gone(s1["pid"]), "close leaves the charge points running"

    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"charge_points": [definition("S1", csms.url), definition("S2", csms.url)]}))
    second = launcher_factory("--setup", str(setup))
    second.wait_status("S2", "Accepted")
    second.wait_error("S1: already running")
    second.wait_running(2)
    assert len(csms.messages("BootNotification", cp_id="S1", direction="in")) == 1, "no duplicate"
    assert second.status("S1")["pid"] == s1["pid"]
    second.send({"type": "close"})
    assert second.proc.wait(10) == 0

    third = launcher_factory("--reset")
    third.wait_status("S1", "Dead")
    third.wait_status("S2", "Dead")
    assert gone(s1["pid"]) and not cp_processes(third.workdir)
    assert list((third.workdir / "chargepoints").iterdir()) == []
    assert third.info()["running"] == 0


def test_subprocess_spawn_mode(launcher_factory, csms):
    run = launcher_factory("--spawn-mode", "subprocess")
    run.start(definition("P1", csms.url))
    status = run.wait_status("P1", "Accepted")
    process = psutil.Process(status["pid"])
    assert " ".join(process.cmdline()).strip() == "ocpp-simu cp P1"
    assert process.ppid() == run.proc.pid  # started by the launcher itself, not forked by its helper
    assert run.info()["spawn_mode"] == "subprocess"
    run.kill("P1")
    run.wait_status("P1", "Dead")
    assert gone(status["pid"])


def test_max_cps_limits_the_fleet(launcher_factory, csms):
    run = launcher_factory("--max-cps", "1")
    run.start(*(definition(f"M{i}", csms.url) for i in range(3)))
    error = run.wait_error("not started")
    assert error["error"].startswith("2 charge point(s) not started") and "M1, M2" in error["error"]
    run.wait_status("M0", "Accepted")
    run.wait_running(1)
    assert [p.name for p in (run.workdir / "chargepoints").iterdir()] == ["M0"]
