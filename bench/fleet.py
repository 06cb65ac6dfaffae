"""One fleet, every figure of it: N charge points started by one `start` command in a given
spawn mode (a process each, forked or not, or packed K per process) on a given broker; then
how long they took to be Accepted and the CPU each part spent meanwhile, their memory once
idle (PSS per charge point), and the CPU they use idle.

    python -m bench.fleet 200 --broker mosquitto --cps-per-process 100
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from cp_simu import ksm
from cp_simu.models import LauncherCommandType

from .common import TOPICS, Stack, StatusWatch, cpu_seconds, stack, stop_cleanly_on_signals, wait_for
from .smaps import KB

MB = 1024 * 1024




def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_full_info().pss
    return total / MB


@dataclass
class FleetFigures:
    count: int
    mode: str  # "fork", "subprocess" or "packed K"
    broker: str
    load: float  # load average (1 min) before the start
    boots_s: float = 0.0  # start command → the CSMS received N BootNotifications
    accepted_s: float = 0.0  # start command → N retained statuses said Accepted
    boot_cpu_s: dict[str, float] = field(default_factory=dict)  # CPU per part until then
    processes: int = 0
    pss_per_cp_mb: float = 0.0
    total_pss_mb: float = 0.0
    helper_pss_mb: float = 0.0
    idle_cpu_pct: float = 0.0  # of one core, all charge point processes, over the idle window
    broker_idle_cpu_pct: float = 0.0
    idle_window_s: float = 0.0
    ksm_pss_per_cp_mb: float | None = None  # with the host's KSM on (None: not measured)
    ksmd_cpu_pct: float | None = None
    ramp: float | None = None  # charge points started per second (None: all at once)
    heartbeat_s: int = 300  # the interval the CSMS gave
    heartbeats: int = 0  # Heartbeat calls the CSMS received in the idle window
    heartbeating: int = 0  # distinct charge points among them
    accepted_after: int = 0  # still Accepted at the end of the idle window
    csms_idle_cpu_pct: float = 0.0

    @property
    def idle_mcpu_per_cp(self) -> float:
        """Thousandths of a core per idle charge point."""
        return self.idle_cpu_pct * 10 / self.count

    def describe(self) -> str:
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in self.boot_cpu_s.items())
        ramp = f", ramp {self.ramp:g}/s" if self.ramp else ""
        text = (f"fleet N={self.count} ({self.mode}, {self.broker} broker{ramp}, load {self.load:.1f}): "
                f"{self.boots_s:.2f} s to the boots, {self.accepted_s:.2f} s to Accepted (CPU s: {cpu}); "
                f"PSS {self.pss_per_cp_mb * KB:.0f} KB per CP in {self.processes} processes "
                f"(+ fork server {self.helper_pss_mb:.0f} MB); idle CPU {self.idle_mcpu_per_cp:.3f} m-core per CP, "
                f"broker {self.broker_idle_cpu_pct:.1f} %, CSMS {self.csms_idle_cpu_pct:.1f} %")
        if self.idle_window_s:
            text += (f"; {self.heartbeats:,} heartbeats from {self.heartbeating:,} CPs in {self.idle_window_s:.0f} s "
                     f"(interval {self.heartbeat_s} s), {self.accepted_after:,} still Accepted")
        if self.ksm_pss_per_cp_mb is not None:
            text += f"; with KSM: PSS {self.ksm_pss_per_cp_mb * KB:.0f} KB per CP, ksmd {self.ksmd_cpu_pct:.1f} %"
        return text

    def to_dict(self) -> dict:
        return asdict(self)


def mode_args(mode: str) -> tuple[str, ...]:
    """Launcher options of a mode: "fork", "subprocess", or "packed K"."""
    if mode.startswith("packed"):
        return ("--cps-per-process", mode.split()[1])
    return ("--spawn-mode", mode)


def run(count: int, mode: str = "fork", broker: str = "embedded", *, window: float = 30.0, settle: float = 5.0,
        heartbeat: int = 300, ramp: float | None = None, config: Path | None = None, with_ksm: bool = False,
        then: object = None) -> FleetFigures:
    """`heartbeat`: the interval the demo CSMS gives (its default); `ramp`: charge points started
    per second; `config`: the charge points' config.ini template (the launcher's `--config`);
    `then(stack, watch, ids)`: more measurements on the idle fleet before it is stopped."""
    figures = FleetFigures(count, mode, broker, os.getloadavg()[0], ramp=ramp, heartbeat_s=heartbeat)
    launcher_args = (*mode_args(mode), "--max-cps", str(max(count, 1000)),
                     *(("--config", str(config.resolve())) if config else ()))
    with stack(launcher_args, broker=broker, csms_args=("--fast", "--heartbeat-interval", str(heartbeat))) as s:
        watch = StatusWatch(s.broker_url)
        try:
            ids = _boot(s, watch, count, figures)
            time.sleep(settle)
            hosts = sorted(set(s.cp_pids()))
            figures.processes = len(hosts)
            figures.total_pss_mb = pss_mb(hosts)
            figures.pss_per_cp_mb = figures.total_pss_mb / count
            figures.helper_pss_mb = pss_mb(s.fork_servers())
            if window:
                _idle(s, watch, ids, hosts, window, figures)
            if callable(then):  # before KSM: it would merge the very pages `then` may measure
                then(s, watch, ids)
            if with_ksm:
                _with_ksm(hosts, count, figures)
        finally:
            watch.close()
    return figures


def _idle(s: Stack, watch: StatusWatch, ids: list[str], hosts: list[int], window: float,
          figures: FleetFigures) -> None:
    """CPU of the charge point processes, the broker and the CSMS over `window` s of an idle
    fleet, the heartbeats the CSMS received meanwhile, and how many stayed Accepted."""
    parts = [hosts, [s.procs[0].pid], [s.procs[1].pid]]
    s.journal.read()
    before, t0, t0_wall = [cpu_seconds(p) for p in parts], time.monotonic(), time.time()
    time.sleep(window)
    figures.idle_window_s = time.monotonic() - t0
    used = [cpu_seconds(p) - b for p, b in zip(parts, before, strict=True)]
    figures.idle_cpu_pct, figures.broker_idle_cpu_pct, figures.csms_idle_cpu_pct = (
        u / figures.idle_window_s * 100 for u in used)
    time.sleep(1.0)  # the CSMS's batched journal catches up
    beats = [cp for t, cp, action in s.journal.read() if action == "Heartbeat" and t0_wall <= t <= t0_wall + window]
    figures.heartbeats, figures.heartbeating = len(beats), len(set(beats))
    figures.accepted_after = watch.registered(ids)


PROGRESS_EVERY = 10.0  # s between two progress lines of a long boot


def _boot(s: Stack, watch: StatusWatch, count: int, figures: FleetFigures) -> list[str]:
    fleet = s.fleet(count)
    ids = [d["id"] for d in fleet]
    parts = {"broker": [s.procs[0].pid], "csms": [s.procs[1].pid],
             "launcher": [s.launcher.pid, *s.fork_servers()] if s.launcher else []}
    before = {k: cpu_seconds(v) for k, v in parts.items()}
    t0_wall, t0 = time.time(), time.monotonic()
    s.command(LauncherCommandType.START, fleet, **({"ramp": figures.ramp} if figures.ramp else {}))
    accepted: dict[str, float] = {}  # id -> first Accepted: each looked up until found, not on every poll
    next_progress = t0 + PROGRESS_EVERY

    def last_accepted() -> float | None:
        nonlocal next_progress
        for i in ids:
            if i not in accepted and (t := watch.first_time(TOPICS.cp_status(i), _is_accepted, t0)) is not None:
                accepted[i] = t
        if time.monotonic() >= next_progress and count >= 1000:
            next_progress += PROGRESS_EVERY
            print(f"  {time.monotonic() - t0:.0f} s: {len(accepted):,} of {count:,} Accepted "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
        return max(accepted.values()) if len(accepted) == count else None

    ramp_s = count / figures.ramp if figures.ramp else 0.0
    accepted_at = wait_for(last_accepted, ramp_s + max(300.0, count / 10), f"{count} Accepted", interval=0.2)
    figures.accepted_s = accepted_at - t0
    figures.boot_cpu_s = {k: cpu_seconds(v) - before[k] for k, v in parts.items()}
    figures.boot_cpu_s["charge points"] = cpu_seconds(sorted(set(s.cp_pids())))
    wait_for(lambda: len({cp for _, cp in s.csms_boots()}) >= count, 60, f"{count} boots")
    first_boot: dict[str, float] = {}
    for t, cp in s.csms_boots():
        first_boot.setdefault(cp, t)
    figures.boots_s = max(first_boot.values()) - t0_wall
    return ids


def _is_accepted(status: dict) -> bool:
    return status.get("status") == "Accepted"


KSM_SETTINGS = {"pages_to_scan": "1000", "sleep_millisecs": "20"}
KSM_WAIT = 150.0  # s at most for the merging to settle


def ksm_available() -> bool:
    """KSM can be switched on here (root, a kernel with per-process KSM)."""
    return os.access(ksm.KSM_DIR / "run", os.W_OK) and Path("/proc/self/ksm_stat").exists()


def _with_ksm(hosts: list[int], count: int, figures: FleetFigures) -> None:
    """Switch the host's KSM on for a while (its settings restored afterwards), wait until the
    fleet's PSS stops falling, and measure it and the KSM daemon's CPU."""
    if not ksm_available():
        return
    names = ("run", *KSM_SETTINGS)
    saved = {n: (ksm.KSM_DIR / n).read_text().strip() for n in names}
    ksmd = next((p for p in psutil.process_iter(["name"]) if p.info["name"] == "ksmd"), None)
    try:
        for name, value in {**KSM_SETTINGS, "run": "1"}.items():
            (ksm.KSM_DIR / name).write_text(value)
        # Merging starts after a full scan of the fleet's memory; done when PSS stops falling.
        scans = int((ksm.KSM_DIR / "full_scans").read_text())
        deadline, last = time.monotonic() + KSM_WAIT, pss_mb(hosts)
        while time.monotonic() < deadline:
            time.sleep(10)
            now = pss_mb(hosts)
            if int((ksm.KSM_DIR / "full_scans").read_text()) >= scans + 2 and now > last * 0.98:
                break
            last = now
        figures.ksm_pss_per_cp_mb = pss_mb(hosts) / count
        if ksmd is not None:
            before, t0 = cpu_seconds([ksmd.pid]), time.monotonic()
            time.sleep(10)
            figures.ksmd_cpu_pct = (cpu_seconds([ksmd.pid]) - before) / (time.monotonic() - t0) * 100
    finally:
        for name in reversed(names):
            with contextlib.suppress(OSError):
                (ksm.KSM_DIR / name).write_text(saved[name])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", nargs="*", type=int, default=[200])
    parser.add_argument("--spawn-mode", default="fork", choices=("fork", "subprocess"))
    parser.add_argument("--cps-per-process", type=int, default=1, help="above 1: packed mode")
    parser.add_argument("--broker", default="embedded", choices=("embedded", "mosquitto"))
    parser.add_argument("--window", type=float, default=30.0, help="idle CPU window (s); 0: none")
    parser.add_argument("--heartbeat", type=int, default=300, help="heartbeat interval the CSMS gives (s)")
    parser.add_argument("--ramp", type=float, default=None, help="charge points started per second")
    parser.add_argument("--config", type=Path, default=None, help="the charge points' config.ini template")
    parser.add_argument("--ksm", action="store_true", help="also measure with the host's KSM on (root)")
    args = parser.parse_args()
    stop_cleanly_on_signals()
    mode = f"packed {args.cps_per_process}" if args.cps_per_process > 1 else args.spawn_mode
    for n in args.count:
        print(run(n, mode, args.broker, window=args.window, heartbeat=args.heartbeat, ramp=args.ramp,
                  config=args.config, with_ksm=args.ksm).describe(), flush=True)


if __name__ == "__main__":
    main()
