"""`ocpp-simu chargepoint` / `python -m chargepoint`: instance creation, refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cp_simu.config import load_config
from cp_simu.process import verified_pid
from tests.procs import PYTHON, managed, ocpp_simu, wait_until


def test_new_instance_from_options(tmp_path: Path, broker) -> None:
    directory = tmp_path / "cp"
    args = ocpp_simu("chargepoint", "--workdir", str(directory), "--broker", broker.url, "--id", "CP_X",
                     "--central-system", "ws://127.0.0.1:9/", "--type", "DC", "--connectors", "2",
                     "--phases", "1", "--voltage", "400", "--max-setpoint", "100000",
                     "--max-setpoint-per-connector", "50000", "--vendor", "V", "--model", "M",
                     "--serial", "S1")
    with managed(args, log=tmp_path / "cp.out") as proc:
        wait_until(lambda: verified_pid(directory) == proc.pid, what="process.json")
        definition = load_config(directory / "config.ini").definition()
        assert (definition.id, definition.type, definition.nb_connectors, definition.voltage,
                definition.max_setpoint_per_connector, definition.serial) == ("CP_X", "DC", 2, 400.0, 50000.0, "S1")
        assert load_config(directory / "config.ini").mqtt.broker == broker.url
        assert load_config(directory / "config.ini").ocpp["HeartbeatInterval"]  # the OCPP keys came along
        assert proc.alive()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "chargepoint", *args], capture_output=True, text=True, timeout=30)


def test_a_new_directory_needs_an_id(tmp_path: Path) -> None:
    result = run("--workdir", str(tmp_path / "cp"))
    assert result.returncode == 2 and "--id" in result.stderr
    bad = run("--workdir", str(tmp_path / "cp2"), "--id", "../etc")
    assert bad.returncode != 0 and "invalid charge point id" in bad.stderr


def test_a_refused_invocation_leaves_no_directory_behind(tmp_path: Path) -> None:
    for name, args in (("no_id", ()), ("bad_id", ("--id", "../etc")), ("bad_url", ("--id", "CP3", "--central-system",
                       "http://127.0.0.1/")), ("no_connector", ("--id", "CP4", "--connectors", "0"))):
        result = run("--workdir", str(tmp_path / name), *args)
        assert result.returncode != 0, (name, result.stderr)
        assert not (tmp_path / name).exists(), name
    mine = tmp_path / "mine"  # a directory that was there before stays, with what it holds
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert run("--workdir", str(mine)).returncode == 2
    assert (mine / "notes.txt").read_text() == "keep me"
