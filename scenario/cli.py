"""`ocpp-simu scenario run|validate`: a scripted timeline against a CSMS, with a verdict."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

import click

from cp_simu import redact
from cp_simu.broker_access import access_options, mqtt_options, resolve
from cp_simu.models import PayloadError, validate_central_system
from launcher.up import _free_port

from .environment import Environment
from .junit import write_junit
from .loader import ScenarioError, load
from .model import Scenario
from .observer import Observer
from .runner import Report, Runner

EXIT_FAILED = 1
EXIT_INVALID = 2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _load(file: Path) -> Scenario:
    try:
        return load(file)
    except ScenarioError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        click.echo(f"{file}: {len(exc.problems)} problem(s); nothing was run", err=True)
        sys.exit(EXIT_INVALID)


@click.group(name="scenario", context_settings={"help_option_names": ["-h", "--help"]})
def scenario() -> None:
    """Scripted scenarios: a timeline of charge point actions, CSMS operations and outages,
    and expectations that end in a verdict (exit code, JUnit XML). See docs/scenarios.md."""


@scenario.command(name="validate")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def validate(file: Path) -> None:
    """Check FILE against the scenario schema; every problem is printed with its line.
    Exit code 0 when it is valid, 2 when not."""
    loaded = _load(file)
    click.echo(f"{file}: valid scenario {loaded.name!r}, {len(loaded.steps)} steps")


@scenario.command(name="run")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--csms", metavar="URL", help="CSMS the charge points connect to (ws:// or wss://; {id} stands for "
                                            "the charge point id, else <URL>/<id>). Default: start the demo CSMS.")
@click.option("--csms-api", metavar="URL", help="Control API for `call` steps and relative `http` URLs, e.g. "
                                                "http://host:9001/api. Default: the demo CSMS's, if started.")
@click.option("--broker", metavar="URL", help="MQTT broker (mqtt://[user:pw@]host:port, mqtts://); an embedded one is "
                                              "started if nothing answers there. Default: an embedded broker on "
                                              "a free port, for this run only.")
@mqtt_options
@click.option("--seed", type=int, help="Seed of the run (overrides the file's `seed`).")
@click.option("--junit", "junit", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.xml",
              help="Write a JUnit XML report there.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Multiply the `count` of every `start` template (at least 1 charge point each).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Instance directories and logs of what the run starts (default: a new temporary directory, "
                   "kept and printed).")
def run(file: Path, csms: str | None, csms_api: str | None, broker: str | None, seed: int | None,
        junit: Path | None, scale: float, workdir: Path | None, **mqtt: str | None) -> None:
    """Run the scenario in FILE and exit 0 if every step passed, 1 if one failed (the message
    says what was expected, what was seen, and at which step and line), 2 if FILE is invalid.

    Whatever the run starts (embedded broker, demo CSMS, launcher, charge points) it stops at
    the end, also on failure or Ctrl+C. Progress is printed and published, retained, on
    cp_simu/scenario/status.
    """
    loaded = _load(file)
    try:
        access = resolve(broker or f"mqtt://127.0.0.1:{_free_port(0)}", **access_options(mqtt))
        if csms:
            validate_central_system(csms, "--csms")
    except (ValueError, PayloadError) as exc:
        raise click.ClickException(str(exc)) from None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="ocpp-simu-scenario-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = Environment(access, csms, csms_api, workdir)
    for sig in STOP_SIGNALS:
        signal.signal(sig, env.request_stop)
    report = Report(loaded, [], seed if seed is not None else loaded.seed)
    click.echo(f"scenario {loaded.name!r} ({file}): {len(loaded.steps)} steps; work directory {workdir}")
    observer = Observer(env.topics)
    try:
        env.open(observer)
        click.echo(f"broker {access.url} ({env.parts['broker']}) · CSMS {redact.url(env.csms_url)} "
                   f"({env.parts['csms']}) · launcher {env.parts['launcher']} · OCPP frames from "
                   + (str(observer.instances) if observer.instances else "the ocpp_log topics"))
        report = Runner(loaded, env, observer, seed=seed, scale=scale, echo=click.echo).run()
    except (click.ClickException, click.Abort) as exc:
        report.setup_error = exc.format_message() if isinstance(exc, click.ClickException) else "interrupted"
    finally:
        env.close()
    if junit:
        write_junit(report, junit)
    _verdict(report, junit)


def _verdict(report: Report, junit: Path | None) -> None:
    where = f"; JUnit report {junit}" if junit else ""
    if report.setup_error:
        click.echo(f"scenario {report.scenario.name!r}: could not run: {report.setup_error}{where}", err=True)
        sys.exit(EXIT_FAILED)
    if report.passed:
        click.echo(f"scenario {report.scenario.name!r}: passed ({len(report.results)} steps in "
                   f"{report.seconds:.1f} s){where}")
        return
    first = report.failures[0] if report.failures else None
    if first is None:
        click.echo(f"scenario {report.scenario.name!r}: interrupted{where}", err=True)
    else:
        click.echo(f"scenario {report.scenario.name!r}: FAILED at step {first.index}/{len(report.results)} "
                   f"({report.scenario.path}:{first.step.line}: {first.step.title()}): {first.message}{where}",
                   err=True)
    sys.exit(EXIT_FAILED)
