"""Several launchers on one broker, seen and used from the window: real launchers (one
unnamed, one named, each with its own work directory), a real CSMS and real charge points."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from supervisor.dialogs import AddCpDialog
from supervisor.fleet_model import Fleet, LauncherEntry
from supervisor.launchers import LaunchTargetFields, summary
from supervisor.main_window import MainWindow
from supervisor.qt_models import LAUNCHER_COLUMN
from tests.launcher.conftest import BOOT_WAIT, fleet_dir, launcher_factory  # noqa: F401 - fixtures
from tests.supervisor.conftest import T

BOOT_MS = int(BOOT_WAIT * 1000)


def add_on(qtbot, window: MainWindow, cp_id: str, csms_url: str, launcher: str | None,
           cps_per_process: int = 1) -> AddCpDialog:
    window.add_action.trigger()
    dialog = window.add_dialog
    assert isinstance(dialog, AddCpDialog)
    if launcher is not None:
        dialog.target.launcher.setCurrentIndex(dialog.target.launcher.findData(launcher))
    dialog.target.cps_per_process.setValue(cps_per_process)
    dialog.cp_id.setText(cp_id)
    dialog.csms.setText(csms_url)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled(), dialog.error.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    return dialog


def test_two_launchers_listed_add_goes_where_chosen_and_kill_to_the_cps_own(
        qtbot, broker, csms, launcher_factory, fleet_dir: Path, tmp_path: Path,  # noqa: F811
        make_window, recorder_factory) -> None:
    rec = recorder_factory(broker.url, "cp_simu/#")
    launcher_factory()
    depot_b = tmp_path / "host_b"
    depot_b.mkdir()
    launcher_factory(workdir=depot_b, name="host_b")
    window = make_window(broker.url)

    qtbot.waitUntil(lambda: [r[:2] for r in window.launcher_table.rows()] == [["(unnamed)", "Alive"],
                                                                               ["host_b", "Alive"]], timeout=10_000)
    rows = {r[0]: r for r in window.launcher_table.rows()}
    assert rows["host_b"][6].endswith("host_b") and rows["(unnamed)"][6].endswith("simu")  # work directories
    assert "Launchers" in window.launcher_indicator.text() and "2 alive" in window.launcher_indicator.text()

    # Add on host_b: only that launcher starts it, in its own work directory
    add_on(qtbot, window, "on_b", csms.url, "host_b")
    qtbot.waitUntil(lambda: (e := window.fleet.get("on_b")) is not None and e.state == "Accepted", timeout=BOOT_MS)
    assert window.fleet.get("on_b").launcher == "host_b"
    assert (depot_b / "chargepoints" / "on_b").is_dir() and not (fleet_dir / "chargepoints" / "on_b").exists()
    row = window.model.row_of("on_b")
    assert window.model.index(row, LAUNCHER_COLUMN).data() == "host_b"
    assert not window.table.isColumnHidden(LAUNCHER_COLUMN)  # shown once a named launcher is there

    # the next Add offers host_b again; a packed start carries cps_per_process
    add_on(qtbot, window, "packed_b", csms.url, None, cps_per_process=3)
    start = rec.wait_json(T.launcher("host_b").cmd, lambda d: d.get("type") == "start"
                          and d["charge_points"][0]["id"] == "packed_b")
    assert start["cps_per_process"] == 3
    assert not any(json.loads(m.payload)["charge_points"][0]["id"] == "packed_b"
                   for m in rec.on_topic(T.launcher_cmd))
    qtbot.waitUntil(lambda: (e := window.fleet.get("packed_b")) is not None and e.state == "Accepted",
                    timeout=BOOT_MS)

    # Kill from the window reaches the launcher that runs the CP
    assert window.select("on_b")
    window.kill_action.trigger()
    qtbot.waitUntil(lambda: window.fleet.get("on_b").state == "Dead", timeout=10_000)
    kill = rec.wait_json(T.launcher("host_b").cmd, lambda d: d.get("type") == "kill")
    assert kill["charge_points"] == [{"id": "on_b"}]
    assert window.fleet.get("packed_b").state == "Accepted"


def test_launcher_summary_and_the_add_dialogs_default_target(qtbot) -> None:
    fleet = Fleet()
    assert summary(fleet.launchers.values()) == ("unknown", "Unknown")
    dead, alive = LauncherEntry("", "Dead"), LauncherEntry("lab", "Alive")
    assert summary([alive]) == ("alive", "Alive")
    assert summary([dead, alive, LauncherEntry("x", "Alive")]) == ("2 alive · 1 dead", "Dead")
    fields = LaunchTargetFields([dead, alive])  # no preference: the first live one
    assert fields.target() == "lab" and fields.packing() is None
    assert LaunchTargetFields([dead, alive], preferred="").target() == "lab"  # not a dead one
    fields = LaunchTargetFields([alive, LauncherEntry("lab2", "Alive")], preferred="lab2")
    assert fields.target() == "lab2"
    fields = LaunchTargetFields([])  # the unnamed one is always offered
    assert [fields.launcher.itemData(i) for i in range(fields.launcher.count())] == [""]
    fields.cps_per_process.setValue(50)
    assert fields.packing() == 50
