"""Commands the supervisor sends, including the multi-step ones that must wait for `Dead`.

Removing a CP (the reference protocol) and loading a setup both kill CPs and may only
clear their retained statuses once the CPs are really dead; restarting a live CP kills it
first. Rather than sleeping like the reference supervisor does, each such command is kept as
a pending step that `poll()` advances whenever statuses arrive (and on a timer for timeouts),
so the GUI thread never blocks. No Qt here: the window wires `publish`, `notify` and `poll`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cp_simu.models import (
    AutoSettings,
    CarInput,
    ChargePointDefinition,
    CpCommand,
    CpCommandType,
    FaultedInput,
    IdTagInput,
    LauncherCommand,
    LauncherCommandType,
    PayloadError,
    Setup,
)
from cp_simu.topics import Topics
from supervisor.fleet_model import Fleet, Notice

Publish = Callable[[str, str, bool], bool]  # topic, payload, retain -> sent
Notify = Callable[[Notice], None]

KILL_TIMEOUT_S = 5.0
KILL_TIMEOUT_PER_CP_S = 0.01


@dataclass
class _AfterDeath:
    """Run `then` once every CP of `ids` is dead (or gone); give up at `deadline`."""

    what: str
    ids: frozenset[str]
    deadline: float
    then: Callable[[], None]


class FleetOps:
    def __init__(self, fleet: Fleet, topics: Topics, publish: Publish, notify: Notify,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fleet = fleet
        self.topics = topics
        self._publish = publish
        self._notify = notify
        self._clock = clock
        self._pending: list[_AfterDeath] = []

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    # -- launcher commands ---------------------------------------------------
    def start(self, definitions: list[ChargePointDefinition], launcher: str = "",
              cps_per_process: int | None = None) -> bool:
        """Start on the launcher called `launcher` ("" = the unnamed one); `cps_per_process` > 1
        asks it to pack that many CPs per process."""
        if not definitions:
            return False
        command = LauncherCommand(LauncherCommandType.START, definitions, [d.id for d in definitions],
                                  cps_per_process if cps_per_process and cps_per_process > 1 else None)
        return self._send_launcher(command, f"start {_names(command.ids)}", launcher)

    def kill(self, ids: Iterable[str]) -> bool:
        """Kill the live CPs among `ids`, each through the launcher that runs it; False only if a
        command could not be sent."""
        alive = [i for i in ids if self._alive(i)]
        sent = True
        for launcher, of_launcher in self._by_launcher(alive).items():
            sent &= self._send_launcher(LauncherCommand(LauncherCommandType.KILL, ids=of_launcher),
                                        f"kill {_names(of_launcher)}", launcher)
        return sent

    def restart(self, ids: Iterable[str]) -> None:
        """Dead CPs restart now; live ones are killed first and restarted once dead."""
        ids = list(ids)
        alive = [i for i in ids if self._alive(i)]
        dead = [i for i in ids if i not in alive]
        self._restart_now(dead)
        if alive and self.kill(alive):
            self._after_death(f"restart of {_names(alive)}", alive, lambda: self._restart_now(alive))

    def remove(self, ids: Iterable[str]) -> None:
        """Reference removal: kill, wait for Dead, then clear every retained status of the CPs."""
        ids = [i for i in ids if self.fleet.get(i) is not None]
        if not ids:
            return
        if self.kill(ids):
            self._after_death(f"removal of {_names(ids)}", ids, lambda: self._clear(ids, "removed"))

    def kill_all(self) -> None:
        self.kill(list(self.fleet.cps))

    def restart_all(self) -> None:
        self.restart(list(self.fleet.cps))

    def replace_fleet(self, setup: Setup) -> None:
        """Load a setup the reference way: kill every CP, clear them all, start the new ones
        (on the launcher the setup names, packed as it says)."""
        old = list(self.fleet.cps)
        if not old:
            self.start(setup.charge_points, setup.launcher, setup.cps_per_process)
            return

        def then() -> None:
            self._clear(old, "cleared")
            self.start(setup.charge_points, setup.launcher, setup.cps_per_process)

        if self.kill(old):
            self._after_death("loading the setup", old, then)

    def auto(self, ids: Iterable[str], settings: AutoSettings) -> bool:
        """Automatic sessions for the live CPs among `ids`, through the launcher of each (one
        `auto` command per launcher: every CP's seed derived from the one given)."""
        alive = [i for i in ids if self._alive(i)]
        sent = True
        for launcher, of_launcher in self._by_launcher(alive).items():
            command = LauncherCommand(LauncherCommandType.AUTO, ids=of_launcher, auto=settings)
            sent &= self._send_launcher(command, f"automatic sessions {_on_off(settings)} for {_names(of_launcher)}",
                                        launcher)
        return sent

    def fleet_auto(self, settings: AutoSettings) -> bool:
        """Automatic sessions for every CP of every live launcher (the unnamed one if none is seen)."""
        launchers = [name for name, entry in self.fleet.launchers.items() if entry.alive] or [""]
        sent = True
        for launcher in sorted(launchers):
            command = LauncherCommand(LauncherCommandType.AUTO, auto=settings, every_cp=True)
            sent &= self._send_launcher(command, f"automatic sessions {_on_off(settings)} for every charge point",
                                        launcher)
        return sent

    def set_auto(self, cp_id: str, enabled: bool) -> bool:
        """One CP's own `auto` command (on: default settings, a seed of its choosing)."""
        return self._send(self.topics.cp_cmd(cp_id),
                          CpCommand(CpCommandType.AUTO, auto=AutoSettings(enabled=enabled)).to_json())

    # -- charge point inputs -------------------------------------------------
    def car(self, cp_id: str, connector: int, car: CarInput) -> bool:
        return self._send(self.topics.connector_car(cp_id, connector), car.to_json())

    def present_tag(self, cp_id: str, connector: int, tag: str) -> bool:
        return self._send(self.topics.connector_id_tag(cp_id, connector), IdTagInput(tag).to_json())

    def set_faulted(self, cp_id: str, connector: int, faulted: bool) -> bool:
        return self._send(self.topics.connector_faulted(cp_id, connector),
                          FaultedInput(faulted).to_json())

    def request_ocpp_config(self, cp_id: str) -> bool:
        return self._send(self.topics.cp_cmd(cp_id), CpCommand(CpCommandType.OCPP_CONFIG).to_json())

    # -- pending steps ---------------------------------------------------------
    def poll(self) -> None:
        """Advance the steps whose CPs are all dead; report those past their deadline."""
        now = self._clock()
        for step in list(self._pending):
            alive = sorted(i for i in step.ids if self._alive(i))
            if not alive:
                self._pending.remove(step)
                step.then()
            elif now >= step.deadline:
                self._pending.remove(step)
                self._notify(Notice("supervisor", f"{step.what} abandoned: {_names(alive)} still alive "
                                                  f"after the kill (is the launcher running?)"))

    def cancel(self) -> None:
        """Drop the pending steps (the connection they relied on is gone)."""
        for step in self._pending:
            self._notify(Notice("supervisor", f"{step.what} abandoned: disconnected", "warning"))
        self._pending.clear()

    def _after_death(self, what: str, ids: list[str], then: Callable[[], None]) -> None:
        timeout = KILL_TIMEOUT_S + KILL_TIMEOUT_PER_CP_S * len(ids)
        self._pending.append(_AfterDeath(what, frozenset(ids), self._clock() + timeout, then))
        self.poll()

    # -- helpers ---------------------------------------------------------------
    def _alive(self, cp_id: str) -> bool:
        entry = self.fleet.get(cp_id)
        return entry is not None and entry.alive

    def _restart_now(self, ids: list[str]) -> None:
        definitions = []
        for cp_id in ids:
            entry = self.fleet.get(cp_id)
            if entry is None:
                continue
            try:
                definitions.append(entry.definition())
            except PayloadError as exc:
                self._notify(Notice(cp_id, f"cannot restart: {exc}"))
        by_id = {d.id: d for d in definitions}
        for launcher, ids_of in self._by_launcher(list(by_id)).items():
            self._send_launcher(LauncherCommand(LauncherCommandType.RESTART, [by_id[i] for i in ids_of], ids_of),
                                f"restart {_names(ids_of)}", launcher)

    def _clear(self, ids: list[str], outcome: str) -> None:
        """Empty retained payloads on each connector status, then the CP status (the launcher
        deletes the instance directory when it sees the latter)."""
        cleared = []
        for cp_id in ids:
            entry = self.fleet.get(cp_id)
            if entry is None:
                continue
            for n in range(1, entry.nb_connectors + 1):
                self._publish(self.topics.connector_status(cp_id, n), "", True)
            self._publish(self.topics.cp_status(cp_id), "", True)
            cleared.append(cp_id)
        if cleared:
            self._notify(Notice("supervisor", f"{outcome} {_names(cleared)}", "info"))

    def _send(self, topic: str, payload: str) -> bool:
        if self._publish(topic, payload, False):
            return True
        self._notify(Notice("supervisor", f"not connected: nothing sent on {topic}"))
        return False

    def _by_launcher(self, ids: list[str]) -> dict[str, list[str]]:
        """`ids` grouped by the launcher their status names ("" = the unnamed one)."""
        groups: dict[str, list[str]] = {}
        for cp_id in ids:
            entry = self.fleet.get(cp_id)
            groups.setdefault(entry.launcher if entry else "", []).append(cp_id)
        return groups

    def _send_launcher(self, command: LauncherCommand, what: str, launcher: str = "") -> bool:
        sent = self._send(self.topics.launcher(launcher).cmd, command.to_json())
        if sent:
            self._notify(Notice("supervisor", f"sent {what}" + (f" to launcher {launcher}" if launcher else ""),
                                "info"))
        return sent


def _on_off(settings: AutoSettings) -> str:
    if not settings.enabled:
        return "off"
    return "on" + (f" (seed {settings.seed})" if settings.seed is not None else "")


def _names(ids: Iterable[str], shown: int = 5) -> str:
    ids = list(ids)
    text = ", ".join(ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")
