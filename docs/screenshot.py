"""Make docs/supervisor.png: the supervisor driving a small real fleet in every state, and
docs/supervisor-charts.png: the same window with its charts, a DC car with an EV model charging.

Starts a private broker, three demo CSMSs (answering Accepted, Pending and Rejected), a
launcher and eight real charge points (two of them OCPP 2.0.1, the others 1.6), sets cars
charging through the window's own commands, kills one, then grabs the window (offscreen, no
display needed); then gives the DC charge point's car an EV model (`dc_800v` at 20 %), lets it
charge for CHARTS_S seconds with the Charts dock open, grabs again, and stops everything it
started.

    python docs/screenshot.py [--out docs/supervisor.png] [--charts-out docs/supervisor-charts.png]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QEventLoop, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.common import private_broker  # noqa: E402
from cp_simu.models import CarInput, ChargePointDefinition, EvSettings  # noqa: E402
from cp_simu.process import MARKER_FILE, verified_pid  # noqa: E402
from supervisor.main_window import MainWindow  # noqa: E402
from supervisor.settings import SupervisorSettings  # noqa: E402

SELECTED = "depot_ac_02"
CHARTED = "depot_dc_01"
CHARTS_S = 45.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def process(args: list[str], log: Path, wait_port: int | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cp_simu", *args], stdout=out, stderr=subprocess.STDOUT,
                                cwd=log.parent, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while wait_port and socket.socket().connect_ex(("127.0.0.1", wait_port)) != 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{args[0]} did not start; see {log}")
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def csms(tmp: Path, *options: str) -> contextlib.AbstractContextManager[subprocess.Popen]:
    port = free_port()
    return _with_url(process(["csms", "--port", str(port), "--api-port", "0", *options],
                             tmp / f"csms-{port}.log", port), f"ws://127.0.0.1:{port}/")


@contextlib.contextmanager
def _with_url(cm: contextlib.AbstractContextManager, url: str) -> Iterator[str]:
    with cm:
        yield url


def kill_charge_points(workdir: Path) -> None:
    """They are detached from us (they outlive launchers): kill them by their verified pid."""
    for marker in workdir.glob(f"chargepoints/*/{MARKER_FILE}"):
        pid = verified_pid(marker.parent)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def spin(app: QApplication, condition: Callable[[], bool], timeout: float, what: str) -> None:
    loop, timer = QEventLoop(), QTimer(interval=50)
    deadline = time.monotonic() + timeout
    timer.timeout.connect(lambda: (condition() or time.monotonic() > deadline) and loop.quit())
    timer.start()
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError(f"timed out waiting for {what}")


def fleet(accepted: str, pending: str, rejected: str) -> list[ChargePointDefinition]:
    ac = {"vendor": "Open OCPP AC", "model": "Simulated AC"}
    dc = {"type": "DC", "nb_phases": 1, "vendor": "Open OCPP DC", "model": "Simulated DC"}
    nowhere = f"ws://127.0.0.1:{free_port()}/"
    entries = [
        dict(id="depot_ac_01", central_system=accepted, **ac),
        dict(id="depot_ac_02", central_system=accepted, nb_connectors=2, max_setpoint_per_connector=16,
             serial="S/N7F3A21C9", ocpp_version="2.0.1", **ac),
        dict(id="depot_ac_03", central_system=accepted, **ac),
        dict(id="depot_ac_04", central_system=accepted, **ac),
        dict(id="depot_dc_01", central_system=accepted, voltage=400, max_setpoint=50000,
             max_setpoint_per_connector=50000, ocpp_version="2.0.1", **dc),
        dict(id="lab_pending", central_system=pending, **ac),
        dict(id="lab_rejected", central_system=rejected, **ac),
        dict(id="lab_offline", central_system=nowhere, nb_phases=1, **ac),
    ]
    return [ChargePointDefinition.from_dict(e) for e in entries]


def stage(app: QApplication, window: MainWindow, definitions: list[ChargePointDefinition]) -> None:
    """Start the fleet and put each CP in its state, through the supervisor's own commands."""
    ops = window.ops
    spin(app, lambda: window.fleet.launcher == "Alive", 20, "the launcher")
    ops.start(definitions)
    want = {"lab_pending": "Pending", "lab_rejected": "Rejected", "lab_offline": "Disconnected"}
    spin(app, lambda: all((e := window.fleet.get(d.id)) and e.state == want.get(d.id, "Accepted")
                          and e.connectors for d in definitions), 40, "every charge point's state")
    for cp_id, connector, car, tag in (
            ("depot_ac_01", 1, CarInput(cable=32, consumption_l1=16, consumption_l2=16, consumption_l3=15.5), "TAG1"),
            ("depot_ac_02", 1, CarInput(cable=32, consumption_l1=16, consumption_l2=16, consumption_l3=16), "TAG2"),
            ("depot_ac_02", 2, CarInput(cable=20, consumption_l1=10, consumption_l2=10, consumption_l3=10), None),
            ("depot_dc_01", 1, CarInput(cable=50000, consumption_l1=42000), "TAG3")):
        ops.car(cp_id, connector, car)
        if tag:
            ops.present_tag(cp_id, connector, tag)
    ops.set_faulted("depot_ac_03", 1, True)
    ops.kill(["depot_ac_04"])
    ops.start([definitions[0]])  # refused by the launcher: shows how errors surface
    charging = ("depot_ac_01", "depot_ac_02", "depot_dc_01")
    spin(app, lambda: all(window.fleet.get(i).power_w > 0 for i in charging)
         and window.fleet.get("depot_ac_04").state == "Dead"
         and window.fleet.get("depot_ac_03").connectors[1].status == "Faulted", 30, "the staged states")
    spin(app, lambda: "already running" in window.log_view.toPlainText(), 10, "the launcher's error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "supervisor.png")
    parser.add_argument("--charts-out", type=Path, default=REPO / "docs" / "supervisor-charts.png")
    args = parser.parse_args(argv)
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        workdir = tmp / "simu"
        workdir.mkdir()
        stack.callback(kill_charge_points, workdir)
        broker = stack.enter_context(private_broker())
        accepted = stack.enter_context(csms(tmp))
        pending = stack.enter_context(csms(tmp, "--boot-status", "Pending"))
        rejected = stack.enter_context(csms(tmp, "--boot-status", "Rejected"))
        stack.enter_context(process(["launcher", "--broker", broker, "--workdir", str(workdir)],
                                    tmp / "launcher.log"))
        window = MainWindow(broker, settings=SupervisorSettings.in_file(tmp / "supervisor.ini"))
        window.resize(1400, 860)
        window.show()
        window.connect_broker()
        stack.callback(window.close)
        stage(app, window, fleet(accepted, pending, rejected))
        window.select(SELECTED)
        spin(app, lambda: window.panel.cp_id == SELECTED, 5, "the selection")
        for _ in range(20):  # let a meter refresh land and the layout settle
            app.processEvents()
            time.sleep(0.05)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        window.grab().save(str(args.out))
        print(f"wrote {args.out}")
        charts(app, window, args.charts_out)
    return 0


def charts(app: QApplication, window: MainWindow, out: Path) -> None:
    """The DC car becomes an 800 V EV at 20 % (its curve, its SoC): charted for CHARTS_S seconds."""
    window.ops.car(CHARTED, 1, CarInput(ev=EvSettings("dc_800v", soc=20.0, target_soc=80.0)))
    window.select(CHARTED)
    window.charts_action.trigger()
    window.resize(1600, 900)
    spin(app, lambda: window.panel.cp_id == CHARTED, 5, "the selection")
    deadline = time.monotonic() + CHARTS_S
    spin(app, lambda: time.monotonic() > deadline, CHARTS_S + 5, "the charts to fill")
    window.grab().save(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
