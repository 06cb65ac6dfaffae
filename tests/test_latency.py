"""Fixed-bucket round-trip histograms: quantiles close to the exact ones, merging equal to
pooling, a compact payload that reads back the same and refuses what is not one, and the
launcher's running total across charge point restarts."""

from __future__ import annotations

import json
import random

import pytest

from cp_simu.latency import BOUNDS_MS, CallLatencies, Histogram, bucket_index
from cp_simu.models import PayloadError, StatsReport
from launcher.stats import FleetCollector, FleetStats


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_quantiles_are_within_a_bucket_of_the_exact_ones() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3.0, 0.8) for _ in range(20_000)]  # ms: median ~20, long tail
    hist = Histogram()
    for v in values:
        hist.record(v)
    for q in (0.5, 0.95, 0.99):
        estimate, truth = hist.quantile(q), exact(values, q)
        assert estimate is not None and abs(estimate - truth) / truth < 0.05, (q, estimate, truth)
    assert hist.count == len(values) and hist.min_ms == min(values) and hist.max_ms == max(values)


def test_bounds_are_inclusive_and_the_tail_has_its_own_bucket() -> None:
    assert bucket_index(0.0) == 0 and bucket_index(BOUNDS_MS[0]) == 0 and bucket_index(BOUNDS_MS[0] + 1e-9) == 1
    assert bucket_index(10.0) == BOUNDS_MS.index(11.314) and bucket_index(1e9) == len(BOUNDS_MS)
    one = Histogram()
    one.record(16.5)
    assert one.quantile(0.5) == one.quantile(0.99) == 16.5  # a single value is itself at any quantile
    assert Histogram().quantile(0.5) is None


def test_merging_equals_recording_everything_in_one() -> None:
    rng = random.Random(3)
    parts, pooled = [CallLatencies() for _ in range(5)], CallLatencies()
    for part in parts:
        for _ in range(500):
            action, outcome, s = rng.choice(["Heartbeat", "MeterValues"]), rng.choice(["ok", "InternalError"]), \
                rng.uniform(0.001, 0.4)
            part.record(action, outcome, s)
            pooled.record(action, outcome, s)
    merged = CallLatencies.merged(parts)
    assert merged.summary() == pooled.summary()
    assert merged.histograms["Heartbeat"]["ok"].counts == pooled.histograms["Heartbeat"]["ok"].counts
    merged.merge(parts[0], sign=-1)
    assert sum(h.count for o in merged.histograms.values() for h in o.values()) == 2000


def test_summary_counts_errors_and_timeouts_and_quantiles_only_answers() -> None:
    calls = CallLatencies()
    for _ in range(98):
        calls.record("Authorize", "ok", 0.010)
    calls.record("Authorize", "NotSupported", 0.010)
    calls.record("Authorize", "timeout", 30.0)
    (row,) = calls.summary()
    assert (row.count, row.errors, row.timeouts) == (100, 1, 1)
    assert row.p99_ms is not None and row.p99_ms <= 10.0  # the 30 s wait is no round-trip time


def test_a_payload_reads_back_the_same_and_fractions_are_numbers() -> None:
    calls = CallLatencies()
    calls.record("BootNotification", "ok", 0.0125)
    report = StatsReport(time=1_700_000_010.5, started=1_700_000_000.0, calls=calls, sessions=1, power_w=7360.0)
    back = StatsReport.from_payload(report.to_json())
    assert back.to_dict() == report.to_dict() and back.calls.summary() == calls.summary()
    data = json.loads(report.to_json())
    data.update(time=1_700_000_011, sessions=1, power_w=11000)  # whole numbers as peers may send them
    assert StatsReport.from_dict(data).power_w == 11000.0


@pytest.mark.parametrize("calls, fragment", [
    ({"../x": {"ok": {"b": []}}}, "bad action name"),
    ({"Heartbeat": {"ok ok": {"b": []}}}, "bad outcome name"),
    ({"Heartbeat": {"ok": {"b": [[99, 1]]}}}, "bad entry"),
    ({"Heartbeat": {"ok": {"b": [[3, -1]]}}}, "bad entry"),
    ({"Heartbeat": {"ok": {"b": [[3, 1]], "sum": "12"}}}, "Heartbeat.ok.sum"),
    ({"Heartbeat": {"ok": []}}, "expected an object"),
    ({f"A{i}": {} for i in range(201)}, "more than 200 actions"),
    ([], "expected an object of actions"),
])
def test_a_bad_payload_is_refused_with_the_field_named(calls: object, fragment: str) -> None:
    payload = {"time": 2.0, "started": 1.0, "scheme": "ms-sqrt2-v1", "calls": calls}
    with pytest.raises(PayloadError, match=fragment.replace(".", r"\.").replace("[", r"\[")):
        StatsReport.from_dict(payload)


def test_another_bucket_scheme_is_refused() -> None:
    with pytest.raises(PayloadError, match="cannot be merged"):
        StatsReport.from_dict({"time": 2.0, "started": 1.0, "scheme": "ms-log10", "calls": {}})


def report(started: float, at: float, heartbeats: int, sessions: int = 0) -> StatsReport:
    calls = CallLatencies()
    for _ in range(heartbeats):
        calls.record("Heartbeat", "ok", 0.02)
    return StatsReport(time=at, started=started, calls=calls, sessions=sessions, power_w=3680.0 * sessions)


def heartbeats(stats: FleetStats) -> int:
    return stats.report().calls.histograms["Heartbeat"]["ok"].count


def test_the_fleet_total_grows_across_reports_restarts_and_ends() -> None:
    stats = FleetStats()
    stats.update("A", report(100.0, 101.0, 2, sessions=1))
    stats.update("B", report(100.0, 101.0, 1))
    stats.update("A", report(100.0, 106.0, 5, sessions=1))  # cumulative: 3 more
    assert heartbeats(stats) == 6 and stats.report().sessions == 1 and stats.report().power_w == 3680.0
    stats.update("A", report(100.0, 104.0, 4))  # older than the last one: ignored
    assert heartbeats(stats) == 6
    stats.update("A", report(200.0, 201.0, 1))  # a new process: counts from 0 again, the old ones stay
    assert heartbeats(stats) == 7 and stats.report().sessions == 0
    stats.update("B", report(100.0, 102.0, 1, sessions=1))
    stats.gone("B")  # its will said Dead: its session no longer runs, its calls still count
    assert heartbeats(stats) == 7 and stats.report().sessions == 0 and stats.report().cps == 2


def test_metric_labels_stay_bounded_whatever_the_charge_points_send() -> None:
    stats = FleetStats()
    calls = CallLatencies()
    calls.record("Heartbeat", "ok", 0.01)
    calls.record("Heartbeat", "WeirdCode", 0.01)
    calls.record("NotAnOcppAction", "timeout", 30.0)
    stats.update("CP_1", StatsReport(time=2.0, started=1.0, calls=calls))
    samples = [s for family in FleetCollector(stats).collect() for s in family.samples]
    labels = {tuple(sorted(s.labels.items())) for s in samples if s.name == "ocpp_simu_call_duration_seconds_count"}
    assert labels == {(("action", "Heartbeat"), ("outcome", "ok")), (("action", "Heartbeat"), ("outcome", "error")),
                      (("action", "other"), ("outcome", "timeout"))}
    errors = {tuple(sorted(s.labels.items())): s.value for s in samples if s.name == "ocpp_simu_call_errors_total"}
    assert errors == {(("action", "Heartbeat"), ("code", "other")): 1}
    assert all("cp_id" not in s.labels and "CP_1" not in s.labels.values() for s in samples)
