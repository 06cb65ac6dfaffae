"""Automatic sessions switched from the window, on real charge points under a real launcher
(demo CSMS): one CP from its panel, the fleet (or a selection) from the dialog with a seed."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cp_simu.models import derived_seed
from supervisor.auto_controls import AutoDialog
from supervisor.main_window import MainWindow
from supervisor.qt_models import AUTO_COLUMN
from tests.launcher.conftest import BOOT_WAIT, definition, fleet_dir, launcher_factory  # noqa: F401 - fixtures
from tests.supervisor.conftest import T

BOOT_MS = int(BOOT_WAIT * 1000)


def extra(window: MainWindow, cp_id: str) -> dict:
    entry = window.fleet.get(cp_id)
    return entry.status.extra if entry and entry.status else {}


def answer_auto_dialog(window: MainWindow, *, fleet: bool, seed: int | None, rate: float, on: bool = True) -> None:
    """Trigger the action and fill the modal dialog as a user would."""
    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, AutoDialog)
        (dialog.on if on else dialog.off).setChecked(True)
        (dialog.fleet if fleet else dialog.selection).setChecked(True)
        if seed is not None:
            dialog.seed.setValue(seed)
        dialog.rate.setValue(rate)
        dialog.accept()

    QTimer.singleShot(200, fill)
    window.auto_action.trigger()


def test_automatic_sessions_per_cp_and_for_the_fleet(qtbot, broker, csms, launcher_factory,  # noqa: F811
                                                     make_window, recorder_factory) -> None:
    rec = recorder_factory(broker.url, "cp_simu/#")
    launcher = launcher_factory()
    launcher.start(definition("auto_a", csms.url), definition("auto_b", csms.url))
    window = make_window(broker.url)
    qtbot.waitUntil(lambda: all(window.fleet.get(i) and window.fleet.get(i).state == "Accepted"
                                for i in ("auto_a", "auto_b")), timeout=BOOT_MS)

    # the panel's switch: this CP's own auto command; the status says it runs, with its seed
    assert window.select("auto_a")
    qtbot.waitUntil(lambda: window.panel.auto.isVisible() and window.panel.auto.check.isEnabled())
    window.panel.auto.check.click()
    qtbot.waitUntil(lambda: extra(window, "auto_a").get("auto") is True, timeout=10_000)
    seed = extra(window, "auto_a")["auto_seed"]
    assert window.panel.auto.check.isChecked() and f"seed {seed}" in window.panel.auto.detail.text()
    row = window.model.row_of("auto_a")
    assert window.model.index(row, AUTO_COLUMN).data() == f"auto (seed {seed})"
    assert not window.table.isColumnHidden(AUTO_COLUMN)  # shown once a charge point runs them
    assert extra(window, "auto_b").get("auto") is not True
    window.panel.auto.check.click()
    qtbot.waitUntil(lambda: extra(window, "auto_a").get("auto") is False, timeout=10_000)

    # the whole fleet, seeded, many arrivals: every CP's seed derives from 42; cars come
    answer_auto_dialog(window, fleet=True, seed=42, rate=3600.0)
    command = rec.wait_json(T.launcher_cmd, lambda d: d.get("type") == "auto")
    assert "charge_points" not in command and command["seed"] == 42 and command["rate"] == 3600.0
    qtbot.waitUntil(lambda: all(extra(window, i).get("auto_seed") == derived_seed(42, i)
                                for i in ("auto_a", "auto_b")), timeout=10_000)
    qtbot.waitUntil(lambda: any(c.status != "Available" for i in ("auto_a", "auto_b")
                                for c in window.fleet.get(i).connectors.values()), timeout=20_000)

    # off for the selection only
    assert window.select("auto_b")
    answer_auto_dialog(window, fleet=False, seed=None, rate=4.0, on=False)
    qtbot.waitUntil(lambda: extra(window, "auto_b").get("auto") is False, timeout=10_000)
    assert extra(window, "auto_a").get("auto") is True
