"""The report's figures as PNG files (matplotlib's Agg renderer: no display needed)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from cp_simu.latency import BOUNDS_MS, NB_BUCKETS, CallLatencies
from cp_simu.models import StatsReport

MAX_PANELS = 12  # actions drawn in the latency figure, the most called first
DPI = 100


def latency_histograms(calls: CallLatencies, path: Path) -> None:
    """One panel per action: the answered calls per round-trip time bucket (log scale)."""
    actions = sorted(calls.histograms, key=lambda a: -sum(h.count for h in calls.histograms[a].values()))
    actions = actions[:MAX_PANELS] or ["(no calls)"]
    columns = min(3, len(actions))
    rows = (len(actions) + columns - 1) // columns
    fig = Figure(figsize=(4.2 * columns, 2.8 * rows), dpi=DPI, layout="constrained")
    edges = [BOUNDS_MS[0] / 2 ** 0.5, *BOUNDS_MS, BOUNDS_MS[-1] * 2 ** 0.5]
    for index, action in enumerate(actions):
        ax = fig.add_subplot(rows, columns, index + 1)
        hist = calls.answered(action) if action in calls.histograms else None
        if hist is not None and hist.count:
            used = [i for i in range(NB_BUCKETS) if hist.counts[i]]
            lo, hi = max(0, used[0] - 1), min(NB_BUCKETS, used[-1] + 2)
            ax.stairs(hist.counts[lo:hi], edges[lo:hi + 1], fill=True, color="#3f7fbf")
            for q, style in ((0.5, "-"), (0.95, "--"), (0.99, ":")):
                value = hist.quantile(q)
                if value is not None:
                    ax.axvline(value, color="#c03030", linestyle=style, linewidth=1,
                               label=f"p{round(q * 100)} {value:.1f} ms")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{action} (n={hist.count if hist else 0})", fontsize=9)
        ax.set_xlabel("round-trip time (ms)", fontsize=8)
        ax.set_ylabel("calls", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Round-trip time of the answered calls", fontsize=11)
    fig.savefig(path)


def timeline(reports: list[StatsReport], path: Path) -> None:
    """Sessions running, power delivered and calls per second over the run."""
    start = reports[0].started if reports else 0.0
    t = [r.time - start for r in reports]
    fig = Figure(figsize=(9, 6.5), dpi=DPI, layout="constrained")
    sessions, power, rate = (fig.add_subplot(3, 1, i) for i in (1, 2, 3))
    sessions.step(t, [r.sessions for r in reports], where="post", color="#3f7fbf")
    sessions.set_ylabel("sessions")
    power.step(t, [r.power_w / 1000.0 for r in reports], where="post", color="#2f9f5f")
    power.set_ylabel("power (kW)")
    counts = [sum(h.count for outcomes in r.calls.histograms.values() for h in outcomes.values()) for r in reports]
    per_second = [(b - a) / (tb - ta) if tb > ta else 0.0
                  for a, b, ta, tb in zip(counts, counts[1:], t, t[1:], strict=False)]
    rate.step(t[1:], per_second, where="pre", color="#9f5f2f")
    rate.set_ylabel("calls / s")
    rate.set_xlabel("time since the launcher started (s)")
    for ax in (sessions, power, rate):
        ax.grid(alpha=0.3)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
    fig.suptitle("Fleet over the run", fontsize=11)
    fig.savefig(path)
