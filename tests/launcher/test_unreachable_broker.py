"""No broker answers: the launcher says so on stderr at once, a charge point in its log, and
both keep retrying with the backoff they announce until one comes; a launcher that
comes then still refuses to serve topics another launcher serves."""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime
from pathlib import Path

from cp_simu.topics import Topics
from tests.conftest import Recorder
from tests.procs import free_port, managed, ocpp_simu, port_open, wait_until

LINE = re.compile(r"^(\S+ \S+) WARNING .*cannot reach broker (\S+) \((.+)\); retrying in (\d+)s$", re.M)


def _attempts(text: str) -> list[tuple[float, str, str, int]]:
    """(time, url, why, announced delay) of each failed attempt logged."""
    return [(datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f").timestamp(), url, why, int(delay))
            for t, url, why, delay in LINE.findall(text)]


def test_launcher_says_no_broker_answers_and_retries_as_announced(tmp_path: Path):
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    args = ocpp_simu("launcher", "--broker", url, "--workdir", str(tmp_path / "simu"), "--no-embedded-broker")
    with managed(args, log=tmp_path / "launcher.out") as launcher:
        wait_until(lambda: _attempts(launcher.output()) or not launcher.alive(), 3, what="the first complaint")
        first = _attempts(launcher.output())[0]
        assert first[1:] == (url, "connection refused", 3)
        wait_until(lambda: len(_attempts(launcher.output())) >= 3, 12, what="two more attempts")
        attempts = _attempts(launcher.output())
        assert [a[3] for a in attempts[:3]] == [3, 4, 8]  # growing, and said before each wait
        for (t0, *_, announced), (t1, *_) in itertools.pairwise(attempts[:3]):
            assert abs((t1 - t0) - announced) < 1.0, attempts

        with managed(ocpp_simu("broker", "--port", str(port)), log=tmp_path / "broker.out") as broker:
            wait_until(lambda: port_open(port) or not broker.alive(), 15, what="the broker")
            rec = Recorder(url, "cp_simu/launcher/#", "test-late-broker")
            try:  # the launcher's next attempt (announced: 8 s) connects it
                wait_until(lambda: rec.last("cp_simu/launcher/status") == b"Alive", 15, what="launcher Alive")
            finally:
                rec.close()
        assert launcher.alive()


def test_a_launcher_waiting_for_the_broker_still_refuses_to_be_a_second_unnamed_one(tmp_path: Path):
    """The other launcher's retained Alive and info reach the broker while this one waits for
    it: once connected, it must see them and stop, without announcing itself over them."""
    port = free_port()
    url = f"mqtt://127.0.0.1:{port}"
    own = Topics().launcher("")
    other = {"host": "other-host", "pid": 4242, "workdir": "/srv/fleet", "running": 12}
    args = ocpp_simu("launcher", "--broker", url, "--workdir", str(tmp_path / "simu"), "--no-embedded-broker")
    with managed(args, log=tmp_path / "launcher.out") as launcher:
        wait_until(lambda: _attempts(launcher.output()) or not launcher.alive(), 3, what="the first complaint")
        with managed(ocpp_simu("broker", "--port", str(port)), log=tmp_path / "broker.out") as broker:
            wait_until(lambda: port_open(port) or not broker.alive(), 15, what="the broker")
            rec = Recorder(url, "cp_simu/launcher/#", "test-other-launcher")
            try:  # before the launcher's next attempt (announced: 3 s, then 4 s)
                rec.publish(own.info, json.dumps(other), retain=True)
                rec.publish(own.status, "Alive", retain=True)
                assert launcher.wait(20) == 1, launcher.output()
                assert "an unnamed launcher is already Alive on this broker (host other-host, pid 4242)" \
                    in launcher.output()
                assert rec.last_json(own.info) == other  # it never announced itself
                assert [m.payload for m in rec.on_topic(own.status)] == [b"Alive"]
            finally:
                rec.close()


def test_charge_point_logs_that_no_broker_answers(tmp_path: Path):
    port = free_port()
    directory = tmp_path / "CP1"
    args = ocpp_simu("chargepoint", "--workdir", str(directory), "--broker", f"mqtt://127.0.0.1:{port}",
                     "--id", "CP1", "--central-system", f"ws://127.0.0.1:{free_port()}/")
    with managed(args, log=tmp_path / "cp.out") as cp:
        log = directory / "chargepoint.log"
        wait_until(lambda: (log.exists() and _attempts(log.read_text())) or not cp.alive(), 10,
                   what="the complaint in chargepoint.log")
        assert _attempts(log.read_text())[0][1:] == (f"mqtt://127.0.0.1:{port}", "connection refused", 3)
        # also on its stderr (WARNING), written by the next handler, a moment after the log file
        wait_until(lambda: "cannot reach broker" in cp.output(), 5, what="the complaint on stderr")
