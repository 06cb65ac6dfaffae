"""`make bench`'s report (bench/run_all.py): the 10,000-station and fairness figures reach
docs/performance.md, and a run that left those fleets out (`--max-fleet`) says so."""

from __future__ import annotations

from bench import run_all
from bench.fleet import FleetFigures


def _figures(count: int, mode: str, **extra: object) -> FleetFigures:
    base = {"accepted_s": 12.5, "boot_cpu_s": {"broker": 1.5, "csms": 2.5, "launcher": 1.0, "charge points": 8.5},
            "processes": 1, "pss_per_cp_mb": 0.15, "total_pss_mb": 30.0, "idle_window_s": 30.0,
            "idle_cpu_pct": 2.5}
    return FleetFigures(count, mode, "mosquitto", 1.5, **{**base, **extra})  # type: ignore[arg-type]


def _render(runs: list[FleetFigures], fairness: run_all.Fairness) -> str:
    return run_all.render("test host", 1.5, runs, run_all.Extras(5), "", [], run_all.large_fleets(runs, fairness))


def test_the_largest_fleet_and_the_fairness_figures_are_written() -> None:
    largest = _figures(run_all.LARGEST, "packed 500", accepted_s=380.5, ramp=40.0, heartbeat_s=60,
                       heartbeats=12800, heartbeating=10000, accepted_after=9999, idle_cpu_pct=67.0,
                       boot_cpu_s={"csms": 85.0, "charge points": 384.6}, processes=20)
    fairness = run_all.Fairness(50)
    fairness.latency = {"fleet": 5000, "sessions": 50, "csms_p50_ms": 5.2, "csms_p95_ms": 24.4,
                        "status_p50_ms": 49.0, "status_p95_ms": 100.6}
    text = _render([_figures(200, "fork"), largest], fairness)
    section = text[text.index("## 10,000 charge points"):text.index("## OCPP 2.0.1")]
    assert "all **10,000 Accepted after 380 s**" in section and '`"ramp": 40`' in section
    assert "**12,800 heartbeats from 10,000 distinct\ncharge points**" in section
    assert "9,999 were still Accepted" in section
    assert "csms 8.5 ms" in section and "charge points 38.5 ms" in section
    assert "0.067 thousandths of a core" in section
    assert "**p95 24 ms** (target ≤ 50 ms)" in section and "idle fleet of 5,000" in section


def test_a_run_without_the_large_fleets_says_they_were_not_measured() -> None:
    text = _render([_figures(200, "fork")], run_all.Fairness(50))
    section = text[text.index("## 10,000 charge points"):text.index("## OCPP 2.0.1")]
    assert "was not measured in this run (`--max-fleet`" in section
    assert "fairness fleet (5,000 packed) was not measured" in section
