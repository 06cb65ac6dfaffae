"""The four expectations, each a pure check of what the observer saw at one instant: the runner
re-checks until it holds or its time is up, then reports `expected` against `seen`."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .observer import ERROR, RESULT, Frame, Observer

SHOWN = 5  # charge points named in a message about many


@dataclass(frozen=True)
class Check:
    ok: bool
    expected: str
    seen: str


@dataclass(frozen=True)
class Context:
    """What an expectation is checked against: the observer, the charge points its `cp`
    selects, and where `since: step` begins."""

    observer: Observer
    cps: list[str]
    step_started: datetime


def contains(actual: Any, expected: Any) -> bool:
    """`expected` is a part of `actual`: objects by their given keys, lists item by item (of
    the same length), recursively; the rest equal (16 == 16.0)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(contains, actual, expected))
    return actual == expected


def _who(cps: list[str]) -> str:
    return cps[0] if len(cps) == 1 else f"{len(cps)} charge points"


def _examples(items: list[str]) -> str:
    more = f", … ({len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _since(args: dict[str, Any], ctx: Context) -> datetime | None:
    return ctx.step_started if args.get("since") == "step" else None


def expect_status(args: dict[str, Any], ctx: Context) -> Check:
    wanted = [args["status"]] if isinstance(args["status"], str) else list(args["status"])
    connector = args.get("connector")
    statuses = {cp: ctx.observer.status(cp, connector) for cp in ctx.cps}
    off = [cp for cp, status in statuses.items() if status not in wanted]
    what = f"connector {connector} of {_who(ctx.cps)}" if connector else _who(ctx.cps)
    expected = f"{what} {' or '.join(wanted)}"
    if not off:
        return Check(True, expected, f"all {' / '.join(sorted(set(statuses.values())))}"
                     if len(ctx.cps) > 1 else str(statuses[ctx.cps[0]]))
    counts = Counter(str(statuses[cp] or "no status yet") for cp in off)
    if len(ctx.cps) == 1:
        return Check(False, expected, counts.most_common(1)[0][0])
    summary = ", ".join(f"{n} {status}" for status, n in counts.most_common())
    examples = _examples([f"{cp} {statuses[cp] or '-'}" for cp in off])
    return Check(False, expected, f"{len(off)}/{len(ctx.cps)} not yet ({summary}): {examples}")


def expect_reply(args: dict[str, Any], ctx: Context) -> Check:
    action, match, want_error = args["action"], args.get("match"), bool(args.get("error", False))
    kind = "a CallError" if want_error else "a CallResult" + (f" containing {match}" if match else "")
    expected = f"{kind} from the CSMS to {action} of {_who(ctx.cps)}"
    missing: list[str] = []
    for cp in ctx.cps:
        calls = ctx.observer.calls(cp, action, "out", _since(args, ctx))
        answers = [a for a in map(ctx.observer.answer, calls) if a is not None]
        if any((a.type == ERROR) if want_error else (a.type == RESULT and contains(a.payload, match or {}))
               for a in answers):
            continue
        if not calls:
            missing.append(f"{cp}: no {action} sent")
        elif not answers:
            missing.append(f"{cp}: {len(calls)} {action} sent, none answered")
        else:
            last = answers[-1]
            shown = f"CallError {last.message[2]}" if last.type == ERROR else f"CallResult {last.payload}"
            missing.append(f"{cp}: answered {shown}")
    if not missing:
        return Check(True, expected, "seen" if len(ctx.cps) == 1 else f"seen for all {len(ctx.cps)}")
    return Check(False, expected, _examples(missing))


def expect_count(args: dict[str, Any], ctx: Context) -> Check:
    action, direction = args["action"], args.get("direction", "out")
    count = sum(len(ctx.observer.calls(cp, action, direction, _since(args, ctx))) for cp in ctx.cps)
    bounds = [f"exactly {args['equals']}"] if "equals" in args else []
    bounds += [f"at least {args['min']}"] if "min" in args else []
    bounds += [f"at most {args['max']}"] if "max" in args else []
    ok = (args.get("equals", count) == count and args.get("min", count) <= count <= args.get("max", count))
    sender = "sent by" if direction == "out" else "received by"
    return Check(ok, f"{' and '.join(bounds)} {action} {sender} {_who(ctx.cps)}", f"{count}")


def _latencies(args: dict[str, Any], ctx: Context) -> list[float]:
    """Milliseconds from each call of the charge points to its answer, by their own clock."""
    found = []
    for cp in ctx.cps:
        for call in ctx.observer.calls(cp, args.get("action"), "out", _since(args, ctx)):
            answer: Frame | None = ctx.observer.answer(call)
            if answer is not None:
                found.append((answer.stamp - call.stamp).total_seconds() * 1000.0)
    return sorted(found)


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of values already sorted."""
    return sorted_values[max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)]


def expect_latency(args: dict[str, Any], ctx: Context) -> Check:
    p, bound, needed = float(args.get("percentile", 95)), float(args["max_ms"]), int(args.get("min_samples", 1))
    values = _latencies(args, ctx)
    what = args.get("action", "every call")
    expected = f"p{p:g} of {what} round trips of {_who(ctx.cps)} ≤ {bound:g} ms over ≥ {needed} answered calls"
    if len(values) < needed:
        return Check(False, expected, f"{len(values)} answered calls")
    measured = percentile(values, p)
    seen = (f"p{p:g} {measured:.0f} ms (p50 {percentile(values, 50):.0f}, max {values[-1]:.0f}) "
            f"over {len(values)} calls")
    return Check(measured <= bound, expected, seen)


CHECKS: dict[str, Callable[[dict[str, Any], Context], Check]] = {
    "expect_status": expect_status, "expect_reply": expect_reply,
    "expect_count": expect_count, "expect_latency": expect_latency,
}
