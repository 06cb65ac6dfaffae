"""The connector card's EV choice against a real broker: a preset, none, or a custom EV from its
dialog goes out as the car payload's `ev`; the CP's `soc` and `ev` are shown."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cp_simu.models import ConnectorStatus
from tests.supervisor.conftest import T, publish_cp, wait_json


def test_ev_preset_none_and_custom_are_sent_and_the_soc_shown(qtbot, broker, recorder_factory, make_window) -> None:
    rec = recorder_factory(broker.url)
    publish_cp(rec, "ac1", nb_phases=3)
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.select("ac1"))
    qtbot.waitUntil(lambda: 1 in window.panel.cards)
    card = window.panel.cards[1]
    topic = T.connector_car("ac1", 1)

    def choose(data: str) -> None:
        index = card.ev_choice.findData(data)
        card.ev_choice.setCurrentIndex(index)
        card.ev_choice.activated.emit(index)

    choose("suv")
    assert wait_json(qtbot, rec, topic) == {"ev": "suv"}
    choose("")
    wait_json(qtbot, rec, topic, lambda d: d == {"ev": None})
    choose("custom")
    qtbot.waitUntil(lambda: card.ev_dialog is not None and card.ev_dialog.isVisible())
    dialog = card.ev_dialog
    dialog.base.setCurrentIndex(dialog.base.findData("phev"))
    assert dialog.capacity.value() == 14.0 and dialog.ac_phases.value() == 1  # the base's values
    dialog.soc.setValue(77.5)
    dialog.target.setValue(80)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    sent = wait_json(qtbot, rec, topic, lambda d: isinstance(d.get("ev"), dict))
    assert sent["ev"] == {"preset": "phev", "capacity_kwh": 14.0, "soc": 77.5, "target_soc": 80.0,
                          "ac_max_current": 16.0, "ac_phases": 1, "dc_max_power": 0.0, "efficiency": 0.88}
    assert card.ev_dialog is None

    rec.publish(T.connector_status("ac1", 1), ConnectorStatus(
        status="SuspendedEV", energy_wh=1500, soc=80.0, ev="custom").to_json(), retain=True)
    qtbot.waitUntil(lambda: card.status_badge.text() == "SuspendedEV")
    assert card.energy_label.text() == "1.500 kWh · SoC <b>80.0 %</b> (custom)"
    assert card.ev_choice.currentData() == "custom"
