"""The launcher's `auto` command: automatic sessions for many charge points at once, each with
a seed derived from the command's seed and its id, in both spawn modes."""

from __future__ import annotations

import json

import pytest

from cp_simu.models import derived_seed
from cp_simu.topics import Topics
from tests.chargepoint.test_auto_sessions import FAST, logged, plan
from tests.launcher.conftest import BOOT_WAIT, definition
from tests.procs import wait_until

T = Topics()


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_auto_for_the_whole_fleet_then_one_off(launcher_factory, csms, mode) -> None:
    run = launcher_factory("--spawn-mode", mode)
    ids = ["A1", "A2", "A3"]
    run.start(*(definition(i, csms.url, nb_connectors=2) for i in ids))
    for cp_id in ids:
        assert run.wait_status(cp_id, "Accepted", BOOT_WAIT)["auto"] is False
    run.send({"type": "auto", "seed": 2024, **FAST})  # no charge_points: all of them
    seeds = {}
    for cp_id in ids:
        status = run.rec.wait_json(T.cp_status(cp_id), lambda d: d.get("auto") is True, 10)
        seeds[cp_id] = status["auto_seed"]
    assert seeds == {i: derived_seed(2024, i) for i in ids} and len(set(seeds.values())) == 3

    def applied(cp_id: str) -> list[dict]:
        return [json.loads(m.payload) for m in run.rec.on_topic(T.cp_auto(cp_id))]
    wait_until(lambda: all(len(applied(i)) >= 4 for i in ids), 20, what="automatic inputs on every CP")

    run.send({"type": "auto", "enabled": False, "charge_points": ["A2", {"id": "A9"}]})
    run.wait_error("A9: not running")
    run.rec.wait_json(T.cp_status("A2"), lambda d: d.get("auto") is False, 10)
    assert all(run.status(i)["auto"] is True for i in ("A1", "A3"))
    for cp_id in ids:  # each charge point played exactly its own seeded plan
        inputs = logged(run.instance(cp_id))
        assert inputs == plan(FAST, seeds[cp_id], inputs[-1]["at"] + 0.001)


def test_bad_auto_commands_name_the_problem(launcher_factory, csms) -> None:
    run = launcher_factory()
    for bad, fragment in (({"rate": -3}, "rate: must be > 0"), ({"charge_points": ["../x"]}, "invalid charge point id"),
                          ({"charge_points": "A1"}, "charge_points: expected an array"),
                          ({"seed": 1.5}, "seed: expected an integer")):
        run.send({"type": "auto", **bad})
        run.wait_error(fragment)
    assert run.proc.alive()
