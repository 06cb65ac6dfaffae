"""QApplication set-up for the supervisor: one window, Ctrl+C in the terminal closes it."""

from __future__ import annotations

import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cp_simu.broker_access import BrokerAccess
from supervisor.main_window import MainWindow


def run(broker: str | BrokerAccess, root: str, connect: bool = True) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ocpp-simu supervisor")
    window = MainWindow(broker, root)
    window.show()
    if connect:
        window.connect_broker()
    # Qt's loop does not return to Python on its own: wake it so SIGINT is seen.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(interval=200)
    wake.timeout.connect(lambda: None)
    wake.start()
    return app.exec()
