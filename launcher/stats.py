"""The fleet's call statistics as the launcher sees them: the latest `cps/<id>/stats` of each
charge point merged into one view, served to Prometheus, published on `launcher/stats` and
appended to the run file.

Each charge point's histograms are cumulative since its process started, so the launcher
keeps a running total: a new report of the same process adds only its difference from the
previous one, a report of a new process (a restart: another `started`) adds all of it, and a
charge point that ends leaves its counts in. The total only ever grows, as Prometheus
counters must, and costs one charge point's histograms per message, whatever the fleet size.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from cp_simu.latency import BOUNDS_MS, ERROR, OUTCOME_CLASSES, CallLatencies, outcome_class
from cp_simu.models import StatsReport
from cp_simu.run_file import RunFileWriter

log = logging.getLogger(__name__)

DEFAULT_METRICS_PORT = 9002  # next to the demo CSMS's 9000 (OCPP) and 9001 (control API)
OTHER = "other"  # the label of an action or error code OCPP does not define
# The CallError codes of OCPP-J (1.6 and 2.0.1), and the one for a code outside them.
ERROR_CODES = frozenset({
    "NotImplemented", "NotSupported", "InternalError", "ProtocolError", "SecurityError", "FormatViolation",
    "FormationViolation", "PropertyConstraintViolation", "OccurenceConstraintViolation",
    "OccurrenceConstraintViolation", "TypeConstraintViolation", "GenericError", "MessageTypeNotSupported",
    "RpcFrameworkError", "UnknownErrorCode"})


@cache
def known_actions() -> frozenset[str]:
    """Every OCPP 1.6 and 2.0.1 action: the only values an `action` label takes."""
    from ocpp.v16.enums import Action as Action16
    from ocpp.v201.enums import Action as Action201

    return frozenset(a.value for a in Action16) | frozenset(a.value for a in Action201)


def action_label(action: str) -> str:
    return action if action in known_actions() else OTHER


@dataclass
class _Latest:
    started: float
    time: float
    calls: CallLatencies
    sessions: int
    power_w: float


class FleetStats:
    """The merged view; fed on the launcher's thread, read by the metrics server's too."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.started = clock()
        self._total = CallLatencies()
        self._latest: dict[str, _Latest] = {}
        self._changed = False

    def update(self, cp_id: str, report: StatsReport) -> None:
        """A charge point's `stats` message (parsed)."""
        with self._lock:
            previous = self._latest.get(cp_id)
            if previous is not None and previous.started == report.started:
                if report.time <= previous.time:
                    return  # an older message, or the same one again
                self._total.merge(previous.calls, sign=-1)
            self._total.merge(report.calls)
            self._latest[cp_id] = _Latest(report.started, report.time, report.calls, report.sessions,
                                          report.power_w)
            self._changed = True

    def gone(self, cp_id: str) -> None:
        """The charge point ended: its counts stay in, its sessions and power no longer count."""
        with self._lock:
            latest = self._latest.get(cp_id)
            if latest is not None and (latest.sessions or latest.power_w):
                latest.sessions, latest.power_w = 0, 0.0
                self._changed = True

    def report(self) -> StatsReport:
        """The merged view now (a copy: safe to use outside the lock)."""
        with self._lock:
            calls = CallLatencies.merged([self._total])
            latest = list(self._latest.values())
        return StatsReport(time=self._clock(), started=self.started, calls=calls,
                           sessions=sum(x.sessions for x in latest), power_w=sum(x.power_w for x in latest),
                           cps=len(latest))

    def take_changed(self) -> bool:
        """Whether anything changed since the last call."""
        with self._lock:
            changed, self._changed = self._changed, False
            return changed


class FleetCollector(Collector):
    """The Prometheus view of `FleetStats`: bounded labels (OCPP action names and outcome
    classes, OCPP error codes), never a charge point id."""

    def __init__(self, stats: FleetStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        report = self.stats.report()
        durations = HistogramMetricFamily(
            "ocpp_simu_call_duration_seconds",
            "Round-trip time of the OCPP calls the charge points made, from the call leaving to its answer "
            "(outcome ok, error: a CallError, timeout: no answer in time, the time waited)",
            labels=["action", "outcome"])
        merged: dict[tuple[str, str], list[int]] = {}
        sums: dict[tuple[str, str], float] = {}
        for (action, cls), hist in report.calls.by_class().items():
            key = (action_label(action), cls)
            cumulative = hist.cumulative()
            merged[key] = [a + b for a, b in zip(merged.get(key, [0] * len(cumulative)), cumulative, strict=True)]
            sums[key] = sums.get(key, 0.0) + hist.total_ms / 1000.0
        for (action, cls), cumulative in sorted(merged.items(), key=lambda kv: (kv[0][0], OUTCOME_CLASSES.index(
                kv[0][1]))):
            buckets = [(f"{bound / 1000.0:g}", float(n)) for bound, n in zip(BOUNDS_MS, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            durations.add_metric([action, cls], buckets, sums[(action, cls)])
        yield durations
        errors = CounterMetricFamily("ocpp_simu_call_errors", "OCPP calls answered with a CallError, by error code",
                                     labels=["action", "code"])
        counts: dict[tuple[str, str], int] = {}
        for action, outcomes in report.calls.histograms.items():
            for outcome, hist in outcomes.items():
                if outcome_class(outcome) == ERROR:
                    key = (action_label(action), outcome if outcome in ERROR_CODES else OTHER)
                    counts[key] = counts.get(key, 0) + hist.count
        for (action, code), n in sorted(counts.items()):
            errors.add_metric([action, code], n)
        yield errors
        yield GaugeMetricFamily("ocpp_simu_charge_points_reporting",
                                "Charge points that sent call statistics since the launcher started", value=report.cps)
        yield GaugeMetricFamily("ocpp_simu_sessions", "Charging sessions running (as of each charge point's last "
                                "statistics)", value=report.sessions)
        yield GaugeMetricFamily("ocpp_simu_power_watts", "Power delivered by the fleet (as of each charge point's "
                                "last statistics)", value=report.power_w)


class StatsService:
    """`FleetStats` with its outputs: the metrics endpoint, `launcher/stats` and the run file,
    the last two at most every `interval` seconds and only when something changed."""

    def __init__(self, publish: Callable[[StatsReport], None], run_file: RunFileWriter | None,
                 interval: float) -> None:
        self.stats = FleetStats()
        self.interval = interval
        self.run_file = run_file
        self._publish = publish
        self._last = 0.0
        self._server: WSGIServer | None = None
        self.metrics_url = ""

    def serve_metrics(self, host: str, port: int | None) -> None:
        """Serve http://HOST:PORT/metrics in a thread. `port` 0: any free one; None: the default
        port, else any free one (two launchers of one host both keep an endpoint, each named in
        its info). Raises OSError when a port asked for cannot be had."""
        known_actions()  # loaded now, not during the first scrape
        registry = CollectorRegistry(auto_describe=True)
        registry.register(FleetCollector(self.stats))
        try:
            server, _ = start_http_server(DEFAULT_METRICS_PORT if port is None else port, host, registry)
        except OSError as exc:
            if port is not None:
                raise
            server, _ = start_http_server(0, host, registry)
            log.warning("metrics port %d is taken (%s; another launcher of this host?): serving on port %d "
                        "instead", DEFAULT_METRICS_PORT, exc.strerror or exc, server.server_port)
        self._server = server
        self.metrics_url = f"http://{host}:{server.server_port}/metrics"
        log.info("metrics on %s", self.metrics_url)

    def about(self) -> dict[str, str]:
        """What the launcher's info says of them."""
        return {"metrics": self.metrics_url, "run_file": str(self.run_file.path) if self.run_file else ""}

    def tick(self, now: float) -> None:
        """Housekeeping (monotonic `now`): publish and append what changed, once per interval."""
        if now - self._last < self.interval or not self.stats.take_changed():
            return
        self._last = now
        report = self.stats.report()
        self._publish(report)
        if self.run_file is not None:
            self.run_file.append(report)

    def close(self) -> None:
        """The last figures go into the run file; the endpoint stops."""
        if self.stats.take_changed() and self.run_file is not None:
            self.run_file.append(self.stats.report())
        if self.run_file is not None:
            self.run_file.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
