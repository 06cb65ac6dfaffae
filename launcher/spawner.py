"""Starting charge point processes: a preloaded fork server, or plain subprocesses.

A fresh Python process importing websockets + ocpp + paho costs ~23 MB PSS and ~0.2 s of
CPU; forked from a parent that already imported them it shares those pages and starts at
once. So the launcher keeps a small helper process (this module run as `__main__`) that
imports the charge point's entry module and its libraries once, then forks one child per
request. The helper has no threads (a fork of a threaded process may inherit a held lock),
which is why it is not the launcher itself: the launcher holds an MQTT client.

Each child leaves the helper's session (`setsid`), so Ctrl+C in the launcher's terminal
never reaches it; takes stdin from /dev/null and stdout/stderr to the instance's log;
closes every inherited descriptor; restores default signal handling; then runs
`chargepoint.cli.run_instances(workdirs, broker)` (no command line to parse: code a child
runs for the first time copies memory pages, see docs/performance.md) and `os._exit`s
with its code. The helper reaps its children
(SIGCHLD) and reports each exit, so no zombie accumulates; if the helper ends, the
children are re-parented to init and keep running.

A batch of children (one `start` command) is forked behind a gate: each child waits until
the whole batch exists. Otherwise hundreds of booting children starve the helper of CPU and
the last fork of a 200-CP start happens seconds after the first. A fork costs ~2 ms of the
forking process's CPU, so a large batch is forked by one process per core: the helper forks
short-lived copies of itself ("forkers") that each fork a share of the batch, report their
children and end; the helper is the children's subreaper, so it reaps and reports them all.

Pipe protocol, one JSON object per line:
  launcher → helper  {"batch": [{"req": n, "cwd": DIR, "log": FILE, "workdirs": [DIR, ...],
                                  "broker": URL, "packed": false}, ...]}
  helper → launcher  {"req": n, "pid": PID, "ticks": START_TICKS} or {"req": n, "error": "..."}
                     {"exit": PID, "code": CODE}   (CODE < 0: killed by signal -CODE)
                     {"ready": true, "preloaded": [...]}   (once, after the imports)

`SubprocessSpawner` runs `python -m chargepoint ...` per CP instead (`--spawn-mode
subprocess`): slower and heavier, but each CP is an ordinary process for debugging.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import logging
import os
import pkgutil
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cp_simu import hugepages, kernel, ksm
from cp_simu.process import start_ticks
from cp_simu.proctitle import set_title

ENTRY_PACKAGE = "chargepoint"
ENTRY_MODULE = f"{ENTRY_PACKAGE}.cli"
ENTRY_FUNCTION = "run_instances"  # (workdirs, broker, packed=...) -> exit code: runs the instances
# Imported by the helper, besides every module of ENTRY_PACKAGE, so every CP shares them;
# anything missing is skipped.
PRELOAD = ("asyncio", "ssl", "json", "logging.handlers", "encodings.idna", "encodings.utf_8_sig", "stringprep",
           "websockets.asyncio.client", "ocpp.v16", "ocpp.v201", "ocpp.routing", "ocpp.charge_point",
           "paho.mqtt.client", "setproctitle")
# The entry package's warm-up after the imports, a generator of steps run while no request
# waits: it runs a charge point's code paths in memory (no socket, thread or file left), so
# the bytecode specialisation and lazy caches they cause are shared by every child instead of
# copied into each (docs/performance.md).
WARM_UP = (f"{ENTRY_PACKAGE}.preload", "steps")
SPAWN_TIMEOUT = 30.0
SHARE_MIN = 16  # a forker's share of a batch at the least: fewer forks are not worth a forker
PR_SET_CHILD_SUBREAPER = 36
FORK_SERVER_TITLE = "ocpp-simu fork-server"  # what `ps` shows for the helper
WARM_UP_DONE = "fork server: warm-up done"  # on its stderr (the launcher's log)

log = logging.getLogger(__name__)

ExitCallback = Callable[[int, int], None]  # (pid, exit code; negative = killed by that signal)


@dataclass(frozen=True)
class SpawnRequest:
    """A process to start: one charge point, or a packed process of several (`packed`)."""

    cwd: Path
    log: Path
    workdirs: tuple[Path, ...]  # the instance directories it runs (their config.ini written)
    broker: str
    packed: bool = False

    def args(self) -> list[str]:
        """The charge point command line (after the program name) that runs the same."""
        args = ["--packed"] if self.packed else []
        for workdir in self.workdirs:
            args += ["--workdir", str(workdir)]
        return [*args, "--broker", self.broker]


@dataclass(frozen=True)
class Spawned:
    pid: int = 0
    ticks: int | None = None  # start time of the child, to verify the PID before signalling it
    error: str = ""


class Spawner(Protocol):
    mode: str

    def spawn(self, requests: list[SpawnRequest]) -> list[Spawned]: ...

    def poll(self) -> None: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------
# launcher side
# ---------------------------------------------------------------------------

class ForkSpawner:
    """Client of the fork-server helper; restarts it if it died. `env`: the helper's
    environment, which every charge point inherits (e.g. its MQTT credentials)."""

    mode = "fork"

    def __init__(self, on_exit: ExitCallback, env: dict[str, str] | None = None) -> None:
        self._on_exit = on_exit
        self._env = env
        self._replies: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._next_req = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._start()

    def _start(self) -> None:
        """(Re)start the helper; its log lines go to the launcher's stderr."""
        self._replies = queue.SimpleQueue()  # nothing stale from a previous helper
        self._proc = subprocess.Popen([sys.executable, "-m", "launcher.spawner"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                                      env=self._env)
        threading.Thread(target=self._read, args=(self._proc, self._replies), name="spawner-reader",
                         daemon=True).start()

    def _read(self, proc: subprocess.Popen[bytes], replies: queue.SimpleQueue[dict[str, Any]]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "exit" in msg:
                self._on_exit(int(msg["exit"]), int(msg["code"]))
            elif "ready" in msg:
                log.info("fork server (pid %d) ready, %d modules preloaded", proc.pid, len(msg["preloaded"]))
            else:
                replies.put(msg)
        replies.put({"eof": True})
        proc.wait()  # reap the helper (it closes its output only by ending)

    def spawn(self, requests: list[SpawnRequest]) -> list[Spawned]:
        if not requests:
            return []
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        assert self._proc is not None and self._proc.stdin is not None
        first = self._next_req
        self._next_req += len(requests)
        batch = json.dumps({"batch": [{"req": first + i, "cwd": str(r.cwd), "log": str(r.log),
                                       "workdirs": [str(w) for w in r.workdirs], "broker": r.broker,
                                       "packed": r.packed} for i, r in enumerate(requests)]})
        results: dict[int, Spawned] = {}
        try:
            # A writer thread: the pipe holds ~64 KB and the replies must be read meanwhile.
            writer = threading.Thread(target=self._write, args=(self._proc.stdin, batch), daemon=True)
            writer.start()
            deadline = time.monotonic() + SPAWN_TIMEOUT
            while len(results) < len(requests):
                msg = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
                if "eof" in msg:
                    break
                req = int(msg["req"]) - first
                if 0 <= req < len(requests):
                    results[req] = Spawned(int(msg.get("pid", 0)), msg.get("ticks"), str(msg.get("error", "")))
        except queue.Empty:
            pass
        lost = Spawned(error="the fork server did not answer (see the launcher's log)")
        return [results.get(i, lost) for i in range(len(requests))]

    @staticmethod
    def _write(pipe: Any, line: str) -> None:
        with contextlib.suppress(OSError):
            pipe.write((line + "\n").encode())
            pipe.flush()

    def poll(self) -> None:
        """Exits arrive from the helper by themselves."""

    def close(self) -> None:
        """End the helper (EOF on its input); the charge points keep running."""
        if self._proc is None:
            return
        with contextlib.suppress(OSError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)


class SubprocessSpawner:
    """One `python -m chargepoint` per CP: no preloading, easy to debug and profile. `env`:
    each charge point's environment."""

    mode = "subprocess"

    def __init__(self, on_exit: ExitCallback, env: dict[str, str] | None = None) -> None:
        self._on_exit = on_exit
        self._env = env
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, requests: list[SpawnRequest]) -> list[Spawned]:
        results = []
        for r in requests:
            try:
                with open(r.log, "ab") as out:
                    proc = subprocess.Popen(
                        [sys.executable, "-m", ENTRY_PACKAGE, *r.args()], cwd=r.cwd,
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        close_fds=True, start_new_session=True, env=self._env)
            except OSError as exc:
                results.append(Spawned(error=f"cannot start: {exc}"))
                continue
            self._children[proc.pid] = proc
            results.append(Spawned(proc.pid, start_ticks(proc.pid)))
        return results

    def poll(self) -> None:
        """Reap the children that ended."""
        for pid, proc in list(self._children.items()):
            code = proc.poll()
            if code is not None:
                del self._children[pid]
                self._on_exit(pid, code)

    def close(self) -> None:
        """Forget the children: they run on, re-parented to init when the launcher exits."""
        self._children.clear()


# ---------------------------------------------------------------------------
# helper side (this module as `python -m launcher.spawner`)
# ---------------------------------------------------------------------------

def _modules_of(package: str) -> list[str]:
    """The package's modules, found by walking it, so lazily imported ones are preloaded too."""
    try:
        path = importlib.import_module(package).__path__
    except Exception as exc:
        print(f"spawner: cannot import {package}: {exc!r}", file=sys.stderr)
        return []
    return [m.name for m in pkgutil.walk_packages(path, f"{package}.") if not m.name.endswith(".__main__")]


def _preload() -> list[str]:
    loaded = []
    for name in dict.fromkeys((ENTRY_MODULE, *_modules_of(ENTRY_PACKAGE), *PRELOAD)):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a missing optional library only costs memory
            print(f"spawner: not preloading {name}: {exc!r}", file=sys.stderr)
    _check_threads()
    return loaded


def _check_threads() -> None:
    if threading.active_count() != 1:
        print("spawner: warning: preloading started threads; forking is unsafe", file=sys.stderr)


def _warm_up() -> Iterator[None]:
    """The warm-up's steps. Optional: a missing or failing warm-up only costs the children memory."""
    module, function = WARM_UP
    try:
        return iter(getattr(importlib.import_module(module), function)())
    except Exception as exc:
        print(f"spawner: charge point warm-up failed, skipped: {exc!r}", file=sys.stderr)
        return iter(())


def _warm_up_step(steps: Iterator[None]) -> bool:
    """Run the next step; False once there is none (done, or failed and skipped)."""
    try:
        next(steps)
    except StopIteration:
        return False
    except Exception as exc:
        print(f"spawner: charge point warm-up failed, skipped: {exc!r}", file=sys.stderr)
        return False
    _check_threads()
    return True


def _run_child(request: dict[str, Any], helper_fds: tuple[int, ...], gate: int) -> None:
    """In the forked child: detach, wait for the batch, redirect, reset, run the charge point.

    Never returns. `helper_fds` (the helper's wakeup pipe and the gate's write end) are
    closed first: the gate opens (EOF) once the helper and every child closed its write end.
    """
    code = 1
    try:
        gc.enable()
        os.setsid()
        signal.set_wakeup_fd(-1)
        for fd in helper_fds:
            os.close(fd)
        os.read(gate, 1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        os.chdir(request["cwd"])
        run = getattr(importlib.import_module(ENTRY_MODULE), ENTRY_FUNCTION)
        code = run([Path(w) for w in request["workdirs"]], request["broker"], packed=request["packed"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _serve(infd: int, outfd: int) -> None:
    def send(msg: dict[str, Any]) -> None:
        data = (json.dumps(msg) + "\n").encode()
        while data:
            data = data[os.write(outfd, data):]

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    send({"ready": True, "preloaded": _preload()})
    # Forks come first: a start arriving during the warm-up waits for one step at most.
    warming: Iterator[None] | None = _warm_up()

    def reap() -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})

    forkers = _forkers()
    poller = select.poll()
    poller.register(infd, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    pending = b""
    while True:
        events = poller.poll(0 if warming else None)
        if not events and warming is not None:
            if not _warm_up_step(warming):
                warming = None
                collapsed = hugepages.collapse()
                print(f"{WARM_UP_DONE} ({collapsed >> 20} MB in huge pages)", file=sys.stderr, flush=True)
            continue
        for fd, _ in events:
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    while os.read(wake_r, 512):
                        pass
                reap()
                continue
            chunk = os.read(infd, 1 << 16)
            if not chunk:
                reap()
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    for reply in _fork_batch(line, (wake_r, wake_w), forkers):
                        send(reply)
            reap()


def _fork_batch(line: bytes, wakeup_fds: tuple[int, int], forkers: int) -> list[dict[str, Any]]:
    """Fork a batch behind one gate, `forkers` processes forking shares of it side by side."""
    try:
        requests = json.loads(line)["batch"]
        reqs = [r["req"] for r in requests]
    except (ValueError, KeyError, TypeError):
        return [{"req": -1, "error": "bad request"}]
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    gate_r, gate_w = os.pipe()
    gc.freeze()  # the children's collections then never write to the pages they share
    jobs = list(zip(reqs, requests, strict=True))
    count = max(1, min(forkers, len(jobs) // SHARE_MIN))
    shares = [jobs[i::count] for i in range(count)]
    try:
        helpers = [_start_forker(share, wakeup_fds, gate_r, gate_w) for share in shares[1:]]
        replies = _fork_share(shares[0], (*wakeup_fds, gate_w), gate_r)
        for share, (pid, report) in zip(shares[1:], helpers, strict=True):
            replies += _forker_replies(share, pid, report)
    finally:
        os.close(gate_w)  # opens the gate (the forkers and every child closed theirs)
        os.close(gate_r)
    return replies


def _fork_share(jobs: list[tuple[int, dict[str, Any]]], helper_fds: tuple[int, ...],
                gate: int) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    for req, request in jobs:
        try:
            pid = os.fork()
        except OSError as exc:
            replies.append({"req": req, "error": f"fork failed: {exc}"})
            continue
        if pid == 0:
            _run_child(request, helper_fds, gate)
        replies.append({"req": req, "pid": pid, "ticks": start_ticks(pid)})
    return replies


def _start_forker(jobs: list[tuple[int, dict[str, Any]]], wakeup_fds: tuple[int, int], gate_r: int,
                  gate_w: int) -> tuple[int, int]:
    """A copy of the helper that forks `jobs`, writes their replies to the pipe it returns,
    and ends. (pid, read end); pid 0 if it could not be forked."""
    report_r, report_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(report_w)
        return 0, report_r
    if pid == 0:
        try:
            os.close(report_r)
            data = json.dumps(_fork_share(jobs, (*wakeup_fds, gate_w, report_w), gate_r)).encode()
            os.close(gate_w)
            while data:
                data = data[os.write(report_w, data):]
        finally:
            os._exit(0)
    os.close(report_w)
    return pid, report_r


def _forker_replies(jobs: list[tuple[int, dict[str, Any]]], pid: int, report: int) -> list[dict[str, Any]]:
    data = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(report, 1 << 16):
            data += chunk
    os.close(report)
    if pid:
        os.waitpid(pid, 0)  # reaped here, so no exit of an unknown pid reaches the launcher
    try:
        return json.loads(data)
    except ValueError:
        return [{"req": req, "error": "fork failed: the forker ended early"} for req, _r in jobs]


def _forkers() -> int:
    """How many processes may fork a batch side by side: one per core, if this process can
    adopt (and so reap) the children of the forkers it starts; else only itself."""
    return len(os.sched_getaffinity(0)) if kernel.prctl(PR_SET_CHILD_SUBREAPER, 1) else 1


def main() -> None:
    # No collection in the helper: it would leave freed holes in shared pages that the
    # children's allocations then fill, copying those pages (see gc.freeze's documentation).
    gc.disable()
    # The protocol runs on private copies of stdin/stdout; stray prints go to stderr.
    infd, outfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides; EOF on the pipe ends us
    set_title(f"{FORK_SERVER_TITLE} (launcher {os.getppid()})")
    # The children inherit it: where the host runs KSM, the pages a child copied only to
    # change reference counts back and forth are merged again (docs/performance.md).
    ksm.opt_in()
    _serve(infd, outfd)


if __name__ == "__main__":
    main()
