"""The `ocpp-simu` command line: --help everywhere, --version, and the embedded broker with
the standard Mosquitto command-line clients."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cp_simu import __version__
from cp_simu.cli import SUBCOMMANDS, main
from tests.procs import managed


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_top_level_help_lists_every_part():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("broker", "csms", "launcher", "chargepoint", "supervisor", "up"):
        assert name in result.output


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_every_subcommand_has_help(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and "--help" in result.output
    assert "Not available" not in result.output


def test_unknown_subcommand_fails_with_usage_error():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2 and "No such command" in result.output


@pytest.mark.skipif(not shutil.which("mosquitto_sub"), reason="mosquitto-clients not installed")
def test_embedded_broker_with_mosquitto_clients(amqtt_broker, tmp_path: Path):
    """`ocpp-simu broker` + `mosquitto_sub -t 'cp_simu/#' -v` + `mosquitto_pub` work together."""
    port = str(amqtt_broker.port)
    with managed(["mosquitto_sub", "-p", port, "-t", "cp_simu/#", "-v"], log=tmp_path / "sub.log") as sub:
        time.sleep(0.5)
        subprocess.run(["mosquitto_pub", "-p", port, "-t", "cp_simu/launcher/status", "-m", "Alive", "-r"],
                       check=True, timeout=10)
        subprocess.run(["mosquitto_pub", "-p", port, "-t", "cp_simu/cps/CP1/connectors/1/car",
                        "-m", '{"cable": 32}'], check=True, timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "connectors/1/car" not in sub.output():
            time.sleep(0.1)
        out = sub.output()
    assert "cp_simu/launcher/status Alive" in out
    assert 'cp_simu/cps/CP1/connectors/1/car {"cable": 32}' in out
    retained = subprocess.run(["mosquitto_sub", "-p", port, "-t", "cp_simu/launcher/status", "-C", "1", "-W", "5"],
                              capture_output=True, text=True, timeout=10)
    assert retained.stdout.strip() == "Alive"
