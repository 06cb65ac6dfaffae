"""Smart charging: the charging profile store and the limit evaluator (OCPP 1.6 §3.13).

Plain values in and out: profiles arrive and leave as dicts in OCPP wire shape (the
`csChargingProfiles` object of SetChargingProfile), and leave as they arrived (fields the
evaluator does not read, numbers and times as written), time is always passed in as an aware
`now`, so the same object serves any OCPP version's adapter and is tested without a clock.

Evaluation model, for one connector at one instant:
- within a purpose, the valid profile with the highest stackLevel wins; a profile whose
  schedule has not started or has ended (duration) lets the next lower one through;
- TxProfiles come before TxDefaultProfiles; a TxDefaultProfile of the connector itself
  beats one installed on connector 0 at the same stackLevel;
- the result is capped by the ChargePointMaxProfile and by the local hardware limit.
A limit in W and one in A are compared as currents: W → A per phase with the voltage and the
number of phases in use (AC: W = V × A × phases). `Limit.next_change` is the next instant the
answer can change, so the charge point arms one timer instead of polling.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

DEFAULT_PHASES = 3  # numberPhases when a period does not say (OCPP 1.6 ChargingSchedulePeriod)
RECURRENCE_SECONDS = {"Daily": 86_400, "Weekly": 7 * 86_400}


def parse_datetime(text: str) -> datetime:
    """An OCPP date-time (ISO 8601, `Z` or offset) as an aware UTC datetime; naive means UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """The wire form of an aware datetime: UTC with a `Z` suffix."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_from_timestamp(seconds: float) -> datetime:
    """Wall-clock seconds (the charge point's clock) as the aware datetime these models take."""
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True)
class Answer:
    """A status for the protocol adapter to send back, and why, for the log."""

    status: str
    reason: str = ""


class Purpose(StrEnum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(StrEnum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class ProfileStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    NOT_SUPPORTED = "NotSupported"


class ClearStatus(StrEnum):
    ACCEPTED = "Accepted"
    UNKNOWN = "Unknown"


class ScheduleStatus(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


@dataclass(frozen=True)
class SmartChargingLimits:
    """The charge point's capabilities, as its OCPP configuration keys announce them."""

    max_stack_level: int = 10  # ChargeProfileMaxStackLevel
    allowed_units: frozenset[str] = frozenset({"A", "W"})  # ChargingScheduleAllowedChargingRateUnit
    max_periods: int = 48  # ChargingScheduleMaxPeriods
    max_profiles: int = 20  # MaxChargingProfilesInstalled

    @staticmethod
    def units_from_csl(csl: str) -> frozenset[str]:
        """`Current,Power` (the configuration key's spelling) → the schedule units {"A", "W"}."""
        names = {"Current": "A", "Power": "W"}
        return frozenset(names[item.strip()] for item in csl.split(",") if item.strip() in names)


@dataclass(frozen=True)
class Period:
    start: int  # seconds from the start of the schedule
    limit: float
    phases: int | None


@dataclass(frozen=True)
class Limit:
    """What smart charging allows on a connector (or the whole CP) at one instant.

    `amps_per_phase` / `watts` are None when no profile and no local limit applies.
    """

    amps_per_phase: float | None
    watts: float | None
    number_phases: int
    next_change: datetime | None

    @property
    def unlimited(self) -> bool:
        return self.amps_per_phase is None


@dataclass(frozen=True)
class ChargingProfile:
    """One validated charging profile (the wire `ChargingProfile` type)."""

    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    unit: str
    periods: tuple[Period, ...]
    wire: Mapping[str, Any] = field(compare=False)  # the profile as given (JSON-ready): what `to_wire` returns
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | str | None = None  # 1.6: the CSMS's number, 2.0.1: the station's id
    duration: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ChargingProfile:
        """Parse and check a wire profile; ValueError says what is wrong with it."""
        try:
            schedule = data["chargingSchedule"]
            periods = tuple(Period(int(p["startPeriod"]), float(p["limit"]),
                                   None if p.get("numberPhases") is None else int(p["numberPhases"]))
                            for p in schedule["chargingSchedulePeriod"])
            profile = cls(
                id=int(data["chargingProfileId"]),
                stack_level=int(data["stackLevel"]),
                purpose=Purpose(data["chargingProfilePurpose"]),
                kind=Kind(data["chargingProfileKind"]),
                unit=str(schedule["chargingRateUnit"]),
                periods=periods,
                wire=json.loads(json.dumps(data, default=float)),  # a copy; 1.6 limits come as Decimal
                recurrency=data.get("recurrencyKind"),
                valid_from=_optional_datetime(data.get("validFrom")),
                valid_to=_optional_datetime(data.get("validTo")),
                transaction_id=_transaction_id(data.get("transactionId")),
                duration=None if schedule.get("duration") is None else int(schedule["duration"]),
                start_schedule=_optional_datetime(schedule.get("startSchedule")),
                min_charging_rate=(None if schedule.get("minChargingRate") is None
                                   else float(schedule["minChargingRate"])),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]}") from None
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"malformed profile: {exc}") from None
        profile._check()
        return profile

    def _check(self) -> None:
        if self.unit not in ("A", "W"):
            raise ValueError(f"chargingRateUnit {self.unit!r} is neither A nor W")
        if not self.periods or self.periods[0].start != 0:
            raise ValueError("the first chargingSchedulePeriod must start at 0")
        if any(b.start <= a.start for a, b in zip(self.periods, self.periods[1:], strict=False)):
            raise ValueError("chargingSchedulePeriod startPeriod values must increase")
        if any(p.limit < 0 or (p.phases is not None and not 1 <= p.phases <= 3) for p in self.periods):
            raise ValueError("a period has a negative limit or a numberPhases outside 1..3")
        if self.duration is not None and self.duration <= 0:
            raise ValueError("duration must be positive")
        if self.valid_from and self.valid_to and self.valid_to <= self.valid_from:
            raise ValueError("validTo is not after validFrom")
        if self.kind is Kind.RECURRING and (self.recurrency not in RECURRENCE_SECONDS or not self.start_schedule):
            raise ValueError("a Recurring profile needs recurrencyKind Daily/Weekly and startSchedule")

    def to_wire(self) -> dict[str, Any]:
        """The profile as it was given, with the transaction it was bound to."""
        wire = json.loads(json.dumps(self.wire))
        if self.transaction_id is not None:
            wire["transactionId"] = self.transaction_id
        return wire

    def in_force(self, t: datetime, anchor: datetime, floating: bool) -> tuple[Period | None, datetime | None]:
        """The period this profile imposes at `t` (None: it does not apply), and the next instant
        after `t` when that can change.

        `anchor` starts Relative schedules and Absolute ones without startSchedule (the spec:
        "relative to start of charging"). `floating` says the anchor is just "now" (no
        transaction yet), so boundaries measured from it are no real events and are not reported.
        """
        if self.valid_to is not None and t >= self.valid_to:
            return None, None
        if self.valid_from is not None and t < self.valid_from:
            return None, self.valid_from
        edges = [self.valid_to]
        duration = self.duration
        tracked = True
        if self.kind is Kind.RECURRING:
            assert self.start_schedule is not None and self.recurrency is not None  # _check
            cycle_s = RECURRENCE_SECONDS[self.recurrency]
            cycle = timedelta(seconds=cycle_s)
            start = self.start_schedule + (t - self.start_schedule) // cycle * cycle
            edges.append(start + cycle)
            duration = cycle_s if duration is None else min(duration, cycle_s)
        elif self.kind is Kind.ABSOLUTE and self.start_schedule is not None:
            start = self.start_schedule
        else:
            start, tracked = anchor, not floating
        if t < start:
            return None, _earliest([*edges, start])
        offset = (t - start).total_seconds()
        if duration is not None and offset >= duration:
            return None, _earliest(edges)
        index = bisect_right([p.start for p in self.periods], offset) - 1
        if tracked:
            if duration is not None:
                edges.append(start + timedelta(seconds=duration))
            if index + 1 < len(self.periods):
                edges.append(start + timedelta(seconds=self.periods[index + 1].start))
        return self.periods[index], _earliest(edges)


@dataclass(frozen=True)
class _Installed:
    connector_id: int
    profile: ChargingProfile


class SmartCharging:
    """The charging profiles of one charge point with connectors 1..nb_connectors."""

    def __init__(self, nb_connectors: int, limits: SmartChargingLimits | None = None,
                 supported: bool = True) -> None:
        self.nb_connectors = nb_connectors
        self.limits = limits or SmartChargingLimits()
        self.supported = supported
        self._profiles: dict[int, _Installed] = {}
        self._pending: dict[int, ChargingProfile] = {}  # RemoteStartTransaction profiles by connector

    # --- SetChargingProfile / ClearChargingProfile / RemoteStartTransaction ------------------

    def install(self, connector_id: int, profile: Mapping[str, Any], transaction_id: int | str | None = None, *,
                dry_run: bool = False) -> Answer:
        """SetChargingProfile. `transaction_id`: the transaction running on that connector, if any.
        `dry_run` only decides (so the answer can go out before the limits change)."""
        parsed, answer = self._admit(connector_id, profile)
        if parsed is None:
            return answer
        if parsed.purpose is Purpose.CHARGE_POINT_MAX and connector_id != 0:
            return _rejected("a ChargePointMaxProfile can only be set on connector 0")
        if parsed.purpose is Purpose.TX:
            if connector_id == 0 or transaction_id is None:
                return _rejected(f"no transaction on connector {connector_id} for a TxProfile")
            if parsed.transaction_id not in (None, transaction_id):
                return _rejected(f"transactionId {parsed.transaction_id} is not the one running "
                                 f"on connector {connector_id} ({transaction_id})")
            parsed = replace(parsed, transaction_id=transaction_id)
        replaced = self._replaced_by(connector_id, parsed)
        if len(self._profiles) - len(replaced) >= self.limits.max_profiles:
            return _rejected(f"MaxChargingProfilesInstalled ({self.limits.max_profiles}) reached")
        if not dry_run:
            self._store(connector_id, parsed)
        return Answer(ProfileStatus.ACCEPTED)

    def accept_remote_start_profile(self, connector_id: int, profile: Mapping[str, Any], *,
                                    dry_run: bool = False) -> Answer:
        """The chargingProfile of a RemoteStartTransaction: kept until `transaction_started`."""
        parsed, answer = self._admit(connector_id, profile)
        if parsed is None:
            return answer
        if connector_id == 0 or parsed.purpose is not Purpose.TX:
            return _rejected("a RemoteStartTransaction profile must be a TxProfile for one connector")
        if not dry_run:
            self._pending[connector_id] = parsed
        return Answer(ProfileStatus.ACCEPTED)

    def transaction_started(self, connector_id: int, transaction_id: int | str | None) -> None:
        """Bind the connector's pending RemoteStartTransaction profile to its new transaction
        (None: the CSMS has not numbered it yet, e.g. offline; the profile applies all the same)."""
        pending = self._pending.pop(connector_id, None)
        if pending is not None:
            self._store(connector_id, replace(pending, transaction_id=transaction_id))

    def transaction_ended(self, connector_id: int) -> list[int]:
        """Drop the connector's TxProfiles (and a pending one): they live as long as their
        transaction. Also call it when a remote start never led to a transaction. The ids dropped."""
        pending = self._pending.pop(connector_id, None)
        removed = self._remove(lambda i: i.connector_id == connector_id and i.profile.purpose is Purpose.TX)
        return removed if pending is None else [*removed, pending.id]

    def clear(self, profile_id: int | None = None, connector_id: int | None = None,
              purpose: str | None = None, stack_level: int | None = None, *, dry_run: bool = False) -> Answer:
        """ClearChargingProfile: by id, else by every criterion given (none given: all)."""
        if profile_id is not None:
            removed = self._remove(lambda i: i.profile.id == profile_id, dry_run)
        else:
            removed = self._remove(lambda i: (connector_id in (None, i.connector_id)
                                              and purpose in (None, i.profile.purpose)
                                              and stack_level in (None, i.profile.stack_level)), dry_run)
        if removed:
            return Answer(ClearStatus.ACCEPTED, f"removed profile(s) {removed}")
        return Answer(ClearStatus.UNKNOWN, "no matching profile")

    def installed(self) -> list[dict[str, Any]]:
        """The installed profiles, as SetChargingProfile request payloads."""
        return [{"connectorId": i.connector_id, "csChargingProfiles": i.profile.to_wire()}
                for i in self._profiles.values()]

    # --- evaluation ----------------------------------------------------------------------------

    def limit_at(self, connector_id: int, now: datetime, transaction_start: datetime | None = None,
                 voltage: float = 230.0, phases: int = DEFAULT_PHASES, max_amps: float | None = None) -> Limit:
        """The limit on a connector at `now`; connector 0 is the charge point as a whole (the
        limit its charging connectors share). `max_amps`: the local hardware limit, if any.

        Without a transaction, Relative schedules are evaluated as if one started now."""
        anchor = transaction_start or now
        return self._evaluate(connector_id, now, anchor, transaction_start is None, voltage, phases, max_amps)

    def composite_schedule(self, connector_id: int, duration_s: int, unit: str | None, now: datetime, *,
                           max_amps: float, transaction_start: datetime | None = None,
                           voltage: float = 230.0, phases: int = DEFAULT_PHASES) -> dict[str, Any]:
        """GetCompositeSchedule: the limits of the next `duration_s` seconds, merged into periods.

        `unit` None answers in A; `max_amps` fills the periods no profile limits (a local limit
        is part of the composite schedule too)."""
        unit = unit or "A"
        if not 0 <= connector_id <= self.nb_connectors or duration_s <= 0 or unit not in ("A", "W"):
            return {"status": str(ScheduleStatus.REJECTED)}
        start = now.replace(microsecond=0)
        end = start + timedelta(seconds=duration_s)
        anchor = transaction_start or start
        periods: list[dict[str, Any]] = []
        t = start
        while t < end:
            limit = self._evaluate(connector_id, t, anchor, False, voltage, phases, max_amps)
            value = limit.amps_per_phase if unit == "A" else limit.watts
            assert value is not None  # max_amps always applies
            period = {"startPeriod": round((t - start).total_seconds()), "limit": _floor_tenth(value),
                      "numberPhases": limit.number_phases}
            if periods and periods[-1]["startPeriod"] == period["startPeriod"]:
                periods.pop()
            if not periods or (periods[-1]["limit"], periods[-1]["numberPhases"]) != (
                    period["limit"], period["numberPhases"]):
                periods.append(period)
            t = limit.next_change or end
        return {"status": str(ScheduleStatus.ACCEPTED), "connectorId": connector_id,
                "scheduleStart": format_datetime(start),
                "chargingSchedule": {"duration": duration_s, "startSchedule": format_datetime(start),
                                     "chargingRateUnit": unit, "chargingSchedulePeriod": periods}}

    # --- persistence ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole store as JSON-ready data, for persistence across restarts."""
        return {"profiles": self.installed(),
                "pending": [{"connectorId": c, "chargingProfile": p.to_wire()} for c, p in self._pending.items()]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], nb_connectors: int, limits: SmartChargingLimits | None = None,
                  supported: bool = True) -> SmartCharging:
        """Restore what `to_dict` saved (ValueError on a corrupt file)."""
        store = cls(nb_connectors, limits, supported)
        for item in data.get("profiles", []):
            store._store(int(item["connectorId"]), ChargingProfile.from_wire(item["csChargingProfiles"]))
        for item in data.get("pending", []):
            store._pending[int(item["connectorId"])] = ChargingProfile.from_wire(item["chargingProfile"])
        return store

    # --- internals -----------------------------------------------------------------------------

    def _admit(self, connector_id: int, profile: Mapping[str, Any]) -> tuple[ChargingProfile | None, Answer]:
        """Checks every profile passes whatever its use: support, connector, shape, capabilities."""
        if not self.supported:
            return None, Answer(ProfileStatus.NOT_SUPPORTED, "smart charging is not supported")
        if not 0 <= connector_id <= self.nb_connectors:
            return None, _rejected(f"unknown connector {connector_id}")
        try:
            parsed = ChargingProfile.from_wire(profile)
        except ValueError as exc:
            return None, _rejected(str(exc))
        limits = self.limits
        if not 0 <= parsed.stack_level <= limits.max_stack_level:
            return None, _rejected(f"stackLevel {parsed.stack_level} outside 0..{limits.max_stack_level}")
        if parsed.unit not in limits.allowed_units:
            return None, _rejected(f"chargingRateUnit {parsed.unit} is not allowed")
        if len(parsed.periods) > limits.max_periods:
            return None, _rejected(f"more than ChargingScheduleMaxPeriods ({limits.max_periods}) periods")
        return parsed, Answer(ProfileStatus.ACCEPTED)

    def _replaced_by(self, connector_id: int, profile: ChargingProfile) -> list[int]:
        """A new profile replaces the one with its id, and the one with its stackLevel and
        purpose on the same connector."""
        return [pid for pid, i in self._profiles.items()
                if pid == profile.id or (i.connector_id == connector_id and i.profile.purpose is profile.purpose
                                         and i.profile.stack_level == profile.stack_level)]

    def _store(self, connector_id: int, profile: ChargingProfile) -> None:
        for pid in self._replaced_by(connector_id, profile):
            del self._profiles[pid]
        self._profiles[profile.id] = _Installed(connector_id, profile)

    def _remove(self, matches: Callable[[_Installed], bool], dry_run: bool = False) -> list[int]:
        removed = [pid for pid, i in self._profiles.items() if matches(i)]
        if not dry_run:
            for pid in removed:
                del self._profiles[pid]
        return removed

    def _chain(self, purpose: Purpose, connector_ids: Iterable[int]) -> list[ChargingProfile]:
        """Profiles of one purpose in precedence order: stackLevel, then a connector's own
        profile before the charge point-wide one."""
        ids = set(connector_ids)
        found = [i for i in self._profiles.values() if i.profile.purpose is purpose and i.connector_id in ids]
        found.sort(key=lambda i: (i.profile.stack_level, i.connector_id != 0), reverse=True)
        return [i.profile for i in found]

    def _evaluate(self, connector_id: int, t: datetime, anchor: datetime, floating: bool,
                  voltage: float, phases: int, max_amps: float | None) -> Limit:
        chains = [self._chain(Purpose.CHARGE_POINT_MAX, [0])]
        if connector_id != 0:
            chains.append(self._chain(Purpose.TX, [connector_id])
                          + self._chain(Purpose.TX_DEFAULT, [0, connector_id]))
        constraints: list[tuple[str, Period]] = []
        edges: list[datetime | None] = []
        for chain in chains:
            for profile in chain:
                period, edge = profile.in_force(t, anchor, floating)
                edges.append(edge)
                if period is not None:
                    constraints.append((profile.unit, period))
                    break
        number_phases = min([phases, *(p.phases for _, p in constraints if p.phases is not None)])
        caps = [p.limit if unit == "A" else p.limit / (voltage * number_phases) for unit, p in constraints]
        if max_amps is not None:
            caps.append(max_amps)
        amps = min(caps, default=None)
        watts = None if amps is None else amps * voltage * number_phases
        return Limit(amps, watts, number_phases, _earliest(edges))


def _transaction_id(value: Any) -> int | str | None:
    return value if value is None or isinstance(value, str) else int(value)


def _rejected(reason: str) -> Answer:
    return Answer(ProfileStatus.REJECTED, reason)


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    return min((t for t in times if t is not None), default=None)


def _optional_datetime(text: str | None) -> datetime | None:
    return None if text is None else parse_datetime(text)


def _floor_tenth(value: float) -> float:
    """Wire limits are multiples of 0.1; round down so the answer never exceeds the limit."""
    return math.floor(value * 10 + 1e-9) / 10
