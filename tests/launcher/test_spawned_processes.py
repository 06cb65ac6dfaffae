"""The charge point processes as the system sees them: what `ps` shows (each is titled
`ocpp-simu cp <id>` in both spawn modes, the fork server says what it is and whose it is),
and forked ones open to kernel same-page merging."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from cp_simu import ksm
from launcher.spawner import FORK_SERVER_TITLE, SHARE_MIN
from tests.launcher.conftest import BOOT_WAIT, definition
from tests.procs import wait_until


@pytest.mark.parametrize("spawn_mode", ["fork", "subprocess"])
def test_charge_point_processes_carry_their_id_as_title(launcher_factory, csms, spawn_mode):
    run = launcher_factory("--spawn-mode", spawn_mode)
    run.start(definition("TITLE_1", csms.url), definition("TITLE-2", csms.url, ocpp_version="2.0.1"))
    for cp_id in ("TITLE_1", "TITLE-2"):
        proc = psutil.Process(run.wait_status(cp_id, "Accepted", BOOT_WAIT)["pid"])
        assert " ".join(proc.cmdline()).strip() == f"ocpp-simu cp {cp_id}"
        # the short name `ps -e` and `top` show
        assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == f"ocpp-simu cp {cp_id}"[:15]
    helpers = [p for p in psutil.Process(run.proc.pid).children()
               if " ".join(p.cmdline()).startswith(FORK_SERVER_TITLE)]
    if spawn_mode == "fork":
        assert len(helpers) == 1
        assert " ".join(helpers[0].cmdline()).strip() == f"{FORK_SERVER_TITLE} (launcher {run.proc.pid})"
    else:
        assert helpers == []


@pytest.mark.skipif(not Path("/proc/self/ksm_stat").exists(), reason="kernel without per-process KSM stats")
def test_forked_charge_points_are_open_to_page_merging(launcher_factory, csms):
    run = launcher_factory()
    run.start(definition("KSM_1", csms.url))
    pid = run.wait_status("KSM_1", "Accepted", BOOT_WAIT)["pid"]
    assert "ksm_merge_any: yes" in Path(f"/proc/{pid}/ksm_stat").read_text()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the fork server forks alone")
def test_a_batch_forked_by_several_forkers_is_all_owned_by_the_fork_server(launcher_factory, csms):
    """The fork server's forkers end after their share: their charge points are then the fork
    server's, which still reaps them (a crash is reported, no zombie stays)."""
    run = launcher_factory()
    ids = [f"SHARE_{n:02d}" for n in range(2 * SHARE_MIN)]
    run.start(*(definition(cp_id, csms.url, meter_value_sample_interval=10.0) for cp_id in ids))
    pids = {cp_id: run.wait_status(cp_id, "Accepted", BOOT_WAIT)["pid"] for cp_id in ids}
    assert len(set(pids.values())) == len(ids)
    helper, = (p for p in psutil.Process(run.proc.pid).children()
               if " ".join(p.cmdline()).startswith(FORK_SERVER_TITLE))
    assert {p.pid for p in helper.children()} == set(pids.values())  # no forker left, none missing
    run.wait_running(len(ids))
    crashed = ids[-1]  # forked by the second forker (shares are dealt out in turn)
    os.kill(pids[crashed], signal.SIGKILL)
    run.wait_status(crashed, "Dead", BOOT_WAIT, pid=pids[crashed])
    run.wait_running(len(ids) - 1)
    wait_until(lambda: not psutil.pid_exists(pids[crashed]), 10, what="the crashed one reaped, not a zombie")


def test_a_launcher_run_with_ksm_has_pages_merged_while_it_runs(host_ksm, launcher_factory, csms):
    run = launcher_factory("--ksm")
    assert ksm.running()
    run.start(definition("KSM_ON", csms.url))
    run.wait_status("KSM_ON", "Accepted", BOOT_WAIT)
    run.send({"type": "close"})
    assert run.proc.wait(15) == 0
    assert not ksm.running()  # off again
    assert "same-page merging switched on until the launcher exits" in run.proc.output()
