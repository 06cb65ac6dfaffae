"""Round-trip times of OCPP calls as fixed-bucket histograms.

Every charge point fills its own and publishes them; the launcher adds them up. The bucket
bounds are fixed here (powers of √2 from 0.5 ms to ~65 s), so two histograms merge by adding
counts: no raw samples travel or are kept, whatever the fleet size or run length, and a
quantile of the merged histogram is as good as one of the pooled samples (within a bucket).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEME = "ms-sqrt2-v1"  # names BOUNDS_MS: a payload with another scheme cannot be merged
BOUNDS_MS: tuple[float, ...] = tuple(round(0.5 * 2 ** (i / 2), 3) for i in range(35))  # 0.5 ms .. 65.5 s
NB_BUCKETS = len(BOUNDS_MS) + 1  # the last one holds everything above BOUNDS_MS[-1]

OK = "ok"
TIMEOUT = "timeout"
ERROR = "error"  # the outcome class of every CallError code
OUTCOME_CLASSES = (OK, ERROR, TIMEOUT)

# Names of actions and outcomes (CallError codes) as they may appear in a payload: bounded,
# so a hostile payload cannot make unbounded metric labels or memory.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
MAX_NAMES = 200


def outcome_class(outcome: str) -> str:
    """ok, timeout, or error for any CallError code."""
    return outcome if outcome in (OK, TIMEOUT) else ERROR


def bucket_index(ms: float) -> int:
    """The bucket a round-trip time falls in (upper bounds inclusive, as Prometheus' `le`)."""
    lo, hi = 0, len(BOUNDS_MS)
    while lo < hi:
        mid = (lo + hi) // 2
        if ms <= BOUNDS_MS[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Histogram:
    """Counts per fixed bucket, with the sum, minimum and maximum (all in milliseconds)."""

    counts: list[int] = field(default_factory=lambda: [0] * NB_BUCKETS)
    total_ms: float = 0.0
    min_ms: float = math.inf
    max_ms: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def record(self, ms: float) -> None:
        ms = max(0.0, ms)
        self.counts[bucket_index(ms)] += 1
        self.total_ms += ms
        self.min_ms = min(self.min_ms, ms)
        self.max_ms = max(self.max_ms, ms)

    def merge(self, other: Histogram, *, sign: int = 1) -> None:
        """Add `other`'s counts (`sign=-1`: take them away again; the extremes stay)."""
        for i, n in enumerate(other.counts):
            self.counts[i] += sign * n
        self.total_ms += sign * other.total_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    def quantile(self, q: float) -> float | None:
        """Estimated q-quantile (0..1) in ms: linear within the bucket the rank falls in, the
        bucket's edges narrowed to the observed minimum and maximum. None when empty."""
        n = self.count
        if n == 0:
            return None
        rank = q * n
        seen = 0
        for i, c in enumerate(self.counts):
            if c == 0 or seen + c < rank:
                seen += c
                continue
            lower = max(BOUNDS_MS[i - 1] if i > 0 else 0.0, self.min_ms)
            upper = min(BOUNDS_MS[i] if i < len(BOUNDS_MS) else self.max_ms, self.max_ms)
            if upper <= lower:
                return lower
            return lower + (upper - lower) * max(0.0, rank - seen) / c
        return self.max_ms

    def cumulative(self) -> list[int]:
        """Counts of values <= each bound, then the total (Prometheus' buckets, `+Inf` last)."""
        out, running = [], 0
        for c in self.counts:
            running += c
            out.append(running)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Compact and sparse: `b` lists [bucket index, count] for the non-empty buckets."""
        return {"n": self.count, "sum": round(self.total_ms, 3),
                "min": round(self.min_ms, 3) if self.count else 0.0, "max": round(self.max_ms, 3),
                "b": [[i, c] for i, c in enumerate(self.counts) if c]}

    @classmethod
    def from_dict(cls, data: object, where: str = "") -> Histogram:
        """Read `to_dict`'s shape; ValueError naming the field for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object")
        hist = cls()
        buckets = data.get("b")
        if not isinstance(buckets, list):
            raise ValueError(f"{where}.b: expected an array of [bucket, count]")
        for pair in buckets:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)
                    or not 0 <= pair[0] < NB_BUCKETS or pair[1] < 0):
                raise ValueError(f"{where}.b: bad entry {str(pair)[:40]} (want [0..{NB_BUCKETS - 1}, count >= 0])")
            hist.counts[pair[0]] += pair[1]
        values = {}
        for key in ("sum", "min", "max"):
            value = data.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{where}.{key}: expected a number >= 0")
            values[key] = float(value)
        hist.total_ms, hist.max_ms = values["sum"], values["max"]
        hist.min_ms = values["min"] if hist.count else math.inf
        return hist


@dataclass(frozen=True)
class ActionSummary:
    """One row of the report: every call of an action, its failures and answered-call quantiles."""

    action: str
    count: int
    errors: int  # answered with a CallError
    timeouts: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class CallLatencies:
    """Histograms per (action, outcome); outcome is `ok`, `timeout` or the CallError code."""

    def __init__(self) -> None:
        self.histograms: dict[str, dict[str, Histogram]] = {}

    def __bool__(self) -> bool:
        return bool(self.histograms)

    def record(self, action: str, outcome: str, seconds: float) -> None:
        self.histogram(action, outcome).record(seconds * 1000.0)

    def histogram(self, action: str, outcome: str) -> Histogram:
        return self.histograms.setdefault(action, {}).setdefault(outcome, Histogram())

    def merge(self, other: CallLatencies, *, sign: int = 1) -> None:
        for action, outcomes in other.histograms.items():
            for outcome, hist in outcomes.items():
                self.histogram(action, outcome).merge(hist, sign=sign)

    @classmethod
    def merged(cls, parts: Iterable[CallLatencies]) -> CallLatencies:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def by_class(self) -> dict[tuple[str, str], Histogram]:
        """(action, outcome class) -> histogram: the bounded label set of the metrics."""
        out: dict[tuple[str, str], Histogram] = {}
        for action, outcomes in self.histograms.items():
            for outcome, hist in outcomes.items():
                out.setdefault((action, outcome_class(outcome)), Histogram()).merge(hist)
        return out

    def answered(self, action: str) -> Histogram:
        """Every call of `action` the CSMS answered (a result or a CallError)."""
        hist = Histogram()
        for outcome, h in self.histograms.get(action, {}).items():
            if outcome != TIMEOUT:
                hist.merge(h)
        return hist

    def summary(self) -> list[ActionSummary]:
        rows = []
        for action in sorted(self.histograms):
            outcomes = self.histograms[action]
            answered = self.answered(action)
            rows.append(ActionSummary(
                action, sum(h.count for h in outcomes.values()),
                sum(h.count for o, h in outcomes.items() if outcome_class(o) == ERROR),
                outcomes[TIMEOUT].count if TIMEOUT in outcomes else 0,
                answered.quantile(0.50), answered.quantile(0.95), answered.quantile(0.99)))
        return rows

    def to_dict(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {action: {outcome: hist.to_dict() for outcome, hist in outcomes.items()}
                for action, outcomes in self.histograms.items()}

    @classmethod
    def from_dict(cls, data: object, where: str = "calls") -> CallLatencies:
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object of actions")
        if len(data) > MAX_NAMES:
            raise ValueError(f"{where}: more than {MAX_NAMES} actions")
        out = cls()
        for action, outcomes in data.items():
            if not isinstance(action, str) or not NAME.match(action):
                raise ValueError(f"{where}: bad action name {str(action)[:40]!r}")
            if not isinstance(outcomes, Mapping) or len(outcomes) > MAX_NAMES:
                raise ValueError(f"{where}.{action}: expected an object of outcomes")
            for outcome, hist in outcomes.items():
                if not isinstance(outcome, str) or not NAME.match(outcome):
                    raise ValueError(f"{where}.{action}: bad outcome name {str(outcome)[:40]!r}")
                out.histogram(action, outcome).merge(Histogram.from_dict(hist, f"{where}.{action}.{outcome}"))
        return out
