"""The supervisor's table models as a view reads them: named columns, one row per CP or frame,
flat (no child rows), headers only across the top."""

from __future__ import annotations

import json

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from cp_simu.models import ChargePointDefinition, CpStatus
from cp_simu.topics import Topics
from supervisor.fleet_model import Fleet, parse_message
from supervisor.message_table import OcppMessageModel, OcppMessagesDialog
from supervisor.ocpp_frames import OcppFrame
from supervisor.qt_models import FleetTableModel

T = Topics()


def headers(model: QAbstractItemModel) -> list[str]:
    return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


def test_fleet_table_has_its_columns_and_a_row_per_charge_point(qtbot) -> None:
    fleet = Fleet()
    for cp_id in ("cp_a", "cp_b", "cp_c"):
        payload = CpStatus.for_definition(ChargePointDefinition(id=cp_id), 42, "Accepted").to_json().encode()
        fleet.apply([parse_message(T, T.cp_status(cp_id), payload)])
    model = FleetTableModel(fleet)
    model.reset()
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    assert headers(model) == ["Charge point", "State", "Type", "Connectors", "Power", "Security", "Launcher",
                              "Auto"]
    assert (model.rowCount(), model.columnCount()) == (3, 8)
    assert [model.index(r, 0).data() for r in range(3)] == ["cp_a", "cp_b", "cp_c"]
    assert model.rowCount(model.index(0, 0)) == 0 and model.columnCount(model.index(0, 0)) == 0  # flat
    assert model.headerData(0, Qt.Orientation.Vertical) is None
    assert view.horizontalHeader().count() == 8


def test_message_table_has_its_columns_and_a_row_per_frame(qtbot) -> None:
    model = OcppMessageModel()
    frames = [OcppFrame.parse(json.dumps({"time": "2026-03-01T08:15:02.250Z", "direction": d, "message": m}).encode())
              for d, m in (("out", [2, "1", "Heartbeat", {}]), ("in", [3, "1", {"currentTime": "t"}]))]
    model.append(frames)
    assert headers(model) == ["Time", "Dir", "Type", "Action", "Summary"]
    assert (model.rowCount(), model.columnCount()) == (2, 5)
    assert [model.index(r, 3).data() for r in range(2)] == ["Heartbeat", "Heartbeat"]
    assert model.rowCount(model.index(0, 0)) == 0 and model.columnCount(model.index(0, 0)) == 0
    assert model.headerData(1, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) is None


def test_the_fleet_list_and_the_message_table_select_whole_rows_read_only(make_window, qtbot) -> None:
    window = make_window("mqtt://127.0.0.1:1", connect=False)
    dialog = OcppMessagesDialog("cp_x", "cp_simu/cps/cp_x/ocpp_log", window)
    qtbot.addWidget(dialog)
    modes = QAbstractItemView.SelectionMode
    single, extended = modes.SingleSelection, modes.ExtendedSelection
    for table, selection in ((window.table, extended), (dialog.table, single)):
        assert table.selectionMode() == selection
        assert table.selectionBehavior() == QAbstractItemView.SelectionBehavior.SelectRows
        assert table.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
        assert not table.showGrid() and not table.wordWrap() and not table.verticalHeader().isVisible()
        assert table.verticalHeader().sectionResizeMode(0) == QHeaderView.ResizeMode.Fixed
        assert table.verticalHeader().defaultSectionSize() > table.fontMetrics().height()
    assert window.table.isSortingEnabled() and not dialog.table.isSortingEnabled()
    assert window.table.model() is window.proxy and dialog.table.model() is dialog.proxy
