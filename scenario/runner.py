"""Runs a scenario's timeline, step after step, and says how each went.

Actions go out over the MQTT contract (car, id tag, fault, CP commands, launcher commands) or
to the CSMS's control API; expectations are re-checked every POLL seconds until they hold or
their `within` is over. The first failed step ends the run (the rest are reported skipped),
since what follows a broken expectation would only fail for the same reason.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cp_simu.models import ChargePointDefinition, PayloadError
from launcher.up import definitions

from .environment import ActionFailed, Environment
from .expectations import CHECKS, Context, contains
from .model import Scenario, Step, auto_settings, start_ids
from .observer import Observer

POLL = 0.1
AC_CAR = {"cable": 32.0, "consumption_l1": 16.0, "consumption_l2": 16.0, "consumption_l3": 16.0}
DC_CAR = {"cable": 150_000.0, "consumption_l1": 50_000.0}
ERRORS_SHOWN = 3
STATUS_WAIT = 5.0
SHOWN_CHARS = 200  # of what a passed step saw, in its progress line (the JUnit report has it all)


@dataclass
class StepResult:
    step: Step
    index: int  # 1-based
    state: str = "skipped"  # passed | failed (an expectation) | error (an action) | skipped
    message: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    scenario: Scenario
    results: list[StepResult]
    seed: int | None
    seconds: float = 0.0
    setup_error: str = ""  # broker, CSMS or launcher could not be had: no step ran
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.setup_error and all(r.state == "passed" for r in self.results)

    @property
    def failures(self) -> list[StepResult]:
        return [r for r in self.results if r.state in ("failed", "error")]


class _Failed(Exception):
    """An expectation that did not hold."""


class _Interrupted(Exception):
    """Ctrl+C (or SIGTERM) during a step: it is reported skipped, and the run ends."""


class Runner:
    def __init__(self, scenario: Scenario, env: Environment, observer: Observer, *, seed: int | None = None,
                 scale: float = 1.0, echo: Callable[[str], None] = print) -> None:
        """`env` is open, with `observer` attached."""
        self.scenario = scenario
        self.env = env
        self.seed = seed if seed is not None else scenario.seed
        self.scale = scale
        self.echo = echo
        self.observer = observer
        self.started: list[str] = []  # ids, in start order
        self.cp_types: dict[str, str] = {}
        self._deadline = float("inf")

    # -- the timeline -----------------------------------------------------
    def run(self) -> Report:
        report = Report(self.scenario, [StepResult(s, i) for i, s in enumerate(self.scenario.steps, 1)], self.seed)
        report.properties = {"scale": f"{self.scale:g}", "csms": self.env.csms_url}
        if self.seed is not None:
            report.properties["seed"] = str(self.seed)
        began = time.monotonic()
        if self.scenario.timeout:
            self._deadline = began + self.scenario.timeout
        self._status("running", 0, "")
        for result in report.results:
            self._status("running", result.index, result.step.title())
            self._run_step(result)
            if result.state == "skipped":  # interrupted
                break
            self._echo(result)
            if result.state != "passed":
                break
        report.seconds = time.monotonic() - began
        verdict = "passed" if report.passed else "failed"
        self._status(verdict, len(report.results), report.failures[0].message if report.failures else
                     ("interrupted" if not report.passed else ""), report)
        return report

    def _run_step(self, result: StepResult) -> None:
        step = result.step
        t0 = time.monotonic()
        try:
            if step.is_expectation:
                result.message = self._expect(step, t0)
            else:
                result.message = getattr(self, f"_do_{step.kind}")(step) or ""
            result.state = "passed"
        except _Failed as exc:
            result.state, result.message = "failed", str(exc)
        except ActionFailed as exc:
            result.state, result.message = "error", str(exc)
        except _Interrupted:
            result.state, result.message = "skipped", "interrupted"
        result.seconds = time.monotonic() - t0

    def _echo(self, result: StepResult) -> None:
        total = len(self.scenario.steps)
        mark = {"passed": "ok", "failed": "FAILED", "error": "ERROR"}.get(result.state, result.state)
        head = f"[{result.index}/{total}] line {result.step.line}: {result.step.title()}"
        message = result.message if result.state != "passed" else textwrap.shorten(result.message, SHOWN_CHARS)
        self.echo(f"{head} … {mark} ({result.seconds:.1f} s){': ' + message if message else ''}")

    def _status(self, state: str, step: int, message: str, report: Report | None = None) -> None:
        failures = [{"step": r.index, "line": r.step.line, "title": r.step.title(), "message": r.message}
                    for r in (report.failures if report else [])]
        sent = self.env.mqtt.publish(self.env.topics.scenario_status, {
            "name": self.scenario.name, "state": state, "step": step, "steps": len(self.scenario.steps),
            "message": message, "failures": failures}, retain=True)
        if report is not None:  # the verdict reaches the broker before the run disconnects
            sent.wait_for_publish(STATUS_WAIT)

    # -- expectations -------------------------------------------------------
    def _expect(self, step: Step, began: float) -> str:
        within = 0.0 if step.kind == "expect_latency" else float(step.args.get("within", self.scenario.within))
        ctx = Context(self.observer, step.cps(self.started), datetime.now(UTC))
        deadline = min(began + within, self._deadline)
        while True:
            if step.kind != "expect_status":  # the others read frames
                self.observer.refresh(ctx.cps)
            check = CHECKS[step.kind](step.args, ctx)
            if check.ok:
                return check.seen
            if self.env.stopping:
                raise _Interrupted
            if time.monotonic() >= deadline:
                break
            time.sleep(POLL)
        limit = " (the scenario's timeout)" if deadline == self._deadline else ""
        message = f"expected {check.expected}" + (f" within {within:g} s" if within else "") + \
            f"{limit}; saw {check.seen}"
        if self.observer.errors:
            message += "; errors reported: " + "; ".join(f"{t}: {e}" for t, e in self.observer.errors[-ERRORS_SHOWN:])
        raise _Failed(message)

    # -- actions -------------------------------------------------------------
    def _targets(self, step: Step) -> list[str]:
        cps = step.cps(self.started)
        if not cps:
            raise ActionFailed(f"{step.args.get('cp', 'all')!r} names none of the charge points started")
        return cps

    def _do_start(self, step: Step) -> str:
        args = step.args
        ids = start_ids(args, self.scale)
        cp_type = args.get("type", "AC")
        wanted = definitions(ids, cp_type, args.get("connectors", 1), self.env.csms_url,
                             (args.get("ocpp_version", "1.6"),))
        entries = [{**entry, **args.get("definition", {})} for entry in wanted]
        try:
            for entry in entries:
                ChargePointDefinition.from_dict(entry)
        except PayloadError as exc:
            raise ActionFailed(f"bad charge point definition: {exc}") from None
        options = {key: args[key] for key in ("cps_per_process", "ramp") if key in args}
        self.observer.watch(ids)
        self.started += [i for i in ids if i not in self.started]
        self.cp_types.update(dict.fromkeys(ids, cp_type))
        self.env.start(entries, options)
        return f"{len(ids)} charge point(s): {ids[0]}" + (f" … {ids[-1]}" if len(ids) > 1 else "")

    def _do_kill(self, step: Step) -> str:
        cps = self._targets(step)
        self.env.kill(cps)
        return f"{len(cps)} charge point(s)"

    def _connector_input(self, step: Step, leaf: Callable[[str, int], str], payload: Callable[[str], dict]) -> str:
        cps = self._targets(step)
        connector = step.args.get("connector", 1)
        for cp in cps:
            self.env.publish(leaf(cp, connector), payload(cp))
        return ""

    def _do_plug(self, step: Step) -> str:
        return self._connector_input(step, self.env.topics.connector_car, lambda cp: {
            **(DC_CAR if self.cp_types.get(cp) == "DC" else AC_CAR), **step.args.get("car", {})})

    def _do_unplug(self, step: Step) -> str:
        return self._connector_input(step, self.env.topics.connector_car, lambda cp: {"cable": 0})

    def _do_tag(self, step: Step) -> str:
        token = {"type": step.args["token_type"]} if "token_type" in step.args else {}
        return self._connector_input(step, self.env.topics.connector_id_tag,
                                     lambda cp: {"id": step.args["id"], **token})

    def _do_fault(self, step: Step) -> str:
        return self._connector_input(step, self.env.topics.connector_faulted,
                                     lambda cp: {"faulted": step.args.get("faulted", True)})

    def _do_network(self, step: Step) -> str:
        command = {"type": "network", **{k: v for k, v in step.args.items() if k != "cp"}}
        for cp in self._targets(step):
            self.env.publish(self.env.topics.cp_cmd(cp), command)
        return ""

    def _do_auto(self, step: Step) -> str:
        cps = self._targets(step)
        settings = auto_settings(step.args, self.seed)
        self.env.auto(settings, cps)
        seed = f", seed {settings.seed}" if settings.seed is not None else ""
        return f"{'on' if settings.enabled else 'off'} for {len(cps)} charge point(s){seed}"

    def _do_call(self, step: Step) -> str:
        args = step.args
        answers = []
        for cp in self._targets(step):
            status, reply = self.env.call(cp, args["action"], args.get("payload", {}), args.get("timeout", 30.0))
            response = reply.get("response") if isinstance(reply, dict) else None
            if status != 200 or response is None:
                raise ActionFailed(f"{args['action']} to {cp}: HTTP {status} {reply}")
            if "expect" in args and not contains(response, args["expect"]):
                raise _Failed(f"expected {cp}'s answer to {args['action']} to contain {args['expect']}; "
                              f"saw {response}")
            answers.append(response)
        return f"answered {answers[0]}" if len(answers) == 1 else f"{len(answers)} answered"

    def _do_http(self, step: Step) -> str:
        args = step.args
        method = args.get("method", "POST" if "body" in args else "GET")
        status, reply = self.env.http(method, args["url"], args.get("body"), args.get("headers"),
                                      args.get("timeout", 30.0))
        wanted = args.get("expect_status")
        if (wanted is None and status >= 400) or (wanted is not None and status != wanted):
            raise _Failed(f"expected HTTP {wanted or '< 400'} from {method} {args['url']}; saw {status} {reply}")
        if "expect" in args and not contains(reply, args["expect"]):
            raise _Failed(f"expected the answer of {method} {args['url']} to contain {args['expect']}; saw {reply}")
        return f"HTTP {status}"

    def _do_csms(self, step: Step) -> str:
        if step.args == "stop":
            self.env.stop_csms()
        else:
            self.env.start_csms()
        return ""

    def _do_wait(self, step: Step) -> str:
        self._sleep(float(step.args))
        return ""

    def _sleep(self, seconds: float) -> None:
        end = min(time.monotonic() + seconds, self._deadline)
        while (left := end - time.monotonic()) > 0:
            if self.env.stopping:
                raise _Interrupted
            time.sleep(min(left, POLL))
        if time.monotonic() >= self._deadline:
            raise _Failed(f"the scenario's timeout ({self.scenario.timeout:g} s) is over")
