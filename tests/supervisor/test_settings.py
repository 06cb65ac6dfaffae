"""The supervisor remembers its broker, layout, column widths and setup folder between runs.

Settings live in a per-test directory (the autouse `isolated_settings` fixture): QSettings'
path for windows opened here, XDG_CONFIG_HOME for the supervisor processes started here.
"""

from __future__ import annotations

import signal
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from supervisor.main_window import MainWindow
from supervisor.qt_models import CONNECTORS_COLUMN, STATE_COLUMN
from tests.procs import managed, ocpp_simu, wait_until


def _settings_file(config: Path) -> Path:
    return config / "ocpp-simu" / "supervisor.ini"


def test_a_new_window_opens_as_the_last_one_was_left(make_window, broker, tmp_path: Path, qtbot,
                                                      isolated_settings: Path) -> None:
    first = make_window(broker.url)
    first.resize(760, 560)  # within the offscreen screen (800 x 600)
    first.splitter.setSizes([300, 460])
    first.table.setColumnWidth(STATE_COLUMN, 181)
    first.table.setColumnWidth(CONNECTORS_COLUMN, 233)
    first.findChild(QDockWidget, "log_dock").hide()
    fleets = tmp_path / "fleets"
    fleets.mkdir()
    assert first.save_setup(fleets / "depot.json")
    first.close()
    assert _settings_file(isolated_settings).is_file()

    second = MainWindow("mqtt://127.0.0.1:1")  # not connected: only what was remembered
    qtbot.addWidget(second)
    second.show()
    assert (second.width(), second.height()) == (760, 560)
    assert second.table.columnWidth(STATE_COLUMN) == 181
    assert second.table.columnWidth(CONNECTORS_COLUMN) == 233
    assert abs(second.splitter.sizes()[0] - 300) <= 10
    assert not second.findChild(QDockWidget, "log_dock").isVisible()
    assert second.setup_folder() == fleets.resolve()


def test_the_supervisor_connects_to_the_last_broker_it_used(broker, tmp_path: Path,
                                                             isolated_settings: Path) -> None:
    port = broker.port
    with_credentials = f"mqtt://alice:s3cret-pw@127.0.0.1:{port}"
    for run, args in enumerate((["--broker", with_credentials], [])):
        with managed(ocpp_simu("-v", "supervisor", *args), log=tmp_path / f"supervisor-{run}.log",
                     env={"QT_QPA_PLATFORM": "offscreen"}) as supervisor:
            wait_until(lambda s=supervisor: f"connected to MQTT broker mqtt://127.0.0.1:{port}" in s.output()
                       or not s.alive(), 30, what=f"run {run}: a connection to the broker on port {port}")
            assert supervisor.alive(), supervisor.output()
            supervisor.signal(signal.SIGINT)
            assert supervisor.wait(20) == 0, supervisor.output()
        remembered = _settings_file(isolated_settings).read_text()
        assert f"mqtt://127.0.0.1:{port}" in remembered
        assert "s3cret-pw" not in remembered and "alice" not in remembered


def test_every_panel_is_a_dock_the_view_menu_shows_and_hides(make_window, qtbot) -> None:
    window = make_window("mqtt://127.0.0.1:1", connect=False)
    docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
    assert set(docks) == {"log_dock", "launchers_dock", "scenario_dock", "charts_dock"}  # the layout's keys
    moves = QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetClosable
    assert all(d.features() == moves for d in docks.values())
    assert [a.text() for a in window.view_menu.actions()] == ["Find", "Events and errors", "Launchers",
                                                              "Scenario", "Charts"]
    assert window.tabifiedDockWidgets(docks["log_dock"]) == [docks["launchers_dock"], docks["scenario_dock"]]
    assert window.dockWidgetArea(docks["charts_dock"]) == Qt.DockWidgetArea.RightDockWidgetArea
    assert docks["log_dock"].isVisible() and not docks["charts_dock"].isVisible()
    window.charts_action.trigger()  # its shortcut and the fleet bar's button are the View menu's entry
    assert docks["charts_dock"].isVisible() and window.charts_action.shortcut().toString() == "Ctrl+Shift+C"
    assert not docks["launchers_dock"].isHidden()  # a tab behind the events
    next(a for a in window.view_menu.actions() if a.text() == "Launchers").trigger()
    assert docks["launchers_dock"].isHidden()
