"""ocpp-csms from PyPI as a real process in its own virtualenv, and a fleet started through
our launcher (fork server by default) that connects to it.

`make test` builds the virtualenv (.venv-interop, tests/interop/requirements.txt) and sets
OCPP_SIMU_INTEROP_PYTHON: then a missing interpreter fails the suite instead of skipping it.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cp_simu.config import SECTION_OCPP, SECTION_SIMULATION, update_section
from tests.conftest import MOSQUITTO, Recorder, start_amqtt, start_mosquitto
from tests.launcher.conftest import (  # noqa: F401 - fixtures used here
    LauncherRun,
    broker,
    fleet_dir,
    kill_cps,
    launcher_factory,
)
from tests.procs import REPO, ManagedProcess, free_port, managed, ocpp_simu, port_open, wait_until

INTEROP_PYTHON_ENV = "OCPP_SIMU_INTEROP_PYTHON"
DRIVER = Path(__file__).with_name("csms_driver.py")
# What the launcher's template changes so that reconnections and retries take seconds;
# everything else (MeterValueSampleInterval, measurands, ...) keeps the shipped defaults.
FLEET_SIMULATION = {"reconnect_min": "0.3", "reconnect_max": "1", "status_refresh_interval": "0.5"}
FLEET_OCPP = {"TransactionMessageRetryInterval": "1"}


@pytest.fixture(scope="session")
def interop_python() -> str:
    path = os.environ.get(INTEROP_PYTHON_ENV) or str(REPO / ".venv-interop" / "bin" / "python")
    if not Path(path).exists():
        if os.environ.get(INTEROP_PYTHON_ENV):
            pytest.fail(f"{INTEROP_PYTHON_ENV}={path}: no such interpreter")
        pytest.skip("ocpp-csms is not installed (`make interop-venv`; `make test` does it)")
    return path


class OcppCsms:
    """One ocpp-csms process (restartable on the same ports) and what it saw."""

    def __init__(self, python: str, tmp: Path, *options: str) -> None:
        self.python = python
        self.tmp = tmp
        self.options = options
        self.port, self.api_port = free_port(), free_port()
        self.events_path = tmp / f"ocpp-csms-{self.port}.jsonl"
        self.url = f"ws://127.0.0.1:{self.port}/"
        self.process: ManagedProcess | None = None
        self._all: list[ManagedProcess] = []

    def start(self) -> OcppCsms:
        args = [self.python, str(DRIVER), "--port", str(self.port), "--api-port", str(self.api_port),
                "--events", str(self.events_path), *self.options]
        self.process = ManagedProcess(args, log=self.tmp / f"ocpp-csms-{self.port}.out")
        self._all.append(self.process)
        wait_until(lambda: (port_open(self.port) and port_open(self.api_port)) or not self.process.alive(),
                   20, what="ocpp-csms")
        assert self.process.alive(), self.process.output()
        return self

    def stop(self) -> None:
        for p in self._all:
            p.stop()

    # -- what it saw ----------------------------------------------------------------------
    def events(self, name: str | None = None, cp_id: str | None = None, *, latest_run: bool = False) -> list[dict]:
        """Library events (and `Wire` frames) in order; `latest_run`: since the last start only."""
        if not self.events_path.exists():
            return []
        records = [json.loads(line) for line in self.events_path.read_text().splitlines() if line.endswith("}")]
        if latest_run:
            starts = [i for i, r in enumerate(records) if r["event"] == "Listening"]
            records = records[starts[-1]:] if starts else []
        return [r for r in records if (name is None or r["event"] == name)
                and (cp_id is None or r.get("charge_point_id") == cp_id)]

    def received(self, action: str, cp_id: str, *, latest_run: bool = False) -> list[dict]:
        """Payloads of the Calls with this action the charge point sent."""
        return [r["message"][3] for r in self.events("Wire", cp_id, latest_run=latest_run)
                if r["direction"] == "in" and r["message"][0] == 2 and r["message"][2] == action]

    def wait_event(self, name: str, cp_id: str, predicate: Callable[[dict], object] = lambda e: True,
                   timeout: float = 15.0, *, latest_run: bool = False) -> dict:
        return wait_until(lambda: next((e for e in self.events(name, cp_id, latest_run=latest_run)
                                        if predicate(e)), None),
                          timeout, what=f"{name} of {cp_id} at ocpp-csms")  # type: ignore[return-value]

    # -- steering -------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict) -> dict:
        request = urllib.request.Request(f"http://127.0.0.1:{self.api_port}{path}", method=method,
                                         data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def call(self, cp_id: str, action: str, payload: dict[str, Any] | None = None) -> dict:
        """Send an OCPP request; the answer's payload, or {"error": ...}."""
        reply = self._request("POST", f"/cps/{cp_id}/call/{action}", payload or {})
        return reply.get("result", reply)

    def set_registration(self, status: str) -> None:
        assert self._request("PUT", "/registration", {"status": status}) == {"registration": status}


@pytest.fixture
def ocpp_csms_factory(interop_python: str, tmp_path: Path) -> Iterator[Callable[..., OcppCsms]]:
    made: list[OcppCsms] = []

    def make(*options: str) -> OcppCsms:
        csms = OcppCsms(interop_python, tmp_path, *options)
        made.append(csms)
        return csms.start()

    yield make
    for csms in made:
        csms.stop()


def write_fleet_template(directory: Path) -> Path:
    """The shipped config.ini with quick reconnections (the launcher's --config)."""
    path = directory / "fleet-config.ini"
    path.write_text((REPO / "config.ini").read_text())
    update_section(path, SECTION_SIMULATION, FLEET_SIMULATION)
    update_section(path, SECTION_OCPP, FLEET_OCPP)
    return path


@pytest.fixture
def fleet_template(tmp_path: Path) -> Path:
    return write_fleet_template(tmp_path)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LauncherRun]:
    """One launcher in the default spawn mode (fork server) for a module's tests: each test
    starts its own charge point ids against its own ocpp-csms. The charge points are killed
    when the module ends."""
    tmp = tmp_path_factory.mktemp("interop-fleet")
    workdir = tmp / "simu"
    workdir.mkdir()
    with contextlib.ExitStack() as stack:
        start_broker = contextlib.contextmanager(start_mosquitto if MOSQUITTO else start_amqtt)
        broker_url = stack.enter_context(start_broker(tmp)).url
        rec = Recorder(broker_url, "cp_simu/#", f"interop-fleet-{os.getpid()}")
        stack.callback(rec.close)
        stack.callback(kill_cps, workdir)
        args = ocpp_simu("-v", "launcher", "--broker", broker_url, "--workdir", str(workdir),
                         "--config", str(write_fleet_template(tmp)))
        run = LauncherRun(stack.enter_context(managed(args, log=tmp / "launcher.log", cwd=tmp)), workdir, rec)
        run.wait_ready()
        yield run
