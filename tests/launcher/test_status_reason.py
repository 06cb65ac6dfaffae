"""Launcher-started charge points say why they are not registered, in both spawn modes."""

from __future__ import annotations

import pytest

from tests.launcher.conftest import definition
from tests.procs import free_port


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_reason_of_a_launcher_started_cp(launcher_factory, csms, spawn_mode):
    run = launcher_factory("--spawn-mode", spawn_mode)
    run.start(definition("LONELY", f"ws://127.0.0.1:{free_port()}/"), definition("HAPPY", csms.url))
    refused = run.rec.wait_json("cp_simu/cps/LONELY/status", lambda d: d.get("reason") == "connection refused",
                           30)
    assert refused["status"] == "Disconnected"
    assert run.wait_status("HAPPY", "Accepted")["reason"] == ""
    run.kill("LONELY", "HAPPY")
    dead = run.wait_status("LONELY", "Dead")
    assert dead["reason"] == ""
