"""Fixtures for the supervisor: the real window on a real broker, and helpers to feed it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus
from cp_simu.topics import Topics
from supervisor.main_window import MainWindow
from tests.conftest import Recorder

T = Topics()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every window and supervisor process of a test keeps its settings apart, never the user's."""
    config = tmp_path_factory.mktemp("config")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(config))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))  # for the processes a test starts
    return config


@pytest.fixture
def make_window(qtbot) -> Iterator[Callable[[str], MainWindow]]:
    """Open a connected window; confirmations are answered Yes (tests can override)."""
    windows: list[MainWindow] = []

    def make(url: str, connect: bool = True, root: str = T.root) -> MainWindow:
        window = MainWindow(url, root)
        window.confirm = lambda _question: True  # type: ignore[method-assign]
        qtbot.addWidget(window)
        window.show()
        if connect:
            window.connect_broker()
            qtbot.waitUntil(lambda: window.bridge.connected, timeout=10_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


def publish_cp(rec: Recorder, cp_id: str, state: str = "Accepted", connectors: tuple[str, ...] = ("Available",),
               **definition) -> None:
    """Retained CP + connector statuses, as a charge point would publish them."""
    d = ChargePointDefinition(id=cp_id, nb_connectors=len(connectors), **definition)
    rec.publish(T.cp_status(cp_id), CpStatus.for_definition(d, 4242, state).to_json(), retain=True)
    for n, connector_state in enumerate(connectors, start=1):
        rec.publish(T.connector_status(cp_id, n), ConnectorStatus(
            status=connector_state, max_setpoint=d.max_setpoint_per_connector,
            ocpp_setpoint=d.max_setpoint_per_connector).to_json(), retain=True)


def wait_json(qtbot, rec: Recorder, topic: str, predicate: Callable[[dict], bool] = lambda d: True,
              timeout: int = 10_000) -> dict:
    """Wait, keeping the GUI running, for a JSON message on `topic` matching `predicate`."""
    found: list[dict] = []

    def check() -> bool:
        for message in rec.on_topic(topic):
            try:
                data = json.loads(message.payload) if message.payload else None
            except ValueError:
                continue
            if isinstance(data, dict) and predicate(data):
                found.append(data)
                return True
        return False

    qtbot.waitUntil(check, timeout=timeout)
    return found[0]


def row_ids(window: MainWindow) -> list[str]:
    """CP ids in the order the (sorted, filtered) list shows them."""
    proxy = window.proxy
    return [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
