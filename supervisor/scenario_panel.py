"""Run a scenario file from the window and watch it: `ocpp-simu scenario run FILE` as a child
process on the supervisor's broker, its retained progress (`<root>/scenario/status`: step of
steps, state, message, failures) and its output, then the verdict from its exit code.

The run is an ordinary CLI process, so what the window shows is what a CI job gets; the charge
points it starts appear in the fleet like any others. Stop sends SIGTERM (the runner stops what
it started and reports the run interrupted); closing the window does the same and waits.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, QProcessEnvironment, Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from cp_simu.broker_access import BrokerAccess

SCENARIO_FILTER = "Scenarios (*.yaml *.yml *.json);;All files (*)"
STOP_WAIT_MS = 15_000  # the runner stops its launcher, CSMS and CPs before it exits
OUTPUT_LINES = 5000
VERDICTS = {0: ("passed", "#2e9e4f"), 1: ("FAILED", "#c62828"), 2: ("invalid scenario file", "#c62828")}


def progress_text(progress: dict[str, Any]) -> str:
    """`smoke — step 3 of 6, running: …` from a scenario status (fields as the runner sends them)."""
    name = str(progress.get("name", "?"))
    state = str(progress.get("state", "?"))
    step, steps = progress.get("step"), progress.get("steps")
    where = f"step {step} of {steps}" if isinstance(step, int) and isinstance(steps, int) else ""
    message = str(progress.get("message") or "")
    return " — ".join(p for p in (name, ", ".join(p for p in (where, state) if p), message) if p)


def failure_lines(progress: dict[str, Any]) -> list[str]:
    failures = progress.get("failures")
    if not isinstance(failures, list):
        return []
    return [f"step {f.get('step', '?')} (line {f.get('line', '?')}): {f.get('title', '')}: {f.get('message', '')}"
            for f in failures if isinstance(f, dict)]


class ScenarioPanel(QWidget):
    finished = Signal(int)  # exit code of the run

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.access: BrokerAccess | None = None  # where the run goes: the window's broker
        self.process: QProcess | None = None
        self.folder = Path.cwd()

        self.file = QLineEdit()
        self.file.setPlaceholderText("scenario file (.yaml / .json)")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self.choose_file)
        self.csms = QLineEdit()
        self.csms.setPlaceholderText("empty: the run starts the demo CSMS")
        self.csms.setToolTip("--csms: the CSMS the scenario's charge points connect to")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m steps")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("No scenario run yet")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict = QLabel()
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setMaximumBlockCount(OUTPUT_LINES)
        self.output.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))

        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.addWidget(QLabel("Scenario"), 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.file, 1)
        row.addWidget(choose)
        row.addWidget(QLabel("CSMS"))
        row.addWidget(self.csms, 1)
        row.addWidget(self.run_button)
        row.addWidget(self.stop_button)
        grid.addLayout(row, 0, 1)
        grid.addWidget(self.progress, 1, 0, 1, 2)
        status = QHBoxLayout()
        status.addWidget(self.verdict)
        status.addWidget(self.status, 1)
        grid.addLayout(status, 2, 0, 1, 2)
        grid.addWidget(self.output, 3, 0, 1, 2)
        grid.setRowStretch(3, 1)

    # -- the run ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def choose_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Run scenario", str(self.folder), SCENARIO_FILTER)
        if name:
            self.file.setText(name)

    def command(self, file: Path) -> list[str]:
        """The arguments after the Python interpreter; the broker's credentials go in the
        environment, never on the command line."""
        assert self.access is not None
        args = ["-m", "cp_simu.cli", "scenario", "run", str(file), "--broker", str(self.access)]
        if csms := self.csms.text().strip():
            args += ["--csms", csms]
        return args

    def run(self) -> bool:
        """Start the run of the chosen file; False (with the reason shown) if it cannot start."""
        file = Path(self.file.text().strip()).expanduser()
        if self.running:
            return False
        if self.access is None:
            self._show_verdict("not connected to a broker", "#c62828")
            return False
        if not file.is_file():
            self._show_verdict(f"no such file: {file}", "#c62828")
            return False
        self.folder = file.resolve().parent
        process = self.process = QProcess(self)
        environment = QProcessEnvironment()
        for key, value in self.access.environment_for_children().items():
            environment.insert(key, value)
        process.setProcessEnvironment(environment)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read_output)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._failed_to_start)
        self.output.clear()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status.setText(f"starting {file.name} …")
        self._show_verdict("running", "#1565c0")
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        process.start(sys.executable, self.command(file))
        return True

    def stop(self) -> None:
        if self.running:
            assert self.process is not None
            self.status.setText("stopping: the run stops what it started …")
            self.process.terminate()

    def shutdown(self) -> None:
        """The window closes: end the run (its own cleanup first) before the window goes."""
        if self.running:
            assert self.process is not None
            self.process.terminate()
            if not self.process.waitForFinished(STOP_WAIT_MS):
                self.process.kill()
                self.process.waitForFinished(2000)

    def show_progress(self, progress: dict[str, Any] | None) -> None:
        """A retained `scenario/status` (None: cleared)."""
        if progress is None:
            return
        step, steps = progress.get("step"), progress.get("steps")
        if isinstance(steps, int) and steps > 0 and isinstance(step, int):
            self.progress.setRange(0, steps)
            self.progress.setValue(max(0, min(step, steps)))
        lines = failure_lines(progress)
        self.status.setText("\n".join([progress_text(progress), *lines]))
        state = progress.get("state")
        if not self.running and state in ("passed", "failed"):  # a run seen on the broker, not ours
            self._show_verdict(str(state) if state == "passed" else "FAILED",
                               VERDICTS[0 if state == "passed" else 1][1])

    # -- process signals ------------------------------------------------------------
    def _read_output(self) -> None:
        assert self.process is not None
        text = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            self.output.appendPlainText(line)

    def _finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        self._read_output()
        words, colour = VERDICTS.get(code, (f"ended with exit code {code}", "#c62828"))
        self._show_verdict(words, colour)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.finished.emit(code)

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._show_verdict(f"could not start the run: {self.process.errorString() if self.process else error}",
                               "#c62828")
            self.run_button.setEnabled(True)
            self.stop_button.setEnabled(False)

    def _show_verdict(self, words: str, colour: str) -> None:
        self.verdict.setText(f'<b style="color:{colour}">{words}</b>')
