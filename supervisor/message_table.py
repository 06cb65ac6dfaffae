"""The OCPP messages of one charge point as a table: time, direction, type, action, summary;
the whole frame of the selected row below; a filter by action.

Fed by the CP's `ocpp_log` topic. The model keeps at most MAX_ROWS frames (the oldest go in
chunks), appends a batch with one `beginInsertRows`, and the view follows the newest row
only while the user has not scrolled away from it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from supervisor.ocpp_frames import CallPairing, OcppFrame
from supervisor.qt_models import ColumnTableModel, Index, row_table

COLUMNS = ("Time", "Dir", "Type", "Action", "Summary")
TIME_COLUMN, DIRECTION_COLUMN, TYPE_COLUMN, ACTION_COLUMN, SUMMARY_COLUMN = range(len(COLUMNS))
MAX_ROWS = 5000
TRIM_ROWS = 500  # dropped at once when MAX_ROWS is passed
ALL_ACTIONS = "All actions"
ERROR_COLOUR = "#c62828"


class OcppMessageModel(ColumnTableModel):
    columns = COLUMNS

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[OcppFrame, str]] = []  # frame, its action (a result's from its call)
        self.actions: set[str] = set()
        self._pairing = CallPairing()
        self._error_brush = QBrush(QColor(ERROR_COLOUR))

    def append(self, frames: list[OcppFrame]) -> set[str]:
        """Add a batch; returns the actions never seen before (for the filter)."""
        if not frames:
            return set()
        new_rows = [(frame, self._pairing.action(frame)) for frame in frames]
        first = len(self.rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new_rows) - 1)
        self.rows.extend(new_rows)
        self.endInsertRows()
        if len(self.rows) > MAX_ROWS:
            drop = len(self.rows) - MAX_ROWS + TRIM_ROWS
            self.beginRemoveRows(QModelIndex(), 0, drop - 1)
            del self.rows[:drop]
            self.endRemoveRows()
        new_actions = {action for _, action in new_rows if action} - self.actions
        self.actions |= new_actions
        return new_actions

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self.endResetModel()

    def frame(self, row: int) -> OcppFrame:
        return self.rows[row][0]

    def row_total(self) -> int:
        return len(self.rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        frame, action = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (frame.clock, frame.arrow, frame.kind, action, frame.summary)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == TIME_COLUMN:
                return frame.time
            if column == DIRECTION_COLUMN:
                return {"out": "sent by the charge point", "in": "received by the charge point"}.get(
                    frame.direction, frame.direction)
            return None
        if role == Qt.ItemDataRole.ForegroundRole and frame.kind == "Error":
            return self._error_brush
        return None


class OcppMessagesDialog(QDialog):
    """Live OCPP messages of one CP, from its `ocpp_log` topic when the CP publishes one."""

    def __init__(self, cp_id: str, topic: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cp_id = cp_id
        self.setWindowTitle(f"OCPP messages — {cp_id}")
        self.model = OcppMessageModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(ACTION_COLUMN)  # a result's action is its call's

        self.action_filter = QComboBox()
        self.action_filter.addItem(ALL_ACTIONS)
        self.action_filter.setMinimumContentsLength(24)
        self.action_filter.currentTextChanged.connect(self._filter)
        self.count = QLabel()
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)

        table = self.table = row_table(self.proxy, QAbstractItemView.SelectionMode.SingleSelection, 6)
        header = table.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in ((TIME_COLUMN, 100), (DIRECTION_COLUMN, 36), (TYPE_COLUMN, 56), (ACTION_COLUMN, 190)):
            table.setColumnWidth(column, width)
        table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.detail.setPlaceholderText(f"Listening on {topic}. Select a message to see the whole frame.")

        top = QHBoxLayout()
        top.addWidget(QLabel("Action"))
        top.addWidget(self.action_filter)
        top.addWidget(self.count, 1)
        top.addWidget(clear)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(table)
        splitter.addWidget(self.detail)
        splitter.setSizes([380, 180])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter)
        self.resize(960, 600)
        self._show_count()

    def append(self, frames: list[OcppFrame]) -> None:
        bar = self.table.verticalScrollBar()
        at_end = bar.value() == bar.maximum()
        for action in sorted(self.model.append(frames)):
            self._add_action(action)
        if at_end:
            self.table.scrollToBottom()
        self._show_count()

    def _filter(self, action: str) -> None:
        pattern = "" if action == ALL_ACTIONS else f"^{QRegularExpression.escape(action)}$"
        self.proxy.setFilterRegularExpression(QRegularExpression(pattern))
        self._show_count()

    def _add_action(self, action: str) -> None:
        """Insert into the filter's list in alphabetical order (after "All actions")."""
        position = 1
        while position < self.action_filter.count() and self.action_filter.itemText(position) < action:
            position += 1
        self.action_filter.insertItem(position, action)

    def clear(self) -> None:
        self.model.clear()
        self.detail.clear()
        self._show_count()

    def selected_frame(self) -> OcppFrame | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.model.frame(self.proxy.mapToSource(rows[0]).row())

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        frame = self.selected_frame()
        self.detail.setPlainText(frame.pretty() if frame else "")

    def _show_count(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count.setText(f"{total} messages" if shown == total else f"{shown} of {total} messages")
