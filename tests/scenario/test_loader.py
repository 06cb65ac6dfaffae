"""Scenario files: the shipped ones are valid, and every kind of mistake is reported with the
line it is on (YAML and JSON), all of them at once, before anything runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scenario.loader import ScenarioError, load
from tests.procs import ocpp_simu
from tests.scenario.conftest import EXAMPLES


def _problems(tmp_path: Path, text: str, name: str = "bad.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load(path)
    return caught.value.problems


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_examples_are_valid(example: Path):
    scenario = load(example)
    assert scenario.steps and scenario.name == example.stem


def test_yaml_syntax_error_names_its_line_and_column(tmp_path: Path):
    problems = _problems(tmp_path, "name: x\nsteps:\n  - start: {ids: [A]\n  - wait: 1\n")
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'bad.yaml'}:4:")
    assert "not valid YAML" in problems[0]


def test_json_syntax_error_names_its_line(tmp_path: Path):
    problems = _problems(tmp_path, '{\n  "steps": [\n    {"wait": 1},\n  ]\n}\n', "bad.json")
    assert problems[0].startswith(f"{tmp_path / 'bad.json'}:4:") and "not valid JSON" in problems[0]


def test_every_schema_error_with_its_own_line(tmp_path: Path):
    text = """name: several mistakes
steps:
  - start: {ids: [CP_1]}
  - plgu: {cp: CP_1}
  - expect_status: {cp: CP_1, status: Charging, within: soon}
  - tag: {cp: CP_1, connector: 0, id: T1}
  - start: {ids: [CP_2], ocpp_version: 1.6}
"""
    problems = _problems(tmp_path, text)
    by_line = {int(p.split(":")[1]): p for p in problems}
    assert set(by_line) == {4, 5, 6, 7}, problems
    assert "steps[1]" in by_line[4] and "'plgu' was unexpected" in by_line[4]
    assert "steps[2].expect_status.within" in by_line[5] and "'soon' is not of type 'number'" in by_line[5]
    assert "steps[3].tag.connector" in by_line[6] and "minimum of 1" in by_line[6]
    assert 'write it as a string: "1.6"' in by_line[7]


def test_json_files_get_lines_too(tmp_path: Path):
    data = {"steps": [{"start": {"ids": ["CP_1"]}}, {"wait": -1}]}
    problems = _problems(tmp_path, json.dumps(data, indent="\t"), "bad.json")
    assert len(problems) == 1 and ":11: steps[1].wait: -1 is less than the minimum of 0" in problems[0], problems


def test_rules_beyond_the_schema(tmp_path: Path):
    text = """steps:
  - start: {ids: [CP_1], pattern: "X_{n}", count: 3}
  - start: {pattern: "CP_{n:02d}", count: 2}
  - plug: {cp: CP_9}
  - expect_count: {cp: "CP_*", action: Heartbeat}
  - {wait: 1, tag: {cp: CP_01, id: T}}
  - {name: nothing}
"""
    problems = _problems(tmp_path, text)
    assert [int(p.split(":")[1]) for p in problems] == [2, 4, 5, 6, 7], problems
    assert "give either `ids`, or `pattern` and `count`" in problems[0]
    assert "'CP_9' names no charge point an earlier `start` step starts" in problems[1]
    assert "give `equals`, `min` or `max`" in problems[2]
    assert "exactly one action" in problems[3] and "found: wait, tag" in problems[3]
    assert "found: none" in problems[4]


def test_auto_settings_are_checked_as_the_launcher_would(tmp_path: Path):
    problems = _problems(tmp_path, "steps:\n  - start: {ids: [A]}\n  - wait: 1\n"
                                   "  - auto: {cp: A, rate: 0, dwell: [60, 30]}\n")
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'bad.yaml'}:4: steps[2].auto: rate"), problems


def test_duplicate_key_is_an_error(tmp_path: Path):
    problems = _problems(tmp_path, "steps:\n  - wait: 1\nsteps:\n  - wait: 2\n")
    assert problems == [f"{tmp_path / 'bad.yaml'}:3: duplicate key 'steps'"]


def test_templates_make_ids_and_globs_select_them(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text('steps:\n  - start: {pattern: "R_{n:03d}", first: 9, count: 3}\n'
                    '  - expect_status: {cp: "R_01*", status: Accepted}\n')
    scenario = load(path)
    assert scenario.name == "ok" and scenario.within == 10.0
    start, expect = scenario.steps
    assert (start.line, expect.line) == (2, 3)
    assert expect.cps(["R_009", "R_010", "R_011"]) == ["R_010", "R_011"]


def test_validate_command_exit_codes(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - wait: x\n")
    done = subprocess.run(ocpp_simu("scenario", "validate", str(bad)), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{bad}:2: steps[0].wait: 'x' is not of type 'number'" in done.stderr
    assert "nothing was run" in done.stderr
    ok = subprocess.run(ocpp_simu("scenario", "validate", str(EXAMPLES / "smoke.yaml")), capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0 and "valid scenario 'smoke'" in ok.stdout
