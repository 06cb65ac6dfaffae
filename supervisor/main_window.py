"""The supervisor's main window: broker bar, fleet list, charge point panel, event log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import QByteArray, QItemSelection, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from cp_simu.broker_access import BrokerAccess
from cp_simu.models import ChargePointDefinition, PayloadError
from cp_simu.topics import DEFAULT_ROOT, Topics
from cp_simu.urls import BrokerUrl
from supervisor import setup_files
from supervisor.auto_controls import AutoDialog, auto_text
from supervisor.bridge import ConnectionState, MqttBridge
from supervisor.charts import ChartsPanel
from supervisor.cp_panel import CpPanel
from supervisor.dialogs import AddCpDialog, OcppConfigDialog
from supervisor.fleet_model import (
    Changes,
    CpEntry,
    Event,
    Fleet,
    Notice,
    OcppConfigEvent,
    OcppLogEvent,
    ScenarioEvent,
)
from supervisor.fleet_ops import FleetOps
from supervisor.history import History
from supervisor.launchers import LauncherTable, LaunchTargetFields
from supervisor.launchers import summary as launchers_summary
from supervisor.launchers import tooltip as launchers_tooltip
from supervisor.message_table import OcppMessagesDialog
from supervisor.ocpp_frames import OcppFrame
from supervisor.palette import CP_STATE_COLOURS, INDICATOR_COLOURS
from supervisor.qt_models import (
    AUTO_COLUMN,
    CONNECTORS_COLUMN,
    ID_COLUMN,
    LAUNCHER_COLUMN,
    POWER_COLUMN,
    SECURITY_COLUMN,
    STATE_COLUMN,
    TYPE_COLUMN,
    FleetTableModel,
    make_proxy,
    row_table,
)
from supervisor.scenario_panel import ScenarioPanel
from supervisor.security_widgets import BrokerSecurityDialog
from supervisor.settings import SupervisorSettings

log = logging.getLogger(__name__)

SWEEP_DELAY_MS = 3000  # after a reconnection, CPs not re-announced by then were removed meanwhile
OPS_POLL_MS = 250
CHARTS_TICK_MS = 1000  # the fleet power is sampled and the charts on screen redrawn
DEFAULT_CSMS = "ws://127.0.0.1:9000/"
SETUP_FILTER = "Setup files (*.json);;All files (*)"
View = TypeVar("View", bound=QDialog)  # a charge point's window on one of its topics


class MainWindow(QMainWindow):
    def __init__(self, broker: str | BrokerAccess, root: str = DEFAULT_ROOT,
                 settings: SupervisorSettings | None = None) -> None:
        super().__init__()
        self.root = root
        self.settings = settings or SupervisorSettings()
        self.broker_access = BrokerAccess.of(broker)  # credentials and TLS files, in memory only
        # Definitions this window started (Add, Load): the security keys a CP status lacks.
        self.started: dict[str, ChargePointDefinition] = {}
        self.topics = Topics(root)
        self.fleet = Fleet()
        self.history = History()
        self.bridge = MqttBridge(self)
        self.ops = FleetOps(self.fleet, self.topics, self.bridge.publish, self.notice)
        self.model = FleetTableModel(self.fleet, self)
        self.proxy = make_proxy(self.model)
        self.config_dialogs: dict[str, OcppConfigDialog] = {}
        self.log_dialogs: dict[str, OcppMessagesDialog] = {}
        self.add_dialog: AddCpDialog | None = None
        self._add_target: str | None = None  # the launcher the last Add went to
        self._select_when_seen: str | None = None
        self._ops_timer = QTimer(self, interval=OPS_POLL_MS)
        self._ops_timer.timeout.connect(self._poll_ops)

        self.setWindowTitle("ocpp-simu supervisor")
        self._build_connection_bar(str(self.broker_access))
        self._build_actions()
        self._build_central()
        self._build_log()
        self._build_charts()
        self.resize(1320, 820)
        self._restore_layout()

        self.bridge.events.connect(self._on_events)
        self.bridge.state_changed.connect(self._on_state)
        self._on_state(self.bridge.state)

    # -- construction ------------------------------------------------------------
    def _build_connection_bar(self, broker_url: str) -> None:
        bar = QToolBar("Connection", self)
        bar.setObjectName("connection_bar")
        bar.setMovable(False)
        self.url_edit = QLineEdit(broker_url)
        self.url_edit.setMinimumWidth(260)
        self.url_edit.setMaximumWidth(480)
        self.url_edit.setToolTip("mqtt://host:port, mqtts:// for TLS, tcp:// accepted")
        self.url_edit.returnPressed.connect(self.connect_broker)
        self.connect_button = QPushButton("Connect")
        self.connect_button.clicked.connect(self.toggle_connection)
        self.security_button = QPushButton("Security…")
        self.security_button.setToolTip("MQTT user name, password and TLS files of the broker connection")
        self.security_button.clicked.connect(self.edit_broker_security)
        self.broker_indicator = QLabel()
        self.launcher_indicator = QLabel()
        bar.addWidget(QLabel(" Broker "))
        bar.addWidget(self.url_edit)
        bar.addWidget(self.security_button)
        bar.addWidget(self.connect_button)
        bar.addSeparator()
        bar.addWidget(self.broker_indicator)
        bar.addSeparator()
        bar.addWidget(self.launcher_indicator)
        self.addToolBar(bar)
        self.addToolBarBreak()

    def _action(self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey | str, tip: str,
                slot: Callable[[], object]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
        action.setStatusTip(tip)
        action.triggered.connect(lambda: slot())
        return action

    def _build_actions(self) -> None:
        self.add_action = self._action("Add CP", "Ctrl+N", "Define and start a new charge point", self.add_cp)
        self.remove_action = self._action("Remove CP", QKeySequence.StandardKey.Delete,
                                          "Kill the selected charge points and delete them", self.remove_selected)
        self.kill_action = self._action("Kill", "Ctrl+K", "Kill the selected charge points", self.kill_selected)
        self.restart_action = self._action("Restart", "Ctrl+R", "Restart the selected charge points "
                                           "(killing live ones first)", self.restart_selected)
        self.kill_all_action = self._action("Kill all", "Ctrl+Shift+K", "Kill every charge point",
                                            self.kill_all)
        self.restart_all_action = self._action("Restart all", "Ctrl+Shift+R", "Restart every charge point",
                                               self.restart_all)
        self.config_action = self._action("OCPP config", "Ctrl+G", "Show the selected charge point's OCPP "
                                          "configuration keys", self.show_ocpp_config)
        self.messages_action = self._action("OCPP messages", "Ctrl+M", "Show the selected charge point's "
                                            "OCPP messages (when it publishes them)", self.show_ocpp_log)
        self.auto_action = self._action("Auto sessions…", "Ctrl+Shift+A", "Automatic sessions on or off for the "
                                        "selected charge points or the whole fleet", self.automatic_sessions)
        self.load_action = self._action("Load setup…", QKeySequence.StandardKey.Open,
                                        "Replace the fleet by the charge points of a setup file", self.load_setup)
        self.save_action = self._action("Save setup…", QKeySequence.StandardKey.Save,
                                        "Save the fleet as a setup file (reference format)", self.save_setup)
        self.filter_action = self._action("Find", QKeySequence.StandardKey.Find, "Filter the fleet list",
                                          self._focus_filter)
        quit_action = self._action("Quit", QKeySequence.StandardKey.Quit, "Close the supervisor", self.close)

        bar = self.fleet_bar = QToolBar("Fleet", self)
        bar.setObjectName("fleet_bar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        groups = ((self.add_action, self.remove_action, self.kill_action, self.restart_action),
                  (self.kill_all_action, self.restart_all_action),
                  (self.config_action, self.messages_action, self.auto_action),
                  (self.load_action, self.save_action))
        for group in groups:
            bar.addActions(list(group))
            bar.addSeparator()
        self.addToolBar(bar)

        menus = self.menuBar()
        file_menu = self.file_menu = menus.addMenu("&File")
        file_menu.addActions([self.load_action, self.save_action])
        self.save_secrets_action = QAction("Save passwords in setup files", self, checkable=True)
        self.save_secrets_action.setStatusTip("Off: saved setup files hold no basic-auth password and no "
                                              "password of a CSMS URL")
        file_menu.addAction(self.save_secrets_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        cp_menu = menus.addMenu("&Charge points")
        for group in groups[:3]:
            cp_menu.addActions(list(group))
            cp_menu.addSeparator()
        self.view_menu = menus.addMenu("&View")
        self.view_menu.addAction(self.filter_action)

    def _build_central(self) -> None:
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: id, state, type, connector status…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._filter_changed)
        self.count_label = QLabel()
        self.count_label.setWordWrap(True)

        table = self.table = row_table(self.proxy, QAbstractItemView.SelectionMode.ExtendedSelection, 8)
        table.setSortingEnabled(True)
        table.sortByColumn(ID_COLUMN, Qt.SortOrder.AscendingOrder)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(ID_COLUMN, QHeaderView.ResizeMode.Stretch)
        for column, width in ((STATE_COLUMN, 100), (TYPE_COLUMN, 58), (CONNECTORS_COLUMN, 170),
                              (POWER_COLUMN, 72), (SECURITY_COLUMN, 64), (LAUNCHER_COLUMN, 90)):
            table.setColumnWidth(column, width)
        table.setColumnWidth(AUTO_COLUMN, 110)
        table.setColumnHidden(LAUNCHER_COLUMN, True)  # until a named launcher shows up
        table.setColumnHidden(AUTO_COLUMN, True)  # until a charge point runs automatic sessions
        header.setHighlightSections(False)
        table.selectionModel().currentRowChanged.connect(self._current_changed)
        table.selectionModel().selectionChanged.connect(self._selection_changed)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.addWidget(self.filter_edit)
        left_layout.addWidget(self.count_label)
        left_layout.addWidget(table)

        self.panel = CpPanel()
        self.panel.car_input.connect(self.ops.car)
        self.panel.tag_presented.connect(self.ops.present_tag)
        self.panel.fault_toggled.connect(self.ops.set_faulted)
        self.panel.auto_toggled.connect(self.ops.set_auto)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panel)

        splitter = self.splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([540, 780])
        self.setCentralWidget(splitter)

    def _build_log(self) -> None:
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        dock = self._dock("Events and errors", "log_dock", self.log_view, bottom)
        self.resizeDocks([dock], [150], Qt.Orientation.Vertical)
        self.launcher_table = LauncherTable()
        self.tabifyDockWidget(dock, self._dock("Launchers", "launchers_dock", self.launcher_table, bottom))
        self.scenario = ScenarioPanel()
        self.scenario_dock = self._dock("Scenario", "scenario_dock", self.scenario, bottom)
        self.tabifyDockWidget(dock, self.scenario_dock)
        dock.raise_()
        self.scenario_action = self._action("Run scenario…", "Ctrl+Shift+S", "Run a scenario file on this broker "
                                            "and follow its progress", self.run_scenario)
        self.file_menu.insertAction(self.file_menu.actions()[2], self.scenario_action)

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        """A movable, closable dock listed in the View menu; `name` keys it in the saved layout."""
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _build_charts(self) -> None:
        self.charts = ChartsPanel(self.history)
        dock = self._dock("Charts", "charts_dock", self.charts, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([dock], [420], Qt.Orientation.Horizontal)
        dock.hide()  # until asked for (the layout remembers it open)
        self.charts_action = dock.toggleViewAction()
        self.charts_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        self.charts_action.setStatusTip("Show or hide the charts: the selected connector over time, the fleet power")
        self.fleet_bar.addAction(self.charts_action)
        self._charts_timer = QTimer(self, interval=CHARTS_TICK_MS)
        self._charts_timer.timeout.connect(lambda: self.charts.tick(self.fleet))
        self._charts_timer.start()

    def _layout_states(self) -> dict[str, tuple[Callable[[], QByteArray], Callable[[QByteArray], object]]]:
        """Each remembered layout key with the widget method that saves (save) or restores it."""
        s = SupervisorSettings
        return {s.GEOMETRY: (self.saveGeometry, self.restoreGeometry),
                s.WINDOW_STATE: (self.saveState, self.restoreState),
                s.SPLITTER: (self.splitter.saveState, self.splitter.restoreState),
                s.COLUMNS: (self.table.horizontalHeader().saveState, self.table.horizontalHeader().restoreState)}

    def _restore_layout(self) -> None:
        for key, (_save, restore) in self._layout_states().items():
            if (state := self.settings.state(key)) is not None:
                restore(state)

    def _save_layout(self) -> None:
        self.settings.save_states({key: save() for key, (save, _restore) in self._layout_states().items()})

    # -- connection --------------------------------------------------------------
    def toggle_connection(self) -> None:
        if self.bridge.state == ConnectionState.DISCONNECTED:
            self.connect_broker()
        else:
            self.bridge.close()
            self._reset_fleet()

    def connect_broker(self) -> None:
        self._reset_fleet()
        try:
            access = self._typed_access()
            self.bridge.open(access, self.root)
        except ValueError as exc:
            self.notice(Notice("supervisor", str(exc)))
            return
        self.settings.broker = access.url  # the next start connects here
        self.scenario.access = access  # a scenario run goes to the same broker
        self.setWindowTitle(f"ocpp-simu supervisor — {access}")

    def _typed_access(self) -> BrokerAccess:
        """The URL field's broker with the stored credentials; a user:password typed into the
        URL replaces them and leaves the field (it would be on screen)."""
        url = BrokerUrl.parse(self.url_edit.text().strip())
        stored = self.broker_access.url
        if url.username:
            self.url_edit.setText(str(url))
        else:
            url = replace(url, username=stored.username, password=stored.password)
        self.broker_access = replace(self.broker_access, url=url)
        return self.broker_access

    def edit_broker_security(self) -> None:
        try:
            access = self._typed_access()
        except ValueError as exc:
            self.notice(Notice("supervisor", str(exc)))
            return
        dialog = BrokerSecurityDialog(access, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.broker_access = dialog.access()
            if self.bridge.state != ConnectionState.DISCONNECTED:
                self.connect_broker()

    def _reset_fleet(self) -> None:
        self.ops.cancel()
        self.fleet.clear()
        self.history.clear()
        self.model.reset()
        self._show_current(None)
        self._update_counts()
        self._show_launcher()

    def _on_state(self, state: str) -> None:
        text = {ConnectionState.CONNECTED: "connected", ConnectionState.CONNECTING: "connecting…",
                ConnectionState.RECONNECTING: "connection lost, reconnecting…",
                ConnectionState.DISCONNECTED: "disconnected"}[state]
        self.broker_indicator.setText(_indicator("Broker", text, INDICATOR_COLOURS[state]))
        self.connect_button.setText("Connect" if state == ConnectionState.DISCONNECTED else "Disconnect")
        if state == ConnectionState.RECONNECTING:
            self.notice(Notice("supervisor", "connection to the broker lost; reconnecting", "warning"))
        self._show_launcher()
        self._update_actions()

    def _show_launcher(self) -> None:
        launchers = self.fleet.launchers.values() if self.bridge.state != ConnectionState.DISCONNECTED else ()
        text, state = launchers_summary(launchers)
        colour = INDICATOR_COLOURS.get(state, INDICATOR_COLOURS["unknown"])
        self.launcher_indicator.setText(_indicator("Launchers" if len(launchers) > 1 else "Launcher", text, colour))
        self.launcher_indicator.setToolTip(launchers_tooltip(launchers))
        self.launcher_table.show_launchers(launchers)
        self.table.setColumnHidden(LAUNCHER_COLUMN, not any(entry.name for entry in launchers))

    # -- incoming ----------------------------------------------------------------
    def _on_events(self, batch: list[Event]) -> None:
        changes = self.fleet.apply(batch)
        self.history.record(batch, self.fleet)
        self._route_view_events(batch)
        self._apply_changes(changes)
        if changes.session_started:
            session = self.fleet.session
            QTimer.singleShot(SWEEP_DELAY_MS, lambda: self._sweep(session))

    def _apply_changes(self, changes: Changes) -> None:
        self.model.sync(changes)
        if self.table.isColumnHidden(AUTO_COLUMN) and any(
                (e := self.fleet.get(i)) is not None and auto_text(e) for i in changes.statuses):
            self.table.setColumnHidden(AUTO_COLUMN, False)
        if changes.membership or changes.cps:
            self._update_counts()
        current = self.current_id()
        if self._select_when_seen and self._select_when_seen in self.fleet.cps:
            self.select(self._select_when_seen)
            self._select_when_seen = None
        elif current is not None and current in changes.cps:
            self._show_current(self.fleet.get(current))
        elif current is None and self.panel.cp_id is not None:
            self._show_current(None)
        if changes.launcher:
            self._show_launcher()
        for notice in changes.notices:
            self.notice(notice)
        self._poll_ops()
        self._update_actions()

    def _route_view_events(self, batch: list[Event]) -> None:
        frames: dict[str, list[OcppFrame]] = {}
        for event in batch:
            if isinstance(event, ScenarioEvent):
                self.scenario.show_progress(event.progress)
            elif isinstance(event, OcppConfigEvent) and event.cp_id in self.config_dialogs:
                self.config_dialogs[event.cp_id].show_config(event.config)
            elif isinstance(event, OcppLogEvent) and event.cp_id in self.log_dialogs:
                frames.setdefault(event.cp_id, []).append(event.frame)
        for cp_id, new in frames.items():
            self.log_dialogs[cp_id].append(new)

    def _sweep(self, session: int) -> None:
        if session == self.fleet.session and self.bridge.connected:
            self._apply_changes(self.fleet.sweep())

    def notice(self, notice: Notice) -> None:
        """Show an outcome or an error: event log always, status bar for problems."""
        colour = {"error": "#c62828", "warning": "#b26a00"}.get(notice.level, "#444444")
        stamp = time.strftime("%H:%M:%S")
        self.log_view.appendHtml(f'<span style="color:{colour}">{stamp} [{escape(notice.source)}] '
                                 f'{escape(notice.text)}</span>')
        if notice.level != "info":
            self.statusBar().showMessage(f"{notice.source}: {notice.text}", 15000)
        log.log(logging.INFO if notice.level == "info" else logging.WARNING, "%s: %s",
                notice.source, notice.text)

    # -- selection ---------------------------------------------------------------
    def current_id(self) -> str | None:
        index = self.table.currentIndex()
        if not index.isValid():
            return None
        source = self.proxy.mapToSource(index)
        return self.model.cp_id(source.row()) if source.isValid() else None

    def selected_ids(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        ids = [self.model.cp_id(self.proxy.mapToSource(i).row()) for i in rows]
        if not ids and (current := self.current_id()) is not None:
            ids = [current]
        return ids

    def select(self, cp_id: str) -> bool:
        row = self.model.row_of(cp_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():  # hidden by the filter
            return False
        self.table.selectRow(index.row())
        self.table.setCurrentIndex(index)
        self.table.scrollTo(index)
        return True

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        cp_id = self.current_id() if current.isValid() else None
        self._show_current(self.fleet.get(cp_id) if cp_id else None)
        self._update_actions()

    def _show_current(self, entry: CpEntry | None) -> None:
        self.panel.show_cp(entry)
        self.charts.show_entry(entry)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_actions()

    def _selected_entries(self) -> list[CpEntry]:
        return [e for i in self.selected_ids() if (e := self.fleet.get(i)) is not None]

    def _update_actions(self) -> None:
        online = self.bridge.connected
        selected = self._selected_entries()
        any_alive = any(e.alive for e in self.fleet.cps.values())
        self.add_action.setEnabled(online)
        self.remove_action.setEnabled(online and bool(selected))
        self.kill_action.setEnabled(online and any(e.alive for e in selected))
        self.restart_action.setEnabled(online and any(e.status is not None for e in selected))
        self.kill_all_action.setEnabled(online and any_alive)
        self.restart_all_action.setEnabled(online and bool(self.fleet.cps))
        current = self.fleet.get(self.current_id() or "")
        self.config_action.setEnabled(online and current is not None and current.alive)
        self.messages_action.setEnabled(online and current is not None)
        self.auto_action.setEnabled(online and any_alive)
        self.load_action.setEnabled(online)
        self.save_action.setEnabled(bool(self.fleet.cps))

    def _update_counts(self) -> None:
        counts = self.fleet.counts()
        total = len(self.fleet)
        order = [*CP_STATE_COLOURS, *sorted(set(counts) - set(CP_STATE_COLOURS))]
        detail = " · ".join(f"{counts[s]} {s}" for s in order if counts.get(s))
        text = f"<b>{total}</b> charge point{'s' if total != 1 else ''}" + (f" — {detail}" if detail else "")
        shown = self.proxy.rowCount()
        if self.filter_edit.text() and shown != total:
            text += f" — <b>{shown}</b> shown"
        self.count_label.setText(text)

    def _filter_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        self._update_counts()

    def _focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    # -- actions -----------------------------------------------------------------
    def add_cp(self) -> None:
        csms = next((e.status.central_system for e in self.fleet.cps.values() if e.status), DEFAULT_CSMS)
        dialog = AddCpDialog(lambda i: e.state if (e := self.fleet.get(i)) else None,
                             csms, set(self.fleet.cps), self,
                             LaunchTargetFields(self.fleet.launchers.values(), self._add_target))
        dialog.accepted.connect(lambda: self._start_new(dialog))
        dialog.finished.connect(lambda _result: self._forget_add_dialog(dialog))
        self.add_dialog = dialog
        dialog.open()

    def _forget_add_dialog(self, dialog: AddCpDialog) -> None:
        if self.add_dialog is dialog:
            self.add_dialog = None
        dialog.deleteLater()

    def _start_new(self, dialog: AddCpDialog) -> None:
        try:
            definition = dialog.definition()
        except PayloadError as exc:  # the fleet changed while the dialog was open
            self.notice(Notice("supervisor", f"not added: {exc}"))
            return
        self._add_target = dialog.target.target()
        if self.ops.start([definition], self._add_target, dialog.target.packing()):
            self.started[definition.id] = definition
            self._select_when_seen = definition.id

    def remove_selected(self) -> None:
        ids = self.selected_ids()
        if ids and self.confirm(f"Remove {_count(ids)}? Their processes are killed and their instance "
                                "directories deleted."):
            self.ops.remove(ids)
            self._kick_ops()

    def kill_selected(self) -> None:
        self.ops.kill(self.selected_ids())

    def restart_selected(self) -> None:
        self.ops.restart(self.selected_ids())
        self._kick_ops()

    def kill_all(self) -> None:
        alive = [i for i, e in self.fleet.cps.items() if e.alive]
        if alive and self.confirm(f"Kill {_count(alive)}?"):
            self.ops.kill_all()

    def restart_all(self) -> None:
        self.ops.restart_all()
        self._kick_ops()

    def show_ocpp_config(self) -> None:
        dialog = self._cp_view(self.config_dialogs, self.topics.cp_ocpp_config, self._config_dialog)
        if dialog is not None:
            self.ops.request_ocpp_config(dialog.cp_id)

    def _config_dialog(self, cp_id: str, topic: str) -> OcppConfigDialog:
        dialog = OcppConfigDialog(cp_id, topic, self)
        dialog.refresh.connect(self.ops.request_ocpp_config)
        return dialog

    def show_ocpp_log(self) -> None:
        self._cp_view(self.log_dialogs, self.topics.cp_ocpp_log,
                      lambda cp_id, topic: OcppMessagesDialog(cp_id, topic, self))

    def _cp_view(self, views: dict[str, View], topic_of: Callable[[str], str],
                 make: Callable[[str, str], View]) -> View | None:
        """The selected charge point's window on one of its topics, shown (made the first time,
        its topic watched while it is open); None without a selection."""
        cp_id = self.current_id()
        if cp_id is None:
            return None
        view = views.get(cp_id)
        if view is None:
            topic = topic_of(cp_id)
            view = views[cp_id] = make(cp_id, topic)
            self.bridge.watch(topic)
            view.finished.connect(lambda _r: self._close_view(views, cp_id, topic))
        view.show()
        view.raise_()
        return view

    def _close_view(self, dialogs: dict[str, View], cp_id: str, topic: str) -> None:
        dialog = dialogs.pop(cp_id, None)
        if dialog is not None:
            self.bridge.unwatch(topic)
            dialog.deleteLater()

    def save_setup(self, path: Path | None = None) -> bool:
        path = path or self.ask_path(save=True)
        if path is None:
            return False
        try:
            saved, skipped = setup_files.save_setup(self.fleet, path, self.started,
                                                    secrets=self.save_secrets_action.isChecked())
        except OSError as exc:
            self.notice(Notice("supervisor", f"cannot save {path}: {exc.strerror or exc}"))
            return False
        for problem in skipped:
            self.notice(Notice("supervisor", f"not saved: {problem}", "warning"))
        self.notice(Notice("supervisor", f"saved {saved} charge point(s) to {path}", "info"))
        self.settings.setup_folder = str(path.resolve().parent)
        return True

    def automatic_sessions(self) -> None:
        ids = self.selected_ids()
        dialog = AutoDialog(len(ids), self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        if dialog.whole_fleet:
            self.ops.fleet_auto(dialog.settings())
        else:
            self.ops.auto(ids, dialog.settings())

    def run_scenario(self) -> None:
        self.scenario_dock.show()
        self.scenario_dock.raise_()
        if not self.scenario.file.text().strip():
            self.scenario.choose_file()

    def load_setup(self, path: Path | None = None) -> bool:
        path = path or self.ask_path(save=False)
        if path is None:
            return False
        try:
            setup = setup_files.read_setup(path)
        except (OSError, PayloadError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.notice(Notice("supervisor", f"cannot load {path}: {reason}"))
            return False
        self.settings.setup_folder = str(path.resolve().parent)
        definitions = setup.charge_points
        alive = [i for i, e in self.fleet.cps.items() if e.alive]
        if self.fleet.cps and not self.confirm(
                f"Replace the fleet ({_count(list(self.fleet.cps))}, {len(alive)} running) by the "
                f"{len(definitions)} of {path.name}?"):
            return False
        self.notice(Notice("supervisor", f"loading {len(definitions)} charge point(s) from {path}", "info"))
        self.ops.replace_fleet(setup)
        self.started.update({d.id: d for d in definitions})
        self._kick_ops()
        return True

    # -- seams kept small so tests can answer the questions ------------------------
    def confirm(self, question: str) -> bool:
        answer = QMessageBox.question(self, "ocpp-simu supervisor", question)
        return answer == QMessageBox.StandardButton.Yes

    def ask_path(self, save: bool) -> Path | None:
        if save:
            name, _ = QFileDialog.getSaveFileName(self, "Save setup", str(self.setup_folder() / "setup.json"),
                                                  SETUP_FILTER)
        else:
            name, _ = QFileDialog.getOpenFileName(self, "Load setup", str(self.setup_folder()), SETUP_FILTER)
        return Path(name) if name else None

    # -- pending multi-step commands ---------------------------------------------------
    def _kick_ops(self) -> None:
        if self.ops.pending and not self._ops_timer.isActive():
            self._ops_timer.start()

    def _poll_ops(self) -> None:
        self.ops.poll()
        if not self.ops.pending:
            self._ops_timer.stop()

    def setup_folder(self) -> Path:
        """Where the setup file dialogs open: the folder of the last file saved or loaded."""
        folder = Path(self.settings.setup_folder or Path.cwd())
        return folder if folder.is_dir() else Path.cwd()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_layout()
        self.scenario.shutdown()
        self.bridge.close(wait=True)  # paho's thread ends before any Qt object of the window
        super().closeEvent(event)


def _indicator(name: str, state: str, colour: str) -> str:
    return f'<span style="color:{colour}; font-size:14pt">●</span> {name}: <b>{state}</b>&nbsp;&nbsp;'


def _count(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{len(ids)} charge points"

