"""`ocpp-simu up --auto`: automatic sessions on the fleet it starts, seeded per charge point,
remote starts answered through the demo CSMS's control API; bad settings are usage errors."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import psutil

from cp_simu.models import derived_seed
from tests.launcher.test_up import _reap, _up, _up_processes
from tests.procs import managed, ocpp_simu, wait_until

REMOTE_ONLY = {"rate": 1800, "dwell": [3, 5.5], "tag_delay": [0.2, 0.5], "mix": {"remote_start": 1}}


def journal(workdir: Path) -> list[dict]:
    path = workdir / "csms.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines[:-1]]  # the last one may be half written


def test_up_auto_starts_seeded_sessions_and_answers_remote_starts(tmp_path: Path) -> None:
    workdir = tmp_path / "up"
    args = _up(workdir, 2, "--ocpp-versions", "1.6,2.0.1", "--auto", "--auto-seed", "5",
               "--auto-settings", json.dumps(REMOTE_ONLY))
    started: list[psutil.Process] = []
    try:
        with managed(args, log=tmp_path / "up.out") as up:
            wait_until(lambda: "2/2 Accepted" in up.output() or not up.alive(), 60, what="2/2 Accepted")
            started = _up_processes(up.pid, workdir)
            for cp_id in ("CP_0001", "CP_0002"):
                log = workdir / "chargepoints" / cp_id / "auto.jsonl"
                wait_until(lambda log=log: log.exists() and '"remote_start"' in log.read_text(), 30,
                           what=f"a remote start planned on {cp_id}")
                enabled = json.loads(log.read_text().splitlines()[0])
                assert enabled["event"] == "enabled" and enabled["seed"] == derived_seed(5, cp_id)

            def remote_started() -> bool:
                entries = journal(workdir)
                asked = {(e["cp_id"], e["action"]) for e in entries if e.get("direction") == "out"
                         and e.get("message_type") == "call"}
                began = {e["cp_id"] for e in entries if e.get("direction") == "in" and (
                    e.get("action") == "StartTransaction" or (e.get("action") == "TransactionEvent" and e[
                        "payload"].get("triggerReason") == "RemoteStart"))}
                return {("CP_0001", "RemoteStartTransaction"), ("CP_0002", "RequestStartTransaction")} <= asked \
                    and began == {"CP_0001", "CP_0002"}
            wait_until(remote_started, 30, what="remote starts made by the demo CSMS, and their sessions")
            up.signal(signal.SIGINT)
            assert up.wait(30) == 0, up.output()
    finally:
        _reap(started, workdir)


def test_bad_auto_settings_are_a_usage_error(tmp_path: Path) -> None:
    for settings, fragment in (('{"dwell": [5, 1]}', "dwell: low 5 is above high 1"),
                               ("{not json", "--auto-settings: not valid JSON"),
                               (str(tmp_path / "missing.json"), "neither a JSON object nor a readable file")):
        result = subprocess.run(ocpp_simu("up", "--auto", "--auto-settings", settings, "--workdir",
                                          str(tmp_path / "w")), capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert not (tmp_path / "w").exists(), "nothing started"
