"""The charge point processes as the system sees them: what `ps` shows (each is titled
`ocpp-simu cp <id>` in both spawn modes, the fork server says what it is and whose it is),
and forked ones open to kernel same-page merging."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from launcher.spawner import FORK_SERVER_TITLE
from tests.launcher.conftest import BOOT_WAIT, definition


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
