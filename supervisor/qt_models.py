"""Qt model/view over the Fleet: a table model fed by `Changes`, and its sort/filter proxy;
and the flat fixed-column table base every supervisor table model shares.

The model keeps only the row order (CP ids in order of appearance); every cell is read from
the Fleet when the view asks, so an update is a `dataChanged` on the rows that changed and a
whole retained flood is one `beginInsertRows`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from supervisor.auto_controls import auto_text
from supervisor.fleet_model import Changes, CpEntry, Fleet
from supervisor.palette import cp_colours

COLUMNS = ("Charge point", "State", "Type", "Connectors", "Power", "Security", "Launcher", "Auto")
(ID_COLUMN, STATE_COLUMN, TYPE_COLUMN, CONNECTORS_COLUMN, POWER_COLUMN, SECURITY_COLUMN,
 LAUNCHER_COLUMN, AUTO_COLUMN) = range(len(COLUMNS))
LOCK = "\N{LOCK}"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
CP_ID_ROLE = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


def type_text(entry: CpEntry) -> str:
    if entry.status is None:
        return ""
    return "DC" if entry.is_dc else f"AC {entry.nb_phases}φ"


def connectors_text(entry: CpEntry) -> str:
    """Each status in connector order (`Charging · Preparing`), counted beyond three (`4 Charging · …`)."""
    statuses = [c.status for _, c in sorted(entry.connectors.items())]
    if len(statuses) <= 3:
        return " · ".join(statuses)
    return " · ".join(f"{n} {s}" for s, n in Counter(statuses).most_common())


def security_text(entry: CpEntry) -> str:
    """A lock and the OCPP security profile (`🔒 2`); empty for an unsecured CP (profile 0)."""
    return f"{LOCK} {entry.security_profile}" if entry.security_profile else ""


def power_text(watts: float) -> str:
    return f"{watts / 1000:.1f} kW" if watts else ""


class ColumnTableModel(QAbstractTableModel):
    """A flat table with named, fixed columns: Qt's row/column counts and header from `columns`
    and `row_total()`, so a subclass writes only its rows and `data`."""

    columns: tuple[str, ...] = ()

    def row_total(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self.row_total()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section]
        return None


class FleetTableModel(ColumnTableModel):
    columns = COLUMNS

    def __init__(self, fleet: Fleet, parent: Any = None) -> None:
        super().__init__(parent)
        self.fleet = fleet
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._brushes: dict[str, tuple[QBrush, QBrush]] = {}

    # -- updates ---------------------------------------------------------------
    def reset(self) -> None:
        self.beginResetModel()
        self._ids = list(self.fleet.cps)
        self._reindex()
        self.endResetModel()

    def sync(self, changes: Changes) -> None:
        """Follow the Fleet: drop rows of CPs gone, append new ones, refresh changed rows.

        A connector-only change refreshes only the columns it affects, so a proxy sorted by
        id or state does not re-sort 1,000 rows on every meter update.
        """
        new: set[str] = set()
        if changes.membership:
            gone = sorted((row for cp_id, row in self._rows.items() if cp_id not in self.fleet.cps),
                          reverse=True)
            for first, last in _ranges_descending(gone):
                self.beginRemoveRows(QModelIndex(), first, last)
                del self._ids[first:last + 1]
                self.endRemoveRows()
            if gone:
                self._reindex()
            new = {cp_id for cp_id in self.fleet.cps if cp_id not in self._rows}
            if new:
                start = len(self._ids)
                self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
                self._ids.extend(cp_id for cp_id in self.fleet.cps if cp_id in new)
                self._reindex(start)
                self.endInsertRows()
        self._refresh(changes.statuses - new, 0)
        self._refresh(changes.connectors - changes.statuses - new, CONNECTORS_COLUMN)

    def _refresh(self, cp_ids: set[str], first_column: int) -> None:
        rows = sorted((self._rows[i] for i in cp_ids if i in self._rows), reverse=True)
        for first, last in _ranges_descending(rows):
            self.dataChanged.emit(self.index(first, first_column), self.index(last, len(COLUMNS) - 1))

    def _reindex(self, start: int = 0) -> None:
        if start == 0:
            self._rows = {}
        for row in range(start, len(self._ids)):
            self._rows[self._ids[row]] = row

    def cp_id(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, cp_id: str) -> int | None:
        return self._rows.get(cp_id)

    # -- QAbstractTableModel ---------------------------------------------------
    def row_total(self) -> int:
        return len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.fleet.cps.get(self._ids[index.row()])
        if entry is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(entry, column)
        if role == SORT_ROLE:
            if column == POWER_COLUMN:
                return entry.power_w
            return self._display(entry, column).casefold()
        if role == CP_ID_ROLE:
            return entry.id
        if role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            background, foreground = self._brush(entry.state)
            return background if role == Qt.ItemDataRole.BackgroundRole else foreground
        if role == Qt.ItemDataRole.TextAlignmentRole and column == POWER_COLUMN:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and entry.status is not None:
            reason = f" ({entry.reason})" if entry.reason else ""
            return f"{entry.id} — {entry.state}{reason}\n{entry.status.vendor} {entry.status.model}\n" \
                   f"{entry.status.central_system}"
        return None

    @staticmethod
    def _display(entry: CpEntry, column: int) -> str:
        if column == ID_COLUMN:
            return entry.id
        if column == STATE_COLUMN:
            return entry.state
        if column == TYPE_COLUMN:
            return type_text(entry)
        if column == CONNECTORS_COLUMN:
            return connectors_text(entry)
        if column == SECURITY_COLUMN:
            return security_text(entry)
        if column == LAUNCHER_COLUMN:
            return entry.launcher
        if column == AUTO_COLUMN:
            return auto_text(entry)
        return power_text(entry.power_w)

    def _brush(self, state: str) -> tuple[QBrush, QBrush]:
        brushes = self._brushes.get(state)
        if brushes is None:
            background, foreground = cp_colours(state)
            brushes = self._brushes[state] = (QBrush(QColor(background)), QBrush(QColor(foreground)))
        return brushes


def _ranges_descending(rows: list[int]) -> list[tuple[int, int]]:
    """Contiguous (first, last) ranges of rows sorted in descending order."""
    ranges: list[tuple[int, int]] = []
    for row in rows:
        if ranges and ranges[-1][0] == row + 1:
            ranges[-1] = (row, ranges[-1][1])
        else:
            ranges.append((row, row))
    return ranges


def row_table(model: QAbstractItemModel, selection: QAbstractItemView.SelectionMode, padding: int) -> QTableView:
    """A read-only view of `model` selecting whole rows: no grid, no row numbers, one line a row
    (`padding` pixels above the font's height), so a long table scrolls evenly."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setShowGrid(False)
    table.setWordWrap(False)
    rows = table.verticalHeader()
    rows.setVisible(False)
    rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    rows.setDefaultSectionSize(table.fontMetrics().height() + padding)
    return table


def make_proxy(model: FleetTableModel) -> QSortFilterProxyModel:
    """Case-insensitive filter over every column, numeric sort on power."""
    proxy = QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    proxy.setFilterKeyColumn(-1)
    proxy.setDynamicSortFilter(True)
    return proxy
