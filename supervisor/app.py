"""QApplication set-up for the supervisor: one window; Ctrl+C or SIGTERM closes it cleanly.

A signal only asks the event loop to close the window: the Python handler runs between two
bytecodes of whatever slot is executing, and closing from there would tear the window down in
the middle of a model update. At exit the MQTT thread is already joined (closeEvent) and the
window is destroyed here, on the GUI thread, before the interpreter's final garbage collection
could free Qt objects from another thread.
"""

from __future__ import annotations

import gc
import signal
import sys

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cp_simu.broker_access import BrokerAccess
from supervisor.main_window import MainWindow

SIGNAL_POLL_MS = 200  # Qt's loop does not return to Python on its own: wake it to run handlers
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run(broker: str | BrokerAccess, root: str, connect: bool = True) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ocpp-simu supervisor")
    window = MainWindow(broker, root)
    previous = {sig: signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close)) for sig in STOP_SIGNALS}
    wake = QTimer(interval=SIGNAL_POLL_MS)
    wake.timeout.connect(lambda: None)
    wake.start()
    try:
        window.show()
        if connect:
            window.connect_broker()
        return app.exec()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        wake.stop()
        window.close()  # a no-op when the loop ended by closing it
        shiboken6.delete(wake)
        shiboken6.delete(window)
        gc.collect()
