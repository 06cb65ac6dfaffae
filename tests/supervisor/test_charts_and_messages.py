"""A real charge point charging, seen by the window: its OCPP messages in the table and its
readings in the charts (real broker, demo CSMS and CP process)."""

from __future__ import annotations

import json
import math

import numpy as np
from PySide6.QtCore import Qt

from cp_simu.models import CarInput, EvSettings
from supervisor.main_window import MainWindow
from supervisor.message_table import ALL_ACTIONS
from tests.chargepoint.conftest import cp_factory  # noqa: F401 - fixture

BOOT_TIMEOUT = 30_000


def start_charging(qtbot, window: MainWindow, cp_id: str, amps: float, tag: str) -> None:
    """Through the connector card, as a user: the car's demand, the cable, the tag."""
    qtbot.waitUntil(lambda: window.fleet.get(cp_id) is not None and window.fleet.get(cp_id).state == "Accepted",
                    timeout=BOOT_TIMEOUT)
    assert window.select(cp_id)
    qtbot.waitUntil(lambda: window.panel.cp_id == cp_id and 1 in window.panel.cards)
    card = window.panel.cards[1]
    for spin in card.consumption:
        spin.setValue(amps)
    card.cable.setValue(32)
    qtbot.keyClicks(card.id_tag_edit, tag)
    qtbot.keyClick(card.id_tag_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: card.status_badge.text() == "Charging", timeout=15_000)


def test_message_table_fills_from_a_real_charge_points_ocpp_log(qtbot, broker, csms, cp_factory,  # noqa: F811
                                                               make_window) -> None:
    window = make_window(broker.url)
    cp_factory(csms.url, broker.url, "tbl_cp")
    qtbot.waitUntil(lambda: window.select("tbl_cp"), timeout=BOOT_TIMEOUT)
    window.messages_action.trigger()
    dialog = window.log_dialogs["tbl_cp"]
    qtbot.wait(300)  # the subscription reaches the broker
    start_charging(qtbot, window, "tbl_cp", 16.5, "TBL_TAG")

    def rows() -> list[list[str]]:
        return [[dialog.proxy.index(r, c).data() for c in range(5)] for r in range(dialog.proxy.rowCount())]

    qtbot.waitUntil(lambda: any(r[2] == "Result" and r[3] == "StartTransaction" for r in rows()), timeout=15_000)
    call = next(r for r in rows() if r[2] == "Call" and r[3] == "StartTransaction")
    assert call[1] == "▶" and "idTag=TBL_TAG" in call[4] and "connectorId=1" in call[4]
    assert any(r[2] == "Call" and r[3] == "StatusNotification" and "status=Charging" in r[4] for r in rows())

    # filter by action: the call and its answer only; the filter lists what was seen
    actions = [dialog.action_filter.itemText(i) for i in range(dialog.action_filter.count())]
    assert actions[0] == ALL_ACTIONS and {"Authorize", "StartTransaction", "StatusNotification"} <= set(actions)
    assert actions[1:] == sorted(actions[1:])
    dialog.action_filter.setCurrentText("StartTransaction")
    assert [(r[1], r[2], r[3]) for r in rows()] == [("▶", "Call", "StartTransaction"),
                                                    ("◀", "Result", "StartTransaction")]
    assert dialog.count.text().startswith("2 of ")

    # the whole frame of the selected row
    dialog.table.selectRow(1)
    frame = json.loads(dialog.detail.toPlainText())
    assert frame[0] == 3 and frame[2]["idTagInfo"]["status"] == "Accepted"
    assert isinstance(frame[2]["transactionId"], int)
    assert csms.messages("StartTransaction", cp_id="tbl_cp", direction="in")
    dialog.action_filter.setCurrentText(ALL_ACTIONS)
    assert len(rows()) == dialog.model.rowCount() > 2


def test_charts_follow_a_real_charging_connector_and_the_fleet_power(qtbot, broker, csms, cp_factory,  # noqa: F811
                                                                    make_window) -> None:
    window = make_window(broker.url)
    cp_factory(csms.url, broker.url, "chart_cp")
    start_charging(qtbot, window, "chart_cp", 10.5, "CHART_TAG")
    window.charts_action.trigger()  # the Charts dock, hidden at first
    charts = window.charts.connector_charts
    assert charts.isVisible()
    assert charts.cp_id == "chart_cp" and charts.selected_connector() == 1

    def latest(name: str) -> float:
        _x, y = charts.curves[name].getData()
        return float(y[-1]) if y is not None and len(y) else math.nan

    kw = 3 * 230 * 10.5 / 1000  # 7.245 kW
    qtbot.waitUntil(lambda: math.isclose(latest("power"), kw, rel_tol=0.01), timeout=15_000)
    assert latest("l1") == latest("l2") == latest("l3") == 10.5
    assert "SoC (no EV model)" in charts.soc_plot.getAxis("left").labelText  # 1.6 AC, no EV model given
    first_energy = latest("energy")
    qtbot.waitUntil(lambda: latest("energy") > first_energy, timeout=15_000)
    x, y = charts.curves["power"].getData()
    assert np.all(np.diff(x) >= 0) and y[0] == 0.0  # Available before the session, at 0 kW
    assert "7.25 kW" in charts.now_label.text() or "7.24 kW" in charts.now_label.text()

    # the fleet tab: the same power, one connector drawing
    window.charts.setCurrentWidget(window.charts.fleet_chart)
    fleet = window.charts.fleet_chart
    qtbot.waitUntil(lambda: fleet.curve.getData()[1] is not None and len(fleet.curve.getData()[1])
                    and math.isclose(fleet.curve.getData()[1][-1], kw, rel_tol=0.01), timeout=5_000)
    assert fleet.count_curve.getData()[1][-1] == 1 and "1 connectors drawing" in fleet.now_label.text()

    # the car gets an EV model: its state of charge is charted
    window.charts.setCurrentWidget(charts)
    window.ops.car("chart_cp", 1, CarInput(ev=EvSettings("city_car", soc=50.5, target_soc=90.0)))
    qtbot.waitUntil(lambda: 50.5 <= latest("soc") < 60, timeout=15_000)
    assert charts.soc_plot.getAxis("left").labelText == "SoC (%)"
