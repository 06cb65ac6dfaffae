"""Running a scenario from the window: the real `ocpp-simu scenario run` on the window's
broker, its progress from the retained scenario status, the verdict from its exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.main_window import MainWindow

FAILING = """\
name: panel check
timeout: 120
steps:
  - start: {ids: [PANEL_1]}
  - expect_status: {cp: PANEL_1, status: Accepted, within: 60}
  - expect_status: {cp: PANEL_1, connector: 1, status: Faulted, within: 1}
"""


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's default work directory (a new temporary one) lands in the test's own."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return tmp_path


def run(qtbot, window: MainWindow, file: Path, timeout: int) -> int:
    window.scenario.file.setText(str(file))  # (an empty one: the action asks for a file first)
    window.scenario_action.trigger()
    assert window.scenario_dock.isVisible()
    with qtbot.waitSignal(window.scenario.finished, timeout=timeout) as finished:
        window.scenario.run_button.click()
        assert window.scenario.running and not window.scenario.run_button.isEnabled()
    return finished.args[0]


def test_a_failing_scenario_shows_its_progress_the_failure_and_its_charge_points(
        qtbot, broker, csms, private_tmp: Path, make_window) -> None:
    file = private_tmp / "panel.yaml"
    file.write_text(FAILING)
    window = make_window(broker.url)
    window.scenario.csms.setText(csms.url)
    assert run(qtbot, window, file, 120_000) == 1

    panel = window.scenario
    assert "FAILED" in panel.verdict.text() and panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: "failed" in panel.status.text())
    assert (panel.progress.value(), panel.progress.maximum()) == (3, 3)
    assert "panel check — step 3 of 3, failed" in panel.status.text()
    assert "step 3 (line 6)" in panel.status.text() and "Faulted" in panel.status.text()
    assert "FAILED at step 3/3" in panel.output.toPlainText()  # the run's own output
    assert window.fleet.get("PANEL_1") is not None  # its charge point was in the fleet


def test_an_invalid_file_is_refused_with_its_line(qtbot, broker, private_tmp: Path, make_window) -> None:
    file = private_tmp / "bad.yaml"
    file.write_text("name: bad\nsteps:\n  - start: {ids: [X]}\n  - jump: {cp: X}\n")
    window = make_window(broker.url)
    assert run(qtbot, window, file, 30_000) == 2
    assert "invalid scenario file" in window.scenario.verdict.text()
    assert f"{file}:4: steps[1]" in window.scenario.output.toPlainText()  # the file and line of the mistake
    assert window.scenario.progress.value() == 0


def test_nothing_runs_without_a_file(qtbot, broker, private_tmp: Path, make_window) -> None:
    window = make_window(broker.url)
    window.scenario.file.setText(str(private_tmp / "missing.yaml"))
    assert not window.scenario.run()
    assert "no such file" in window.scenario.verdict.text() and not window.scenario.running
