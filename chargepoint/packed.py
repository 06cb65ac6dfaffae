"""A packed process: several charge points on one asyncio loop (the launcher's
`--cps-per-process`).

Each member is a whole `Station` with its own WebSocket, its own MQTT connection and will,
its topics, instance directory and state, so nothing on the wire tells it from a charge
point with a process of its own. Its MQTT connection is driven by the loop (no thread per
connection). What a process has only once is kept per member:
- logging: each member's records go to its own chargepoint.log (`packed_logs`);
- disk syncs: deferred to a background thread (`cp_simu.durability`), as an fsync on the
  loop would stall every member;
- the PID marker: each member's process.json names the host (pid, start time, `packed`)
  while the member runs and is removed when it ends, so "marker present and host alive"
  means "running";
- kill: the launcher asks over the host's control socket (never signals the host for one
  member); the member's connections drop with no goodbye, its tasks are cancelled and the
  others go on. SIGTERM / SIGINT close every member cleanly, as they close one charge point.
The process ends when its last member has ended.

Control socket (`cp_simu.process.host_control_address`, answering only its own user), one
JSON object per line each way:
  {"kill": [ids]}  ->  {"killed": [ids], "unknown": [ids]}   (once the members are gone)
  {"members": true}  ->  {"members": [ids]}
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chargepoint.packed_logs import CURRENT, ChargePointLog, log_file_handler
from cp_simu import durability
from cp_simu.descriptors import raise_descriptor_limit
from cp_simu.process import host_control_address, remove_marker, start_ticks, write_marker

log = logging.getLogger(__name__)

KILL_TIMEOUT = 5.0  # s a killed member's tasks get to finish their cancellation
# Members booting at once (built, connecting, until their first attempt's outcome: Accepted, a
# refusal or a failed connection; at most BOOT_SLOT_TIME s): building a member costs
# milliseconds of CPU on the shared loop, and building a thousand while others wait for their
# handshakes made those time out on a loaded machine. Holding the slot until the outcome makes
# a slow CSMS slow the boot down instead of piling up handshakes it answers after the charge
# point gave up on them (20 processes of 64 members each at once brought a 10,000-station
# boot to a standstill).
BOOT_SLOTS = 16
BOOT_SLOT_TIME = 60.0
BOOT_POLL = 0.05  # s between two looks at a booting member's outcome
REQUEST_LIMIT = 1 << 20  # bytes of one control request


@dataclass
class Member:
    """One charge point of the process."""

    directory: Path
    cp_id: str
    log: ChargePointLog
    context: contextvars.Context
    station: Any = None  # chargepoint.station.Station once built
    task: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    killed: bool = False


class PackedHost:
    """The members, their tasks and the control socket."""

    def __init__(self, prepare: Callable[[Path], Any]) -> None:
        """`prepare(directory)`: the `Instance` to run from a member's directory (raises if unusable)."""
        self._prepare = prepare
        self.members: dict[str, Member] = {}
        self.pid = os.getpid()
        self._all_done = asyncio.Event()
        self._starting = False  # members are still being started: none ending means the end
        self._boot_slots = asyncio.Semaphore(BOOT_SLOTS)
        self._requests: set[asyncio.Task[Any]] = set()  # control requests being answered

    async def run(self, directories: list[Path]) -> int:
        loop = asyncio.get_running_loop()
        loop.set_task_factory(self._task_factory)
        raise_descriptor_limit()  # each member holds a few (WebSocket, MQTT, offline queue)
        durability.defer_syncs()  # an fsync would stall every member
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.close_all)
        server = await asyncio.start_unix_server(
            self._serve_control, host_control_address(self.pid, start_ticks(self.pid) or 0), limit=REQUEST_LIMIT)
        try:
            self._starting = True
            for member in [self._register(directory) for directory in directories]:
                if self.members.get(member.cp_id) is member:  # not killed meanwhile
                    self._start(member)
                    await asyncio.sleep(0)  # the members started so far connect meanwhile
            self._starting = False
            if self.members:
                await self._all_done.wait()
            if self._requests:  # the answer to the kill of the last member still goes out
                await asyncio.wait(self._requests, timeout=KILL_TIMEOUT)
        finally:
            server.close()
        return 0

    def close_all(self) -> None:
        """Every member closes cleanly (Dead on MQTT, WebSocket closed)."""
        log.info("closing %d charge point(s)", len(self.members))
        for member in list(self.members.values()):
            if member.station is not None:
                member.station.close()
            elif member.task is not None:
                member.task.cancel()
            else:  # not started yet: never will be
                self._ended(member)

    # -- members --------------------------------------------------------------------------
    def _register(self, directory: Path) -> Member:
        """A member from now on (the launcher may kill it), its marker naming this process,
        though it starts later (one loop turn apart, then a boot slot)."""
        cp_id = directory.name
        context = contextvars.copy_context()
        member = Member(directory, cp_id, ChargePointLog(cp_id, log_file_handler(directory, keep_open=False)),
                        context)
        context.run(CURRENT.set, member.log)
        self.members[cp_id] = member
        write_marker(directory, self.pid, packed=True)
        return member

    def _start(self, member: Member) -> None:
        member.task = asyncio.get_running_loop().create_task(self._run_member(member), context=member.context)

    async def _run_member(self, member: Member) -> None:
        from chargepoint.station import Station

        try:
            async with self._boot_slots:
                instance = self._prepare(member.directory)
                log.info("charge point %s starting in packed process %d", member.cp_id, self.pid)
                station = member.station = Station(instance)
                run = asyncio.get_running_loop().create_task(station.run(mqtt_thread=False))
                deadline, before = time.monotonic() + BOOT_SLOT_TIME, station.registration_reason
                while (not _first_attempt_over(station, before) and not run.done()
                       and time.monotonic() < deadline):
                    await asyncio.sleep(BOOT_POLL)
            await run
        except asyncio.CancelledError:
            if not member.killed:
                raise
        except Exception:
            log.exception("charge point %s failed", member.cp_id)
            if member.station is not None:  # a crash is a power cut: its will says Dead
                self._cut(member)
                member.station.release_files()
            self._ended(member)
        finally:
            if not member.killed:
                self._ended(member)

    def _cut(self, member: Member) -> list[asyncio.Task[Any]]:
        """Power cut and cancellation of the member's other tasks (returned, to wait for)."""
        member.killed = True
        if member.station is not None:
            member.station.power_cut()
        others = [t for t in member.tasks if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        return others

    def _ended(self, member: Member) -> None:
        if self.members.get(member.cp_id) is not member:
            return
        remove_marker(member.directory, self.pid)
        member.log.handler.close()
        self.members.pop(member.cp_id, None)
        if not self.members and not self._starting:
            self._all_done.set()

    async def kill(self, cp_id: str) -> bool:
        """As SIGKILL would end a process of its own: connections dropped (the will fires),
        nothing saved or sent, its tasks cancelled, its files closed. False: no such member."""
        member = self.members.get(cp_id)
        if member is None or member.killed:
            return False
        tasks = self._cut(member)
        if tasks:
            await asyncio.wait(tasks, timeout=KILL_TIMEOUT)
        if member.station is not None:
            member.station.release_files()
        member.context.run(log.info, "charge point %s killed", cp_id)
        self._ended(member)
        return True

    def _task_factory(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                      context: contextvars.Context | None = None) -> asyncio.Task[Any]:
        """Every task knows its member (from the context it is made in), so a kill can cancel
        them all; a killed member starts nothing new."""
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context)
        owner = (context or contextvars.copy_context()).get(CURRENT)
        member = self.members.get(owner.cp_id) if owner is not None else None
        if member is not None and member.log is owner:
            if member.killed:
                task.cancel()
            else:
                member.tasks.add(task)
                task.add_done_callback(member.tasks.discard)
        return task

    # -- control socket -------------------------------------------------------------------
    async def _serve_control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_task = asyncio.current_task()
        assert request_task is not None
        self._requests.add(request_task)
        request_task.add_done_callback(self._requests.discard)
        try:
            if _peer_uid(writer) != os.getuid():
                return
            with contextlib.suppress(ValueError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
                request = json.loads(await reader.readline())
                writer.write((json.dumps(await self._answer(request)) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    async def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            return {"error": "expected a JSON object"}
        if isinstance(request.get("kill"), list):
            ids = [i for i in request["kill"] if isinstance(i, str)]
            done = await asyncio.gather(*(self.kill(i) for i in ids))
            return {"killed": [i for i, ok in zip(ids, done, strict=True) if ok],
                    "unknown": [i for i, ok in zip(ids, done, strict=True) if not ok]}
        if request.get("members") is True:
            return {"members": sorted(m.cp_id for m in self.members.values() if not m.killed)}
        return {"error": "unknown request"}


def _first_attempt_over(station: Any, reason_before: str) -> bool:
    """Accepted, or told why not (a failed connection, a Pending or Rejected boot): its
    registration's reason is no longer the one it started with."""
    return bool(station.adapter.online or station.registration_reason != reason_before)


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def members_of(directories: list[Path]) -> Generator[Path, None, None]:
    """The directories once each, in order (a repeated --workdir is one charge point)."""
    seen: set[Path] = set()
    for directory in directories:
        key = directory.resolve()
        if key not in seen:
            seen.add(key)
            yield directory
