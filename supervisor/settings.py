"""What the supervisor remembers between runs: the broker, the window's layout, the fleet
list's columns and the folder of the last setup file.

Kept with QSettings in `$XDG_CONFIG_HOME/ocpp-simu/supervisor.ini` (`~/.config/…`). Never a
secret: the broker is stored as scheme, host and port only (user name, password and TLS files
stay in memory), so a remembered URL is safe to keep in a file nobody protects.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from cp_simu.urls import BrokerUrl

ORGANIZATION = "ocpp-simu"
APPLICATION = "supervisor"


class SupervisorSettings:
    BROKER = "connection/broker"
    SETUP_FOLDER = "files/setup_folder"
    GEOMETRY = "window/geometry"
    WINDOW_STATE = "window/state"
    SPLITTER = "window/splitter"
    COLUMNS = "fleet_list/columns"

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store or QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                        ORGANIZATION, APPLICATION)

    @classmethod
    def in_file(cls, path: str | Path) -> SupervisorSettings:
        """Settings kept in `path` (a screenshot or a benchmark must not use nor change the user's)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def broker(self) -> str | None:
        """The last broker connected to, or None (never set, or not a broker URL any more)."""
        value = self.store.value(self.BROKER)
        try:
            return str(BrokerUrl.parse(value)) if isinstance(value, str) and value else None
        except ValueError:
            return None

    @broker.setter
    def broker(self, url: BrokerUrl) -> None:
        self.store.setValue(self.BROKER, str(url))  # str() drops user name and password

    @property
    def setup_folder(self) -> str:
        value = self.store.value(self.SETUP_FOLDER)
        return value if isinstance(value, str) else ""

    @setup_folder.setter
    def setup_folder(self, folder: str) -> None:
        self.store.setValue(self.SETUP_FOLDER, folder)

    def state(self, key: str) -> QByteArray | None:
        """A widget state saved under `key` (GEOMETRY, WINDOW_STATE, SPLITTER, COLUMNS)."""
        value = self.store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_states(self, states: dict[str, QByteArray]) -> None:
        for key, value in states.items():
            self.store.setValue(key, value)
        self.store.sync()
