"""Packed processes (`--cps-per-process`): several charge points in one process, each with its
own connections, will, directory and state; one of them killed, the others go on."""

from __future__ import annotations

import json
import signal
import time

import pytest

from chargepoint.packed import BOOT_SLOTS
from cp_simu.models import LauncherCommand, PayloadError, Setup
from cp_simu.process import read_marker
from tests.launcher.conftest import BOOT_WAIT, TOPICS, cp_processes, definition
from tests.launcher.test_commands import gone
from tests.launcher.test_mixed_fleet import control_call
from tests.launcher.test_up import _all_gone, _reap, _up, _up_processes
from tests.procs import managed, wait_until


def _ws_closes(csms, cp_id: str) -> list[int | None]:
    """Close codes of the CP's WebSocket disconnections the CSMS saw (1006: no close frame)."""
    if not csms.log.exists():
        return []
    events = [json.loads(line) for line in csms.log.read_text().splitlines() if '"event"' in line]
    return [e.get("code") for e in events if e.get("event") == "disconnected" and e.get("cp_id") == cp_id]


def test_kill_one_of_a_packed_process_leaves_the_others_and_restart_keeps_its_state(
        launcher_factory, broker, csms):
    run = launcher_factory("--cps-per-process", "4")
    run.start(definition("P1", csms.url), definition("P2", csms.url), definition("P3", csms.url),
              definition("P4", csms.url, ocpp_version="2.0.1"))
    statuses = {i: run.wait_status(i, "Accepted", timeout=BOOT_WAIT) for i in ("P1", "P2", "P3", "P4")}
    host = statuses["P1"]["pid"]
    assert {s["pid"] for s in statuses.values()} == {host}, "one process hosts all four"
    (process,) = cp_processes(run.workdir)
    assert process.pid == host and "ocpp-simu cps P1…P4 (4)" in " ".join(process.cmdline())
    assert read_marker(run.instance("P2")) == (host, read_marker(run.instance("P2")).ticks, True)
    for cp_id in ("P1", "P2"):  # each member logs to its own file
        text = (run.instance(cp_id) / "chargepoint.log").read_text()
        assert f"charge point {cp_id} starting" in text and "P3" not in text

    # state to survive the kill: a configuration change (persisted by P2 itself)
    assert control_call(csms, "P2", "ChangeConfiguration",
                        {"key": "MeterValueSampleInterval", "value": "7"}) == {"status": "Accepted"}
    # a session on P1 that must go on charging through P2's kill
    run.rec.publish(TOPICS.connector_car("P1", 1), {"cable": 16.5, "ready": True, "consumption_l1": 10.0,
                                                    "consumption_l2": 10.0, "consumption_l3": 10.0})
    run.rec.publish(TOPICS.connector_id_tag("P1", 1), {"id": "TAG1"})
    run.rec.wait_json(TOPICS.connector_status("P1", 1), lambda d: d["status"] == "Charging" and d["power_w"] > 0)

    run.kill("P2")
    assert run.wait_status("P2", "Dead", pid=host)["pid"] == host
    wait_until(lambda: _ws_closes(csms, "P2") == [1006], 10, what="P2's WebSocket dropped without a close frame")
    if broker.kind == "mosquitto":  # the will, not a clean DISCONNECT
        wait_until(lambda: "cp_simu-cp-P2 closed its connection" in broker.process.output(), 5,
                   what="the broker seeing P2's connection drop")
    assert not gone(host), "the host must not be signalled for one member"
    assert read_marker(run.instance("P2")) is None
    energy = run.rec.last_json(TOPICS.connector_status("P1", 1))["energy_wh"]
    run.rec.wait_json(TOPICS.connector_status("P1", 1), lambda d: d["energy_wh"] > energy and d["status"] == "Charging",
                      timeout=10)
    for cp_id in ("P1", "P3", "P4"):
        assert run.status(cp_id)["status"] == "Accepted", cp_id
        assert _ws_closes(csms, cp_id) == [], cp_id
    assert not csms.messages("StopTransaction", cp_id="P1")
    run.wait_running(3)

    run.send({"type": "restart", "charge_points": [definition("P2", csms.url)]})
    restarted = run.wait_status("P2", "Accepted", not_pids=(host,))
    assert not gone(host) and restarted["pid"] != host
    assert read_marker(run.instance("P2")).packed, "restarted in a packed process, as it was started"
    answer = control_call(csms, "P2", "GetConfiguration", {"key": ["MeterValueSampleInterval"]})
    assert answer["configurationKey"][0]["value"] == "7"
    run.wait_running(4)


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_a_member_killed_the_moment_it_was_started_never_runs(launcher_factory, csms, mode):
    """`kill` right behind `start`: the packed process has not written the member's marker
    yet, nor opened its control socket (slower still as a subprocess). The launcher counts the
    member as starting and waits for the process to answer, instead of finding it "not
    running" and later adopting it when its status shows up."""
    run = launcher_factory("--cps-per-process", "2", "--spawn-mode", mode)
    run.start(definition("QUICK_1", csms.url), definition("QUICK_2", csms.url, max_setpoint=31.5))
    run.kill("QUICK_2")
    host = run.wait_status("QUICK_1", "Accepted", BOOT_WAIT)["pid"]
    wait_until(lambda: f"killed charge point QUICK_2 (in packed process {host})" in run.proc.output(), 15,
               what="the launcher killing QUICK_2 in its packed process")
    run.wait_running(1)
    time.sleep(2)  # time enough for a member left running to boot and announce itself
    assert not [e for e in run.errors() if "QUICK_2" in e["error"]], run.errors()
    assert (run.status("QUICK_2") or {}).get("status") in (None, "Dead"), run.status("QUICK_2")
    assert read_marker(run.instance("QUICK_2")) is None
    assert "adopted running charge point" not in run.proc.output()
    run.wait_running(1)


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_setup_file_packs_and_a_new_launcher_adopts_and_kills_members(launcher_factory, csms, tmp_path, mode):
    """cps_per_process from a setup file; after the launcher's death another one adopts the
    members from their markers and kills one through its host."""
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"cps_per_process": 2.0, "charge_points": [
        definition("S1", csms.url), definition("S2", csms.url, ocpp_version="2.0.1")]}))
    first = launcher_factory("--spawn-mode", mode, "--setup", str(setup))
    host = first.wait_status("S1", "Accepted", timeout=BOOT_WAIT)["pid"]
    assert first.wait_status("S2", "Accepted")["pid"] == host
    first.proc.signal(signal.SIGKILL)
    wait_until(lambda: first.rec.last(TOPICS.launcher_status) == b"Dead", 10, what="the launcher's will")

    second = launcher_factory("--spawn-mode", mode)
    second.wait_running(2)
    second.kill("S1")
    second.wait_status("S1", "Dead", pid=host)
    second.wait_running(1)
    assert not gone(host) and second.status("S2")["status"] == "Accepted"
    second.kill("S2")  # the last member: the host ends by itself
    second.wait_status("S2", "Dead", pid=host)
    wait_until(lambda: gone(host), 10, what="the emptied packed process to end")


def test_cps_per_process_in_commands_and_setup_files():
    cmd = LauncherCommand.parse('{"type": "start", "cps_per_process": 4.0, "charge_points": [{"id": "A"}]}')
    assert cmd.cps_per_process == 4 and json.loads(cmd.to_json())["cps_per_process"] == 4
    assert LauncherCommand.parse('{"type": "restart", "charge_points": []}').cps_per_process is None
    assert Setup.parse('{"cps_per_process": 8, "charge_points": []}').start_command().cps_per_process == 8
    for bad in ("0", "2.5", '"4"', "true", "100000"):
        with pytest.raises(PayloadError, match="cps_per_process"):
            LauncherCommand.parse(f'{{"type": "start", "cps_per_process": {bad}, "charge_points": []}}')


def test_up_packs_its_fleet_and_ctrl_c_leaves_nothing(tmp_path):
    workdir = tmp_path / "up"
    started = []
    try:
        with managed(_up(workdir, 4, "--cps-per-process", "2"), log=tmp_path / "up.out") as up:
            wait_until(lambda: "4/4 Accepted" in up.output() or not up.alive(), BOOT_WAIT, what="4/4 Accepted")
            assert up.alive(), up.output()
            started = _up_processes(up.pid, workdir)
            assert len(cp_processes(workdir)) == 2, "two packed processes of two"
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
        _all_gone(started)
        assert not cp_processes(workdir)
    finally:
        _reap(started, workdir)


def test_packed_command_line_refuses_what_it_cannot_run(tmp_path, capsys):
    """Several --workdir run existing instances: no definition options, no missing config.ini."""
    from chargepoint.cli import main

    a, b = tmp_path / "A", tmp_path / "B"
    assert main(["--workdir", str(a), "--workdir", str(b), "--id", "A"]) == 2
    assert "give a single --workdir" in capsys.readouterr().err
    assert main(["--packed", "--workdir", str(a)]) == 2
    assert f"no config.ini in {a}" in capsys.readouterr().err
    assert not a.exists() and not b.exists()


def test_a_packed_process_opens_few_handshakes_at_once_to_a_csms_that_does_not_answer(launcher_factory, silent_csms):
    """A CSMS that falls behind must slow a packed process's boot down, not receive every
    member's handshake at once (answered after the members gave up on them, they brought a
    10,000-station boot to a standstill): members wait for a boot slot until the first
    attempt of one ends."""
    run = launcher_factory("--cps-per-process", "40")
    run.start(*(definition(f"S{i:02d}", silent_csms.url) for i in range(40)))
    wait_until(lambda: len(silent_csms.accepted) >= BOOT_SLOTS, BOOT_WAIT, what="the first handshakes")
    time.sleep(2.0)  # well within the members' 10 s handshake timeout
    assert len(silent_csms.accepted) == BOOT_SLOTS
