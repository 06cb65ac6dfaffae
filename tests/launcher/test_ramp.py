"""`"ramp": N` on a start command (and setup files, `up --ramp`): the launcher starts the
charge points at N per second instead of all at once."""

from __future__ import annotations

import json

import psutil
import pytest

from cp_simu.models import LauncherCommand, PayloadError, Setup
from launcher.pacing import Pacer
from tests.launcher.conftest import BOOT_WAIT, definition
from tests.procs import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _defs(*ids: str) -> list:
    return LauncherCommand.parse(json.dumps({"type": "start", "charge_points": [{"id": i} for i in ids]})
                                 ).charge_points


def test_a_ramp_hands_out_one_start_every_1_over_n_seconds():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.add(_defs("A", "B", "C", "D", "E", "F"), fresh=True, raw="", rate=2.5)
    assert [p.definition.id for p in pacer.due()] == ["A"]
    assert pacer.wait(1.0) == pytest.approx(0.4)
    clock.now += 0.41
    assert [p.definition.id for p in pacer.due()] == ["B"]
    assert pacer.due() == []
    clock.now += 5  # the launcher was held up: no burst, one catch-up start at most
    assert [p.definition.id for p in pacer.due()] == ["C", "D"]
    assert pacer.wait(1.0) == pytest.approx(0.2)
    clock.now += 0.2
    assert [p.definition.id for p in pacer.due()] == ["E"]
    clock.now += 0.4
    assert [p.definition.id for p in pacer.due()] == ["F"]
    assert len(pacer) == 0 and pacer.wait(0.5) == 0.5


def test_a_second_ramp_queues_after_the_first_and_no_ramp_goes_first():
    clock = Clock()
    pacer = Pacer(clock)
    pacer.add(_defs("A", "B"), fresh=True, raw="", rate=1)
    pacer.add(_defs("C"), fresh=True, raw="", rate=1)
    pacer.add(_defs("N"), fresh=False, raw="", rate=None)
    assert pacer.wait(1.0) == 0.0
    assert [p.definition.id for p in pacer.due()] == ["N", "A"]
    clock.now += 1
    assert [p.definition.id for p in pacer.due()] == ["B"]
    assert "C" in pacer and pacer.cancel(["C", "X"]) == ["C"] and "C" not in pacer
    clock.now += 5
    assert pacer.due() == [] and len(pacer) == 0


@pytest.mark.parametrize("ramp", [2, 16.5, None])
def test_ramp_is_read_from_start_commands_and_setup_files(ramp):
    extra = {} if ramp is None else {"ramp": ramp}
    command = LauncherCommand.parse(json.dumps({"type": "start", **extra, "charge_points": [{"id": "A"}]}))
    setup = Setup.parse(json.dumps({**extra, "charge_points": [{"id": "A"}]}))
    assert command.ramp == setup.ramp == setup.start_command().ramp == ramp
    assert LauncherCommand.parse(command.to_json()).ramp == ramp
    assert Setup.parse(setup.to_json()).ramp == ramp


@pytest.mark.parametrize("ramp", [0, -3, "10/s", True, [5]])
def test_a_bad_ramp_rejects_the_command(ramp):
    with pytest.raises(PayloadError, match="ramp"):
        LauncherCommand.parse(json.dumps({"type": "start", "ramp": ramp, "charge_points": [{"id": "A"}]}))
    with pytest.raises(PayloadError, match="ramp"):
        Setup.parse(json.dumps({"ramp": ramp, "charge_points": [{"id": "A"}]}))


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_the_launcher_spreads_the_starts_as_asked(launcher_factory, csms, spawn_mode):
    run = launcher_factory("--spawn-mode", spawn_mode)
    run.start(definition("R_FIRST", csms.url))  # the fork server is ready: the ramp's timing is its own
    run.wait_status("R_FIRST", "Accepted", BOOT_WAIT)
    ids = [f"R{i}" for i in range(5)]
    run.send({"type": "start", "ramp": 2.5, "charge_points": [definition(i, csms.url) for i in ids]})
    pids = [run.wait_status(i, "Accepted", BOOT_WAIT)["pid"] for i in ids]
    started = sorted(psutil.Process(pid).create_time() for pid in pids)
    # 5 starts 0.4 s apart; a launcher held up by the machine's load may catch up one start
    # (never a burst), so the spread is at least three intervals
    assert started[-1] - started[0] >= 0.9 * 3 / 2.5

    run.send({"type": "start", "ramp": 0.05, "charge_points": [definition(i, csms.url) for i in ("W0", "W1")]})
    wait_until(lambda: run.info()["waiting"] == 1, 10, what="W1 waiting for its turn, 20 s after W0")
    run.kill("W1")  # still waiting: it never starts
    wait_until(lambda: run.info()["waiting"] == 0, 5, what="W1's start cancelled")
    run.wait_status("W0", "Accepted", BOOT_WAIT)
    run.wait_running(7)
    assert run.status("W1") is None and not run.instance("W1").exists()
