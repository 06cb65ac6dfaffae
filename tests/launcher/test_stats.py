"""The fleet's call statistics through the real launcher: the Prometheus endpoint during a run,
`launcher/stats`, the run file and `ocpp-simu report` on it, and silence while the fleet is idle."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cp_simu.config import SECTION_SIMULATION, update_section
from launcher.stats import DEFAULT_METRICS_PORT
from tests.conftest import Csms, start_csms
from tests.launcher.conftest import TOPICS, definition
from tests.launcher.test_mixed_fleet import control_call
from tests.procs import PATIENCE, REPO, free_port, ocpp_simu, wait_until


def fast_template(tmp_path: Path) -> Path:
    """The shipped template, with statistics at most every second."""
    path = tmp_path / "template.ini"
    shutil.copy(REPO / "config.ini", path)
    update_section(path, SECTION_SIMULATION, {"stats_interval": "1"})
    return path


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the metrics endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5 * PATIENCE) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def calls(samples: dict, action: str, outcome: str = "ok") -> float:
    return samples.get(("ocpp_simu_call_duration_seconds_count", (("action", action), ("outcome", outcome))), 0)


@pytest.mark.parametrize("mode", ["fork", "subprocess"])
def test_metrics_during_a_run_and_the_report_of_it(launcher_factory, csms, tmp_path: Path, mode: str) -> None:
    port = free_port()
    run = launcher_factory("--spawn-mode", mode, "--config", str(fast_template(tmp_path)), "--metrics-port", str(port))
    run.start(definition("S16", csms.url), definition("S201", csms.url, ocpp_version="2.0.1"))
    run.wait_status("S16", "Accepted", timeout=40)
    run.wait_status("S201", "Accepted")
    for cp_id in ("S16", "S201"):  # a Heartbeat, then a call that publishes it
        assert control_call(csms, cp_id, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
    assert control_call(csms, "S16", "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                        "connectorId": 1}) == {"status": "Accepted"}
    assert control_call(csms, "S201", "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                         "evse": {"id": 1, "connectorId": 1}}) == {"status": "Accepted"}

    def counted() -> dict | None:
        samples = scrape(port)
        done = (calls(samples, "BootNotification") == 2 and calls(samples, "Heartbeat") == 2
                and calls(samples, "StatusNotification") >= 5)  # 1.6: connectors 0, 1 and 1; 2.0.1: EVSE 1 twice
        return samples if done else None
    samples = wait_until(counted, 15, interval=0.5, what="Boot, Heartbeat and StatusNotification on /metrics")
    assert isinstance(samples, dict)
    boot_le = {dict(labels)["le"]: value for (name, labels), value in samples.items()
               if name == "ocpp_simu_call_duration_seconds_bucket" and dict(labels)["action"] == "BootNotification"}
    assert boot_le["+Inf"] == 2 and boot_le["65.536"] == 2 and boot_le["0.0005"] <= 2 and len(boot_le) == 36
    assert not [k for k in samples if "cp_id" in dict(k[1]) or dict(k[1]).get("outcome") not in (None, "ok")]
    assert samples[("ocpp_simu_charge_points_reporting", ())] == 2

    merged = run.rec.wait_json(TOPICS.launcher_stats, lambda d: d["calls"].get("Heartbeat", {}).get("ok", {})
                               .get("n") == 2, timeout=10)
    assert merged["cps"] == 2 and merged["calls"]["BootNotification"]["ok"]["n"] == 2
    run_file = Path(run.info()["run_file"])
    assert run_file.parent == run.workdir / "runs"
    wait_until(lambda: '"Heartbeat"' in run_file.read_text(), 10, what="the run file's Heartbeat figures")

    out = tmp_path / "report"
    result = subprocess.run(ocpp_simu("report", str(run_file), "--out", str(out)), capture_output=True, text=True,
                            timeout=60 * PATIENCE)  # matplotlib: ~3 s of CPU, minutes on a crowded machine
    assert result.returncode == 0, result.stderr
    table = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert table["BootNotification"][1:4] == ["2", "0", "0"] and table["Heartbeat"][1] == "2"
    assert "| BootNotification | 2 | 0 | 0 |" in (out / "summary.md").read_text()
    page = (out / "index.html").read_text()
    assert "<td>Heartbeat</td>" in page and 'src="latency.png"' in page and 'src="timeline.png"' in page
    for png in ("latency.png", "timeline.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.fixture
def heartbeat_csms(tmp_path: Path) -> Iterator[Csms]:
    """The demo CSMS asking for a heartbeat every second."""
    yield from start_csms(tmp_path, "--heartbeat-interval", "1")


def test_an_idle_fleet_publishes_no_statistics(launcher_factory, heartbeat_csms: Csms, tmp_path: Path) -> None:
    """Idle: heartbeats every second and nothing else; they go out with the next other call."""
    csms = heartbeat_csms
    run = launcher_factory("--config", str(fast_template(tmp_path)), "--no-metrics")
    run.start(definition("I1", csms.url), definition("I2", csms.url))
    for cp_id in ("I1", "I2"):
        run.wait_status(cp_id, "Accepted", timeout=40)
        run.rec.wait_json(TOPICS.cp_stats(cp_id), lambda d: d["calls"].get("StatusNotification"), timeout=10)
    run.rec.wait_json(TOPICS.launcher_stats, lambda d: d["cps"] == 2, timeout=10)
    time.sleep(1.5)  # the last boot-time publication (at most an interval after the last call)

    def stats_messages() -> list:
        return [m for m in run.rec.messages if m.topic.endswith("/stats")]
    before = len(stats_messages())
    time.sleep(4)  # four statistics intervals, four heartbeats each
    assert len(stats_messages()) == before
    assert len(csms.messages("Heartbeat", cp_id="I1", direction="in")) >= 4
    # another call: one message from that charge point, its heartbeats with it, then the launcher's
    assert control_call(csms, "I1", "TriggerMessage", {"requestedMessage": "StatusNotification",
                                                       "connectorId": 1}) == {"status": "Accepted"}
    stats = run.rec.wait_json(TOPICS.cp_stats("I1"), lambda d: d["calls"]["StatusNotification"]["ok"]["n"] == 3,
                              timeout=5)
    assert stats["calls"]["Heartbeat"]["ok"]["n"] >= 4 and stats["sessions"] == 0
    run.rec.wait_json(TOPICS.launcher_stats, lambda d: d["calls"]["StatusNotification"]["ok"]["n"] == 5, timeout=5)
    time.sleep(2.5)
    new = [m.topic for m in stats_messages()[before:]]
    assert sorted(new) == sorted([TOPICS.launcher_stats, TOPICS.cp_stats("I1")]), new


def test_launchers_sharing_a_host_each_serve_metrics_on_a_port_they_publish(launcher_factory, tmp_path: Path) -> None:
    """The default port (9002) goes to the first launcher of a host; another one falls back to a
    free port and says which; `--metrics-port 0` asks for any free port. Each is in its info."""
    runs = [launcher_factory(name="east", workdir=tmp_path / "east"),
            launcher_factory(name="west", workdir=tmp_path / "west"),
            launcher_factory("--metrics-port", "0", name="north", workdir=tmp_path / "north")]
    ports = []
    for run in runs:
        url = run.info()["metrics"]
        port = int(url.removeprefix("http://127.0.0.1:").removesuffix("/metrics"))
        ports.append(port)
        assert ("ocpp_simu_charge_points_reporting", ()) in scrape(port)
        wait_until(lambda run=run, url=url: f"metrics {url}" in run.proc.output(), 5, what="the port printed")
    assert len(set(ports)) == 3
    for run, port in zip(runs[:2], ports[:2], strict=True):  # 9002, or (held by another) a free port, and why
        assert port == DEFAULT_METRICS_PORT or f"metrics port {DEFAULT_METRICS_PORT} is taken" in run.proc.output()


def test_a_metrics_port_asked_for_that_is_taken_stops_the_launcher(launcher_factory) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = launcher_factory("--metrics-port", str(port), wait=False)
        assert run.proc.wait(30) == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in run.proc.output()
    assert "choose another --metrics-port (0: any free port" in run.proc.output()
    assert run.rec.last(TOPICS.launcher_status) is None, "it never announced itself"

    quiet = launcher_factory("--no-metrics")
    assert quiet.info()["metrics"] == ""
    wait_until(lambda: "metrics off (--no-metrics)" in quiet.proc.output(), 5, what="metrics off")
