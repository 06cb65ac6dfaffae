"""Reading a scenario file: YAML or JSON, checked against `schema.json`, every problem with
the line it is on.

The file is composed into a YAML node tree once: it gives both the data and the line of
every value, so a schema error deep in step 12 points at its own line, not at the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cp_simu.models import PayloadError

from .model import STEP_KINDS, Scenario, Step, auto_settings, start_ids

DEFAULT_WITHIN = 10.0
JsonPath = tuple[str | int, ...]


class ScenarioError(Exception):
    """A scenario file that cannot run: every problem found, each `FILE:LINE: where: what`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@cache
def schema() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))


@dataclass
class _Lines:
    """The line of every value of the document, by its JSON path."""

    by_path: dict[JsonPath, int] = field(default_factory=dict)
    duplicates: list[tuple[int, str]] = field(default_factory=list)

    def walk(self, node: yaml.Node, path: JsonPath = ()) -> None:
        self.by_path.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                if name in seen:
                    self.duplicates.append((key.start_mark.line + 1, name))
                seen.add(name)
                self.by_path[(*path, name)] = key.start_mark.line + 1
                self.walk(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*path, i))

    def line(self, path: JsonPath) -> int:
        """The line of `path`, else of its nearest parent that has one."""
        while path not in self.by_path and path:
            path = path[:-1]
        return self.by_path.get(path, 1)


def _where(path: JsonPath) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "(top level)"


def _parse(path: Path, text: str) -> tuple[Any, _Lines]:
    lines = _Lines()
    data: Any = None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError([f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"]) from None
        text = text.replace("\t", " ")  # JSON allows tabs between tokens, YAML does not: same lines
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if path.suffix.lower() != ".json":
            data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ScenarioError([f"{path}:{where}: not valid YAML: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{path}:1: not valid YAML: {exc}"]) from None
    finally:
        loader.dispose()
    if node is not None:
        lines.walk(node)
    return data, lines


def _schema_message(error: jsonschema.ValidationError) -> str:
    message = error.message
    if error.validator == "enum" and isinstance(error.instance, int | float) and \
            str(error.instance) in map(str, error.validator_value):
        message += f' (write it as a string: "{error.instance}")'  # YAML reads 1.6 as a number
    return message


def _schema_problems(data: Any, lines: _Lines, path: Path) -> Iterator[tuple[int, str]]:
    validator = jsonschema.Draft202012Validator(schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: (lines.line(tuple(e.absolute_path)), e.message)):
        where = tuple(error.absolute_path)
        yield lines.line(where), f"{path}:{lines.line(where)}: {_where(where)}: {_schema_message(error)}"


def _step_problems(data: dict[str, Any], lines: _Lines, path: Path) -> Iterator[tuple[int, str]]:
    """What the schema cannot say: one action per step, ids given one way, a count bound,
    charge points that some earlier step starts."""
    started: list[str] = []
    for i, raw in enumerate(data["steps"]):
        at = lines.line(("steps", i))
        kinds = [k for k in raw if k != "name"]
        if len(kinds) != 1:
            found = ", ".join(kinds) or "none"
            yield at, (f"{path}:{at}: steps[{i}]: a step has exactly one action of {', '.join(STEP_KINDS)} "
                       f"(found: {found})")
            continue
        kind, args = kinds[0], raw[kinds[0]]
        where = f"{path}:{at}: steps[{i}].{kind}"
        if kind == "start":
            if ("ids" in args) == ("pattern" in args or "count" in args) or ("pattern" in args) != ("count" in args):
                yield at, f"{where}: give either `ids`, or `pattern` and `count`"
                continue
            ids = start_ids(args)
            if bad := next((cp for cp in ids if not cp or any(c in cp for c in "/#+ ")), None):
                yield at, f"{where}: the pattern makes an invalid id {bad!r}"
            started += ids
        elif kind == "expect_count" and not {"equals", "min", "max"} & set(args):
            yield at, f"{where}: give `equals`, `min` or `max`"
        elif kind == "auto":
            try:
                auto_settings(args)
            except PayloadError as exc:
                yield at, f"{where}: {exc}"
        if isinstance(args, dict) and "cp" in args:
            step = Step(kind, args, at)
            if not step.cps(started):
                yield at, f"{where}: {args['cp']!r} names no charge point an earlier `start` step starts"


def load(path: Path | str) -> Scenario:
    """The scenario in `path`, or a ScenarioError listing every problem with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read: {exc}"]) from None
    data, lines = _parse(path, text)
    problems = [(line, f"{path}:{line}: duplicate key {name!r}") for line, name in lines.duplicates]
    problems += list(_schema_problems(data, lines, path))
    if not problems:
        problems += list(_step_problems(data, lines, path))
    if problems:
        raise ScenarioError([text for _, text in sorted(problems, key=lambda p: p[0])])
    steps = []
    for i, raw in enumerate(data["steps"]):
        kind = next(k for k in raw if k != "name")
        steps.append(Step(kind, raw[kind], lines.line(("steps", i)), raw.get("name", "")))
    return Scenario(name=data.get("name") or path.stem, description=data.get("description", ""),
                    seed=data.get("seed"), timeout=data.get("timeout"),
                    within=float(data.get("within", DEFAULT_WITHIN)), steps=steps, path=path)
