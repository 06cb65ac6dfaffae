"""The launchers on the broker: the unnamed one (`<root>/launcher/…`) and named ones
(`<root>/launchers/<name>/…`, one per host) — their list, the connection bar's summary, and
the Add dialog's choice of where a new charge point starts (and how many share a process)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHeaderView,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
)

from cp_simu.models import MAX_CPS_PER_PROCESS
from supervisor.fleet_model import UNKNOWN, LauncherEntry

COLUMNS = ("Launcher", "Status", "Host", "PID", "Running", "Spawn mode", "Work directory", "Version")
INFO_KEYS = ("host", "pid", "running", "spawn_mode", "workdir", "version")


def ordered(launchers: Iterable[LauncherEntry]) -> list[LauncherEntry]:
    """The unnamed one first, then by name."""
    return sorted(launchers, key=lambda e: (e.name != "", e.name.casefold()))


def summary(launchers: Iterable[LauncherEntry]) -> tuple[str, str]:
    """The connection bar's words for the launchers and the state its colour follows:
    one launcher → its state (`alive`); several → `2 alive · 1 dead` (coloured as the worst)."""
    entries = list(launchers)
    if not entries:
        return "unknown", UNKNOWN
    if len(entries) == 1:
        return entries[0].status.lower(), entries[0].status
    counts = Counter(e.status for e in entries)
    text = " · ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items(), key=lambda kv: kv[0] != "Alive"))
    worst = "Dead" if counts.get("Dead") else "Alive" if counts.get("Alive") == len(entries) else UNKNOWN
    return text, worst


def tooltip(launchers: Iterable[LauncherEntry]) -> str:
    lines = []
    for entry in ordered(launchers):
        info = entry.info
        details = ", ".join(f"{k} {info[k]}" for k in INFO_KEYS if k in info)
        lines.append(f"{entry.title}: {entry.status}" + (f" — {details}" if details else ""))
    return "\n".join(lines) or "launcher statuses from <root>/launcher/status and <root>/launchers/<name>/status"


class LauncherTable(QTableWidget):
    """One row per launcher (a handful at most: rebuilt whenever one changes)."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setWordWrap(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def show_launchers(self, launchers: Iterable[LauncherEntry]) -> None:
        entries = ordered(launchers)
        self.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            info = entry.info
            cells = (entry.title, entry.status, *(str(info.get(k, "")) for k in INFO_KEYS))
            for column, text in enumerate(cells):
                self.setItem(row, column, QTableWidgetItem(text))

    def rows(self) -> list[list[str]]:
        return [[self.item(r, c).text() for c in range(self.columnCount())] for r in range(self.rowCount())]


class LaunchTargetFields:
    """The Add dialog's rows: which launcher starts the CP, and the CPs per process it asks for.
    `preferred`: the launcher the last Add went to."""

    def __init__(self, launchers: Iterable[LauncherEntry], preferred: str | None = None) -> None:
        entries = ordered(launchers)
        self.launcher = QComboBox()
        self.launcher.setToolTip("The launcher that starts the charge point (one per host)")
        if not any(e.name == "" for e in entries):  # the unnamed one is always a possible target
            entries.insert(0, LauncherEntry("", UNKNOWN))
        for entry in entries:
            self.launcher.addItem(f"{entry.title} — {entry.status.lower()}", entry.name)
        live = [i for i, e in enumerate(entries) if e.alive]
        index = self.launcher.findData(preferred)  # the last one used while it is alive,
        if index not in live:
            index = live[0] if live else max(index, 0)  # else the first live one
        self.launcher.setCurrentIndex(index)
        self.cps_per_process = QSpinBox(minimum=1, maximum=MAX_CPS_PER_PROCESS)
        self.cps_per_process.setToolTip("1: a process of its own (the default). More: the launcher packs up to "
                                        "that many charge points into one process (packed mode)")

    def add_rows(self, form: QFormLayout) -> None:
        form.addRow("Launcher", self.launcher)
        form.addRow("CPs per process", self.cps_per_process)

    def target(self) -> str:
        return str(self.launcher.currentData() or "")

    def packing(self) -> int | None:
        """`cps_per_process` for the start command: None for one process per CP."""
        value = self.cps_per_process.value()
        return value if value > 1 else None
