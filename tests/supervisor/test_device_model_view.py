"""The configuration view of a 2.0.1 charging station: its device model's flat keys, searchable
by key and by value."""

from __future__ import annotations

import json
from pathlib import Path

from chargepoint.ocpp201.device_model import DeviceModel
from tests.supervisor.conftest import T, publish_cp, wait_json


def shown_keys(dialog) -> list[str]:
    table = dialog.table
    return [table.item(r, 0).text() for r in range(table.rowCount()) if not table.isRowHidden(r)]


def test_device_model_keys_are_listed_and_searchable(qtbot, tmp_path: Path, broker, recorder_factory,
                                                     make_window) -> None:
    model = DeviceModel.load(tmp_path, nb_evse=2)
    model.update("EVSE@2/AvailabilityState", "Occupied")
    flat = model.flat()
    rec = recorder_factory(broker.url)
    publish_cp(rec, "cs201", connectors=("Available", "Charging"), ocpp_version="2.0.1")
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: window.select("cs201"))
    window.config_action.trigger()
    assert wait_json(qtbot, rec, T.cp_cmd("cs201")) == {"type": "ocpp_config"}
    rec.publish(T.cp_ocpp_config("cs201"), json.dumps(flat), retain=True)  # as the station answers
    dialog = window.config_dialogs["cs201"]
    qtbot.waitUntil(lambda: dialog.table.rowCount() == len(flat))
    assert set(shown_keys(dialog)) == set(flat) and dialog.status.text() == f"{len(flat)} keys"

    qtbot.keyClicks(dialog.filter, "evse@2")
    assert sorted(shown_keys(dialog)) == sorted(k for k in flat if k.startswith("EVSE@2/"))
    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "Occupied")  # values are searched too
    assert shown_keys(dialog) == ["EVSE@2/AvailabilityState"]
    assert dialog.status.text() == f"1 of {len(flat)} keys"
    dialog.filter.clear()
    qtbot.keyClicks(dialog.filter, "SampledDataCtrlr/Tx")
    assert {k.split("/")[1] for k in shown_keys(dialog)} == {
        "TxEndedMeasurands", "TxEndedInterval", "TxStartedMeasurands", "TxUpdatedMeasurands", "TxUpdatedInterval"}
