"""The window driving real processes: broker, launcher, demo CSMS and charge points.

Everything is done through the window's own widgets and actions, as a user would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from cp_simu.process import MARKER_FILE, verified_pid
from supervisor.dialogs import PRESETS, AddCpDialog
from supervisor.main_window import MainWindow
from tests.launcher.conftest import kill_cps
from tests.procs import managed, ocpp_simu, wait_until
from tests.supervisor.conftest import row_ids

pytestmark = pytest.mark.slow


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """The launcher's workdir; every CP process started in it is killed at the end, even on failure."""
    path = tmp_path / "simu"
    path.mkdir()
    yield path
    for marker in path.glob(f"chargepoints/*/{MARKER_FILE}"):
        pid = verified_pid(marker.parent)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    kill_cps(path)  # and any whose directory is already gone


@pytest.fixture
def launcher(broker, workdir: Path, tmp_path: Path) -> Iterator[None]:
    args = ocpp_simu("launcher", "--broker", broker.url, "--workdir", str(workdir))
    with managed(args, log=tmp_path / "launcher.log", cwd=tmp_path) as proc:
        yield
        assert proc.alive(), proc.output()


def add_cp(qtbot, window: MainWindow, cp_id: str, preset: str, csms_url: str) -> None:
    """Add CP through the dialog: a preset, an id and the CSMS, then OK."""
    window.add_action.trigger()
    dialog = window.add_dialog
    assert isinstance(dialog, AddCpDialog)
    dialog.preset.setCurrentIndex(next(i for i, p in enumerate(PRESETS) if p.name.startswith(preset)))
    dialog.cp_id.clear()
    qtbot.keyClicks(dialog.cp_id, cp_id)
    dialog.csms.setText(csms_url)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled(), dialog.error.text()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)


def state(window: MainWindow, cp_id: str) -> str | None:
    entry = window.fleet.get(cp_id)
    return entry.state if entry else None


def wait_states(qtbot, window: MainWindow, expected: dict[str, str], timeout: int = 20_000,
                not_pids: dict[str, int] | None = None) -> None:
    """Wait for CP states (and new processes where `not_pids` says so); on timeout, say what was seen."""
    def check() -> None:
        seen = {i: (state(window, i), window.fleet.get(i).status.pid if state(window, i) else None)
                for i in expected}
        ok = all(seen[i][0] == s and seen[i][1] != (not_pids or {}).get(i) for i, s in expected.items())
        assert ok, f"(state, pid) {seen}, expected {expected}; events:\n{window.log_view.toPlainText()[-1500:]}"

    qtbot.waitUntil(check, timeout=timeout)


def pid(window: MainWindow, cp_id: str) -> int:
    entry = window.fleet.get(cp_id)
    assert entry is not None and entry.status is not None
    return entry.status.pid


def test_add_charge_fault_kill_save_and_load(qtbot, broker, csms, launcher, workdir: Path, tmp_path: Path,
                                            make_window) -> None:
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: "alive" in window.launcher_indicator.text(), timeout=20_000)

    # Add CP through the dialog -> it appears, selected, and turns Accepted
    add_cp(qtbot, window, "e2e_ac", "AC 22 kW", csms.url)
    wait_states(qtbot, window, {"e2e_ac": "Accepted"})
    qtbot.waitUntil(lambda: window.current_id() == "e2e_ac" and 1 in window.panel.cards)
    assert window.panel.fields["CSMS"].text() == csms.url
    add_cp(qtbot, window, "e2e_dc", "DC 50 kW", csms.url)
    wait_states(qtbot, window, {"e2e_dc": "Accepted"})

    # Car plugged with a demand, tag presented -> Charging with consumption
    assert window.select("e2e_ac")
    qtbot.waitUntil(lambda: window.panel.cp_id == "e2e_ac" and 1 in window.panel.cards)
    card = window.panel.cards[1]
    for spin in card.consumption:
        spin.setValue(16)
    card.cable.setValue(32)
    qtbot.keyClicks(card.id_tag_edit, "TAG1")
    qtbot.keyClick(card.id_tag_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: card.status_badge.text() == "Charging", timeout=15_000)
    qtbot.waitUntil(lambda: "L1 <b>16.0 A</b>" in card.consumption_label.text(), timeout=10_000)
    assert "transaction" in card.transaction_label.text() and "no transaction" not in card.transaction_label.text()
    assert csms.messages("StartTransaction", cp_id="e2e_ac", direction="in")

    # Fault toggle -> Faulted
    qtbot.mouseClick(card.fault_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: card.status_badge.text().startswith("Faulted"), timeout=10_000)
    assert card.fault_button.isChecked()

    # Kill -> shown Dead
    window.kill_action.trigger()
    wait_states(qtbot, window, {"e2e_ac": "Dead"}, 10_000)
    assert window.panel.state_badge.text() == "Dead" and "1 Dead" in window.count_label.text()

    # Save setup -> the reference format
    path = tmp_path / "setup.json"
    window.ask_path = lambda save: path  # type: ignore[method-assign]
    window.save_action.trigger()
    saved = json.loads(path.read_text())
    assert list(saved) == ["charge_points"]
    by_id = {e["id"]: e for e in saved["charge_points"]}
    assert by_id["e2e_ac"] | {"serial": "-"} == {
        "id": "e2e_ac", "type": "AC", "vendor": "Open OCPP AC", "model": "Simulated AC", "serial": "-",
        "nb_phases": 3, "nb_connectors": 1, "max_setpoint": 32, "voltage": 230.0, "smart_charge_enabled": True,
        "max_setpoint_per_connector": 32, "central_system": csms.url, "ocpp_version": "1.6"}
    assert by_id["e2e_dc"]["type"] == "DC" and by_id["e2e_dc"]["max_setpoint"] == 50000

    # Load it back -> everything killed and cleared, the same fleet runs again (new processes)
    old_pids = {cp_id: pid(window, cp_id) for cp_id in by_id}
    window.load_action.trigger()
    wait_states(qtbot, window, dict.fromkeys(by_id, "Accepted"), 30_000, not_pids=old_pids)
    assert sorted(row_ids(window)) == ["e2e_ac", "e2e_dc"]
    assert window.select("e2e_ac")
    qtbot.waitUntil(lambda: window.panel.cards.get(1) is not None
                    and window.panel.cards[1].status_badge.text() == "Available", timeout=10_000)
    assert "abandoned" not in window.log_view.toPlainText()


def test_config_restart_kill_all_and_remove(qtbot, broker, csms, launcher, workdir: Path, make_window) -> None:
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: "alive" in window.launcher_indicator.text(), timeout=20_000)
    add_cp(qtbot, window, "ops_1", "AC 2 × 11 kW", csms.url)
    add_cp(qtbot, window, "ops_2", "AC 7.4 kW", csms.url)
    wait_states(qtbot, window, {"ops_1": "Accepted", "ops_2": "Accepted"})

    # OCPP configuration table from the CP's own keys
    assert window.select("ops_1")
    window.config_action.trigger()
    dialog = window.config_dialogs["ops_1"]
    qtbot.waitUntil(lambda: dialog.table.rowCount() > 10, timeout=10_000)
    keys = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert keys["NumberOfConnectors"] == "2"
    dialog.close()

    # Restart a live CP: killed, then started again with a new process
    first = pid(window, "ops_1")
    window.restart_action.trigger()
    wait_states(qtbot, window, {"ops_1": "Accepted"}, not_pids={"ops_1": first})

    window.kill_all_action.trigger()
    wait_states(qtbot, window, {"ops_1": "Dead", "ops_2": "Dead"}, 10_000)
    window.restart_all_action.trigger()
    wait_states(qtbot, window, {"ops_1": "Accepted", "ops_2": "Accepted"})

    # Remove: killed, statuses cleared, instance directory deleted by the launcher
    assert window.select("ops_2")
    window.remove_action.trigger()
    qtbot.waitUntil(lambda: window.fleet.get("ops_2") is None, timeout=15_000)
    wait_until(lambda: not (workdir / "chargepoints" / "ops_2").exists(), 10, what="ops_2's directory removed")
    assert row_ids(window) == ["ops_1"]
    fresh = make_window(broker.url)  # a newcomer sees no retained trace of ops_2
    qtbot.waitUntil(lambda: fresh.proxy.rowCount() == 1, timeout=10_000)
    qtbot.wait(300)
    assert row_ids(fresh) == ["ops_1"]
