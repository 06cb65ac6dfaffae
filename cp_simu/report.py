"""`ocpp-simu report`: a launcher's run file as a summary table and plots.

Per action: calls made, CallErrors, timeouts and the p50 / p95 / p99 round-trip time of the
answered calls, printed and written as Markdown (summary.md) and HTML (index.html, with the
figures: latency.png, timeline.png).
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import click

from cp_simu.latency import ActionSummary
from cp_simu.run_file import Run

HEADERS = ("action", "calls", "errors", "timeouts", "p50 ms", "p95 ms", "p99 ms")
LATENCY_PNG = "latency.png"
TIMELINE_PNG = "timeline.png"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table_rows(rows: list[ActionSummary]) -> list[tuple[str, ...]]:
    return [(r.action, str(r.count), str(r.errors), str(r.timeouts), _ms(r.p50_ms), _ms(r.p95_ms), _ms(r.p99_ms))
            for r in rows]


def text_table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return "\n".join([line(HEADERS), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)])


def markdown_table(rows: list[tuple[str, ...]]) -> str:
    aligns = ["---", *["---:"] * (len(HEADERS) - 1)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [HEADERS, tuple(aligns), *rows])


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def describe(run: Run) -> str:
    """One line: when the run began, how long it lasted, the largest fleet that reported."""
    last = run.reports[-1]
    return (f"run started {_when(last.started)}, last figures {last.time - last.started:.0f} s later; "
            f"{max(r.cps for r in run.reports)} charge point(s) reported, peak {max(r.sessions for r in run.reports)} "
            f"session(s), peak {max(r.power_w for r in run.reports) / 1000:.1f} kW")


def html_page(title: str, summary: str, rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px}} td:not(:first-child){{text-align:right}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<h2>Round-trip times</h2><img src="{LATENCY_PNG}" alt="round-trip time histograms per action">
<h2>Sessions, power and call rate</h2><img src="{TIMELINE_PNG}" alt="sessions, power and calls per second over time">
</body></html>
"""


def write_report(run: Run, out: Path, title: str) -> list[tuple[str, ...]]:
    """Every file of the report into `out`; returns the table's rows."""
    from cp_simu import report_plots  # matplotlib: imported only when a report is made

    out.mkdir(parents=True, exist_ok=True)
    calls = run.reports[-1].calls
    rows = table_rows(calls.summary())
    summary = describe(run)
    (out / "summary.md").write_text(f"# {title}\n\n{summary}\n\n{markdown_table(rows)}\n")
    report_plots.latency_histograms(calls, out / LATENCY_PNG)
    report_plots.timeline(run.reports, out / TIMELINE_PNG)
    (out / "index.html").write_text(html_page(title, summary, rows))
    return rows


@click.command(name="report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("report"), show_default=True,
              help="Directory for summary.md, index.html, latency.png and timeline.png (created if needed).")
@click.option("--title", default="ocpp-simu run report", show_default=True, help="Title of the page.")
def report(run_file: Path, out: Path, title: str) -> None:
    """Turn a launcher's run file (WORKDIR/runs/run-<time>.jsonl) into a report.

    Prints, per OCPP action, the calls the charge points made, how many the CSMS answered
    with a CallError or not at all (timeouts), and the p50 / p95 / p99 round-trip time of
    the answered ones; writes the same table as Markdown and HTML with plots of the
    round-trip times and of sessions, power and call rate over the run.
    """
    try:
        run = Run.load(run_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {run_file}: {exc}") from None
    for problem in run.skipped:
        click.echo(f"{run_file}: skipped {problem}", err=True)
    if not run.reports:
        raise click.ClickException(f"{run_file} holds no call statistics (no charge point made a call during the run)")
    rows = write_report(run, out, title)
    click.echo(describe(run))
    click.echo(text_table(rows))
    click.echo(f"report written to {out}/ (index.html, summary.md, {LATENCY_PNG}, {TIMELINE_PNG})")
