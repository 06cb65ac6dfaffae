"""`python -m bench.boot_cost --storm` (the figures behind docs/performance.md's floor of a
forked boot) runs against a real broker and the demo CSMS, reports every station Accepted,
and leaves no forked station behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STORM = re.compile(r"storm of (\d+) forked (charge points|bare stations) .*all Accepted ([\d.]+) s after the "
                   r"first fork; CPU s: \S+ \S+ ([\d.]+) \(([\d.]+) ms each\).*idle PSS ([\d.]+) MB each")


@pytest.mark.parametrize("bare", [False, True], ids=["charge points", "bare stations"])
def test_a_storm_is_timed_until_every_station_is_accepted(tmp_path: Path, bare: bool) -> None:
    env = {**os.environ, "OCPP_SIMU_BENCH_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "bench.boot_cost", "3", "--storm", *(["--bare"] if bare else [])],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = STORM.search(done.stdout)
    assert figures, done.stdout
    count, what, accepted_s, cpu_s, each_ms, pss_mb = figures.groups()
    assert (count, what) == ("3", "bare stations" if bare else "charge points")
    assert 0 < float(accepted_s) < 60 and float(cpu_s) > 0 and float(each_ms) > 0 and float(pss_mb) > 0
    assert "total" in done.stdout  # the per-phase table
    assert not _started_with(f"OCPP_SIMU_BENCH_DIR={tmp_path}".encode())  # every forked station was stopped
    assert list(tmp_path.iterdir()) == []  # the scratch directory went with its fleet


def _started_with(variable: bytes) -> list[int]:
    """Live processes whose environment holds `variable` (the forked stations inherit it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and variable in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids
