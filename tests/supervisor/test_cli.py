"""`ocpp-simu supervisor` on the command line."""

from __future__ import annotations

import subprocess

from tests.procs import ocpp_simu


def test_help_and_a_bad_broker_url_fail_fast_without_a_window() -> None:
    shown = subprocess.run(ocpp_simu("supervisor", "--help"), capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "--broker" in shown.stdout and "--root" in shown.stdout
    bad = subprocess.run(ocpp_simu("supervisor", "--broker", "http://x"), capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "scheme must be mqtt://" in bad.stderr
