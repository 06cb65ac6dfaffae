"""Charts over time (pyqtgraph): the selected charge point's connector — power, current per
phase, state of charge, energy — and the whole fleet's power.

They read the `History` the window records from every batch and redraw on a timer, only
while they are on screen, so a fleet of hundreds of charging CPs costs one redraw a second
of one connector's few hundred points, never a redraw per message. Values hold until the
next status (step curves), and the newest one is drawn up to now.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QTabWidget, QVBoxLayout, QWidget

from supervisor.fleet_model import CpEntry, Fleet
from supervisor.history import ENERGY, L1, L2, L3, POWER, SOC, History, Series

PHASE_COLOURS = ("#1565c0", "#e67700", "#2e9e4f")
POWER_COLOUR = "#6f42c1"
SOC_COLOUR = "#0f9d8a"
ENERGY_COLOUR = "#b8860b"
BACKGROUND = "#ffffff"
FOREGROUND = "#333333"


def _plot(layout: pg.GraphicsLayoutWidget, row: int, title: str) -> pg.PlotItem:
    plot = layout.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
    plot.setLabel("left", title)
    plot.getAxis("left").enableAutoSIPrefix(False)  # kWh stay kWh (no "x0.001")
    plot.showGrid(x=True, y=True, alpha=0.15)
    plot.setMouseEnabled(x=True, y=False)
    plot.enableAutoRange(y=True)
    plot.setMenuEnabled(False)
    return plot


def _curve(plot: pg.PlotItem, colour: str, name: str = "") -> pg.PlotDataItem:
    return plot.plot([], [], pen=pg.mkPen(colour, width=2), stepMode="left", connect="finite",
                     name=name or None)


def _until_now(rows: np.ndarray, epoch: float, now: float) -> np.ndarray:
    """Absolute times (for the date axis) and the newest values repeated at `now`."""
    if len(rows) == 0:
        return rows
    rows = np.vstack((rows, rows[-1:]))
    times = rows[:, 0].astype(np.float64) + epoch
    times[-1] = max(times[-1], now + epoch)
    out = rows.astype(np.float64)
    out[:, 0] = times
    return out


class ConnectorCharts(QWidget):
    """The four charts of one connector of the selected charge point."""

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.cp_id: str | None = None
        self.dc = False
        self._drawn: tuple | None = None
        self.title = QLabel("Select a charge point")
        self.connector = QComboBox()
        self.connector.setMinimumContentsLength(12)
        self.connector.currentIndexChanged.connect(lambda _i: self.refresh(force=True))
        self.now_label = QLabel()
        self.now_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)
        self.power_plot = _plot(self.view, 0, "Power (kW)")
        self.current_plot = _plot(self.view, 1, "Current (A)")
        self.current_plot.addLegend(offset=(-10, 5), colCount=3)
        self.soc_plot = _plot(self.view, 2, "SoC (%)")
        self.energy_plot = _plot(self.view, 3, "Energy (kWh)")
        for plot in (self.current_plot, self.soc_plot, self.energy_plot):
            plot.setXLink(self.power_plot)
        self.curves: dict[str, pg.PlotDataItem] = {
            "power": _curve(self.power_plot, POWER_COLOUR),
            **{f"l{i + 1}": _curve(self.current_plot, PHASE_COLOURS[i], f"L{i + 1}") for i in range(3)},
            "soc": _curve(self.soc_plot, SOC_COLOUR),
            "energy": _curve(self.energy_plot, ENERGY_COLOUR),
        }
        self._columns = {"power": POWER, "l1": L1, "l2": L2, "l3": L3, "soc": SOC, "energy": ENERGY}

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Connector"))
        top.addWidget(self.connector)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.now_label)
        layout.addWidget(self.view, 1)

    def show_cp(self, cp_id: str | None, connectors: list[int], dc: bool, nb_phases: int) -> None:
        """Follow the selected CP (None: nothing selected); keeps the chosen connector if it still exists."""
        chosen = self.selected_connector()
        numbers = [str(n) for n in connectors]
        if cp_id != self.cp_id or numbers != [self.connector.itemText(i) for i in range(self.connector.count())]:
            blocked = self.connector.blockSignals(True)
            self.connector.clear()
            self.connector.addItems(numbers)
            if cp_id == self.cp_id and chosen is not None and str(chosen) in numbers:
                self.connector.setCurrentText(str(chosen))
            self.connector.blockSignals(blocked)
        self.cp_id, self.dc = cp_id, dc
        self.title.setText(f"<b>{cp_id}</b>" if cp_id else "Select a charge point")
        for i in range(3):
            self.curves[f"l{i + 1}"].setVisible(not dc and i < nb_phases)
        self.current_plot.setVisible(not dc)
        self.refresh(force=True)

    def selected_connector(self) -> int | None:
        text = self.connector.currentText()
        return int(text) if text.isdigit() else None

    def series(self) -> Series | None:
        number = self.selected_connector()
        if self.cp_id is None or number is None:
            return None
        return self.history.connectors.get(self.cp_id, {}).get(number)

    def refresh(self, force: bool = False) -> None:
        """Redraw if on screen and something changed (or the newest value must reach now)."""
        if not force and not self.isVisible():
            return
        series = self.series()
        key = (self.cp_id, self.selected_connector(), series.revision if series else -1, int(self.history.now()))
        if key == self._drawn and not force:
            return
        self._drawn = key
        rows = _until_now(series.rows(), self.history.epoch, self.history.now()) if series else np.empty((0, 7))
        for name, column in self._columns.items():
            if len(rows):
                self.curves[name].setData(rows[:, 0], rows[:, column])
            else:
                self.curves[name].setData([], [])
        self._show_now(rows)

    def _show_now(self, rows: np.ndarray) -> None:
        if not len(rows):
            self.now_label.setText("no reading yet" if self.cp_id else "")
            return
        last = rows[-1]
        parts = [f"{last[POWER]:.2f} kW"]
        if not self.dc:
            parts.append(" · ".join(f"L{i + 1} {last[c]:.1f} A" for i, c in enumerate((L1, L2, L3))
                                    if self.curves[f"l{i + 1}"].isVisible()))
        parts.append("SoC —" if math.isnan(last[SOC]) else f"SoC {last[SOC]:.1f} %")
        parts.append(f"{last[ENERGY]:.3f} kWh")
        self.now_label.setText("Now: " + " · ".join(parts))
        self.soc_plot.setLabel("left", "SoC (%)" if not np.isnan(rows[:, SOC]).all() else "SoC (no EV model)")


class FleetPowerChart(QWidget):
    """Total measured power of the live fleet, and how many connectors draw power."""

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self._drawn = -1
        self.now_label = QLabel()
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(BACKGROUND)
        self.plot = _plot(self.view, 0, "Fleet power (kW)")
        self.count_plot = _plot(self.view, 1, "Connectors drawing")
        self.count_plot.setXLink(self.plot)
        self.view.ci.layout.setRowStretchFactor(0, 3)
        self.curve = _curve(self.plot, POWER_COLOUR)
        self.count_curve = _curve(self.count_plot, PHASE_COLOURS[0])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.now_label)
        layout.addWidget(self.view, 1)

    def refresh(self, force: bool = False) -> None:
        series = self.history.fleet_power
        if (not force and not self.isVisible()) or (series.revision == self._drawn and not force):
            return
        self._drawn = series.revision
        rows = _until_now(series.rows(), self.history.epoch, self.history.now())
        if len(rows):
            self.curve.setData(rows[:, 0], rows[:, 1])
            self.count_curve.setData(rows[:, 0], rows[:, 2])
            self.now_label.setText(f"Now: <b>{rows[-1, 1]:.1f} kW</b> · {int(rows[-1, 2])} connectors drawing")
        else:
            self.curve.setData([], [])
            self.count_curve.setData([], [])
            self.now_label.setText("")


class ChartsPanel(QTabWidget):
    """Both charts as tabs; the window calls `show_entry` on selection and `tick` every second."""

    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.connector_charts = ConnectorCharts(history)
        self.fleet_chart = FleetPowerChart(history)
        self.addTab(self.connector_charts, "Connector")
        self.addTab(self.fleet_chart, "Fleet power")
        self.currentChanged.connect(lambda _i: self._refresh(force=True))

    def show_entry(self, entry: CpEntry | None) -> None:
        if entry is None:
            self.connector_charts.show_cp(None, [], False, 3)
        else:
            self.connector_charts.show_cp(entry.id, sorted(entry.connectors), entry.is_dc, entry.nb_phases)

    def tick(self, fleet: Fleet) -> None:
        self.history.sample_fleet(fleet)
        self._refresh()

    def _refresh(self, force: bool = False) -> None:
        self.connector_charts.refresh(force)
        self.fleet_chart.refresh(force)
