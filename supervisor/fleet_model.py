"""The supervisor's picture of the fleet, built from MQTT messages only (no Qt: testable alone).

`parse_message` turns one message into an event and is pure, so it runs on the MQTT network
thread and JSON decoding never costs the GUI thread anything. The GUI thread applies batches
of events to a `Fleet`, which says what changed so the views redraw only that.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cp_simu.models import (
    ChargePointDefinition,
    ConnectorStatus,
    CpStatus,
    PayloadError,
    decode_object,
    excerpt,
)
from cp_simu.topics import TopicKind, Topics
from supervisor.ocpp_frames import OcppFrame

UNKNOWN = "Unknown"
DEAD = "Dead"


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionStart:
    """The MQTT connection is (re)established: retained statuses are about to arrive again."""


@dataclass(frozen=True)
class CpStatusEvent:
    cp_id: str
    status: CpStatus | None  # None: the retained status was cleared (CP removed)


@dataclass(frozen=True)
class ConnectorEvent:
    cp_id: str
    number: int
    status: ConnectorStatus | None  # None: cleared


@dataclass(frozen=True)
class LauncherEvent:
    status: str  # Alive / Dead / Unknown (cleared)
    name: str = ""  # "" for the unnamed launcher


@dataclass(frozen=True)
class LauncherInfoEvent:
    info: dict[str, Any]
    name: str = ""


@dataclass(frozen=True)
class OcppConfigEvent:
    cp_id: str
    config: dict[str, str]


@dataclass(frozen=True)
class OcppLogEvent:
    cp_id: str
    frame: OcppFrame


@dataclass(frozen=True)
class ScenarioEvent:
    """`scenario/status`: the progress of a scenario run (None: cleared)."""

    progress: dict[str, Any] | None


@dataclass(frozen=True)
class Notice:
    """Something the user must see: an `error` topic report, a malformed status, an outcome."""

    source: str
    text: str
    level: str = "error"  # error / warning / info


Event = (SessionStart | CpStatusEvent | ConnectorEvent | LauncherEvent | LauncherInfoEvent
         | OcppConfigEvent | OcppLogEvent | ScenarioEvent | Notice)


def parse_message(topics: Topics, topic: str, payload: bytes) -> Event | None:
    """The event one MQTT message means, or None for topics the supervisor does not display."""
    parsed = topics.parse(topic)
    if parsed is None:
        return None
    kind, cp_id, launcher = parsed.kind, parsed.cp_id or "", parsed.launcher or ""
    source = cp_id or ("scenario" if kind is TopicKind.SCENARIO_STATUS else
                       f"launcher {launcher}" if launcher else "launcher")
    try:
        if kind is TopicKind.LAUNCHER_STATUS:
            return LauncherEvent(payload.decode("utf-8", "replace").strip() or UNKNOWN, launcher)
        if kind is TopicKind.LAUNCHER_INFO:
            return LauncherInfoEvent(decode_object(payload, "launcher info"), launcher) if payload else None
        if kind in (TopicKind.LAUNCHER_ERROR, TopicKind.CP_ERROR):
            return _error_report(source, payload)
        if kind is TopicKind.CP_STATUS:
            return CpStatusEvent(cp_id, CpStatus.from_payload(payload) if payload else None)
        if kind is TopicKind.CONNECTOR_STATUS:
            number = parsed.connector_number
            if number is None:
                raise PayloadError(f"connector number {(parsed.connector or '')[:20]!r} is not a positive integer")
            return ConnectorEvent(cp_id, number,
                                  ConnectorStatus.from_payload(payload) if payload else None)
        if kind is TopicKind.CP_OCPP_CONFIG:
            if not payload:
                return None
            return OcppConfigEvent(cp_id, {str(k): _text(v) for k, v in
                                           decode_object(payload, "ocpp_config").items()})
        if kind is TopicKind.CP_OCPP_LOG:
            return OcppLogEvent(cp_id, OcppFrame.parse(payload)) if payload else None
        if kind is TopicKind.SCENARIO_STATUS:
            return ScenarioEvent(decode_object(payload, "scenario status") if payload else None)
    except PayloadError as exc:
        return Notice(source, f"malformed message on {topic}: {exc}")
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _error_report(source: str, payload: bytes) -> Notice:
    try:
        report = decode_object(payload, "error report")
        return Notice(source, f"rejected {report.get('topic', '?')}: {report.get('error', '?')}"
                              f" — payload {str(report.get('payload', ''))[:60]!r}")
    except PayloadError:
        return Notice(source, f"error: {excerpt(payload)}")


# ---------------------------------------------------------------------------
# Fleet state
# ---------------------------------------------------------------------------

@dataclass
class CpEntry:
    """One charge point as its retained topics describe it."""

    id: str
    status: CpStatus | None = None
    connectors: dict[int, ConnectorStatus] = field(default_factory=dict)
    session: int = 0  # the MQTT session that last confirmed this CP exists

    @property
    def state(self) -> str:
        return self.status.status if self.status else UNKNOWN

    @property
    def reason(self) -> str:
        """Why it is not registered ("" when it is, or when its status does not say)."""
        return self.status.reason if self.status and self.status.status != DEAD else ""

    @property
    def alive(self) -> bool:
        return self.status is not None and self.status.status != DEAD

    @property
    def launcher(self) -> str:
        """The launcher its status names ("" = the unnamed one, or a CP that does not say)."""
        return self.status.launcher if self.status else ""

    @property
    def security_profile(self) -> int:
        """The OCPP security profile its status declares (additive field), 0 if none."""
        value = self.status.extra.get("security_profile", 0) if self.status else 0
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3 else 0

    @property
    def is_dc(self) -> bool:
        return self.status is not None and self.status.type == "DC"

    @property
    def nb_phases(self) -> int:
        return 1 if self.is_dc or self.status is None else max(1, min(3, self.status.nb_phases))

    @property
    def nb_connectors(self) -> int:
        """Declared by the status (additive field) or seen on the broker, whichever is larger."""
        declared = self.status.extra.get("nb_connectors", 0) if self.status else 0
        declared = declared if isinstance(declared, int) and not isinstance(declared, bool) else 0
        return max(declared, max(self.connectors, default=0), 1)

    def connector_power_w(self, connector: ConnectorStatus) -> float:
        """Measured power: the CP's `power_w` when it sends one, else derived from the meter."""
        if connector.power_w:
            return connector.power_w
        if self.is_dc:
            return connector.consumption_l1
        voltage = self.status.voltage if self.status else 230.0
        phases = (connector.consumption_l1, connector.consumption_l2, connector.consumption_l3)
        return voltage * sum(phases[:self.nb_phases])

    @property
    def power_w(self) -> float:
        return sum(self.connector_power_w(c) for c in self.connectors.values())

    def definition(self) -> ChargePointDefinition:
        """The start entry that recreates this CP (restart, save), validated like a command.

        A reference CP's status lacks `nb_connectors` and `max_setpoint_per_connector`: they
        come from the connectors seen, as the reference supervisor does.
        """
        if self.status is None:
            raise PayloadError(f"{self.id}: no status received yet, definition unknown")
        s, extra = self.status, self.status.extra
        first = self.connectors[min(self.connectors)] if self.connectors else None
        per_connector = extra.get("max_setpoint_per_connector") or (
            first.max_setpoint if first and first.max_setpoint else s.max_setpoint)
        data = {
            "id": self.id, "type": s.type, "vendor": s.vendor, "model": s.model, "serial": s.serial,
            "central_system": s.central_system, "nb_connectors": self.nb_connectors,
            "nb_phases": self.nb_phases, "voltage": s.voltage, "max_setpoint": s.max_setpoint,
            "max_setpoint_per_connector": per_connector,
        }
        if "ocpp_version" in extra:
            data["ocpp_version"] = extra["ocpp_version"]
        return ChargePointDefinition.from_dict(data, path=f"{self.id}: ")


@dataclass
class Changes:
    """What one batch of events changed, so views update only that."""

    membership: bool = False  # CPs appeared or disappeared
    statuses: set[str] = field(default_factory=set)  # CP status changed (or CP gone)
    connectors: set[str] = field(default_factory=set)  # a connector status changed
    launcher: bool = False  # a launcher's status or info changed
    session_started: bool = False
    notices: list[Notice] = field(default_factory=list)

    @property
    def cps(self) -> set[str]:
        return self.statuses | self.connectors


@dataclass
class LauncherEntry:
    """One launcher as its retained status and info describe it."""

    name: str  # "" for the unnamed one
    status: str = UNKNOWN
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.status == "Alive"

    @property
    def title(self) -> str:
        return self.name or "(unnamed)"


class Fleet:
    """Every CP seen on the broker, in order of appearance, plus the launchers' states."""

    def __init__(self) -> None:
        self.cps: dict[str, CpEntry] = {}
        self.launchers: dict[str, LauncherEntry] = {}  # by name, "" for the unnamed one
        self.session = 0

    def get(self, cp_id: str) -> CpEntry | None:
        return self.cps.get(cp_id)

    def __len__(self) -> int:
        return len(self.cps)

    def clear(self) -> None:
        self.cps.clear()
        self.launchers.clear()

    @property
    def launcher(self) -> str:
        """The unnamed launcher's status."""
        entry = self.launchers.get("")
        return entry.status if entry else UNKNOWN

    def counts(self) -> Counter[str]:
        return Counter(entry.state for entry in self.cps.values())

    def apply(self, events: Iterable[Event]) -> Changes:
        """Fold a batch in; OCPP config / log events are for the views and pass through."""
        changes = Changes()
        for event in events:
            self._apply(event, changes)
        return changes

    def sweep(self) -> Changes:
        """Forget CPs the current session has not confirmed (removed while we were offline)."""
        stale = [cp_id for cp_id, e in self.cps.items() if e.session != self.session]
        for cp_id in stale:
            del self.cps[cp_id]
        return Changes(membership=bool(stale), statuses=set(stale))

    def _entry(self, cp_id: str, changes: Changes) -> CpEntry:
        entry = self.cps.get(cp_id)
        if entry is None:
            entry = self.cps[cp_id] = CpEntry(cp_id)
            changes.membership = True
        entry.session = self.session
        return entry

    def _launcher(self, name: str) -> LauncherEntry:
        entry = self.launchers.get(name)
        if entry is None:
            entry = self.launchers[name] = LauncherEntry(name)
        return entry

    def _apply(self, event: Event, changes: Changes) -> None:
        match event:
            case CpStatusEvent(cp_id, None):
                if self.cps.pop(cp_id, None) is not None:
                    changes.membership = True
                    changes.statuses.add(cp_id)
            case CpStatusEvent(cp_id, status):
                self._entry(cp_id, changes).status = status
                changes.statuses.add(cp_id)
            case ConnectorEvent(cp_id, number, None):
                entry = self.cps.get(cp_id)
                if entry is not None and entry.connectors.pop(number, None) is not None:
                    changes.connectors.add(cp_id)
                    if entry.status is None and not entry.connectors:
                        del self.cps[cp_id]
                        changes.membership = True
            case ConnectorEvent(cp_id, number, status):
                self._entry(cp_id, changes).connectors[number] = status
                changes.connectors.add(cp_id)
            case LauncherEvent(status, name) if status == UNKNOWN:  # cleared: the launcher is gone for good
                if self.launchers.pop(name, None) is not None:
                    changes.launcher = True
            case LauncherEvent(status, name):
                self._launcher(name).status = status
                changes.launcher = True
            case LauncherInfoEvent(info, name):
                self._launcher(name).info = info
                changes.launcher = True
            case SessionStart():
                self.session += 1
                changes.session_started = True
            case Notice():
                changes.notices.append(event)
