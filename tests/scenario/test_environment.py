"""The environment a scenario runs on, driven directly: what `up`'s machinery starts for it,
and the observer and `up`'s fleet view both hearing the fleet (a client has one handler per
filter, so they cannot share one connection)."""

from __future__ import annotations

from pathlib import Path

from cp_simu.broker_access import resolve
from scenario.environment import Environment
from scenario.observer import Observer
from tests.conftest import Broker
from tests.launcher.conftest import BOOT_WAIT, kill_cps
from tests.launcher.test_up import _reap
from tests.procs import wait_until


def test_observer_and_fleet_view_both_hear_the_fleet(tmp_path: Path, broker: Broker):
    workdir = tmp_path / "run"
    workdir.mkdir()
    env = Environment(resolve(broker.url), None, None, workdir)
    observer = Observer(env.topics)
    try:
        env.open(observer)
        assert env.parts == {"broker": "external", "launcher": env.parts["launcher"], "csms": env.up.csms_kind}
        assert observer.instances == workdir / "chargepoints"  # our launcher: frames from the files
        observer.watch(["ENV_1"])
        env.start([{"id": "ENV_1", "central_system": env.csms_url}], {})
        wait_until(lambda: observer.status("ENV_1") == "Accepted", BOOT_WAIT, what="ENV_1 Accepted (observer)")
        wait_until(lambda: env.view.running("ENV_1"), 5, what="ENV_1 in up's fleet view")
        observer.refresh(["ENV_1"])
        boot = observer.calls("ENV_1", "BootNotification")
        assert boot and observer.answer(boot[0]) is not None
    finally:
        env.close()
        kill_cps(workdir)
        _reap([], workdir)
