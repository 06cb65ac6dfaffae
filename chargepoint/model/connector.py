"""One connector: car, id tags, transaction and availability as a plain state machine.

The connector's status is *derived* from its facts (fault, availability, transaction,
cable, car readiness, offered setpoint, pending authorization), so no combination of
inputs can leave it in a state that contradicts them. Every change is announced to the
listeners as an event; the owner (the station) turns events into protocol messages.
Time comes from an injectable wall clock; `deadline` says when `tick()` is due next.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from chargepoint.model.ev import Ev, EvSpec, car_demand
from chargepoint.model.meter import Clock, MeterModel
from chargepoint.model.status_rules import ConnectorState, announced_path

NO_ERROR = "NoError"
OTHER_ERROR = "OtherError"


class StopReason(StrEnum):
    EMERGENCY_STOP = "EmergencyStop"
    EV_DISCONNECTED = "EVDisconnected"
    HARD_RESET = "HardReset"
    LOCAL = "Local"
    OTHER = "Other"
    POWER_LOSS = "PowerLoss"
    REBOOT = "Reboot"
    REMOTE = "Remote"
    SOFT_RESET = "SoftReset"
    UNLOCK_COMMAND = "UnlockCommand"
    DEAUTHORIZED = "DeAuthorized"


class TagOutcome(StrEnum):
    """What presenting an id tag led to, and what the owner has to do next."""

    AUTHORIZE = "authorize"  # unknown yet: authorize it, then call accept_tag()
    CHECK_GROUP = "check_group"  # another tag during a session: learn its parent id, then stop_by_group()
    STOPPED = "stopped"  # the session's own tag: the transaction is stopped
    CANCELLED = "cancelled"  # the same tag again before the car came: authorization withdrawn
    REFUSED = "refused"  # faulted or unavailable: ignored


@dataclass
class Car:
    cable: float = 0.0  # cable capacity in the setpoint's unit (A per phase AC, W DC); 0 = not plugged
    ready: bool = True
    consumption: tuple[float, float, float] = (0.0, 0.0, 0.0)  # A per phase (AC), W in l1 (DC)
    ev: Ev | None = None  # a battery model: it decides the consumption (see `ConnectorStateMachine.demand`)

    @property
    def plugged(self) -> bool:
        return self.cable > 0


@dataclass
class Transaction:
    """A charging session; `ref` is the CP's own key, `transaction_id` the CSMS's."""

    ref: int
    connector_id: int
    id_tag: str
    parent_id: str | None
    meter_start: int
    started_at: float
    transaction_id: int | str | None = None
    deauthorized: bool = False
    awaiting_confirmation: bool = False  # no energy until the CSMS answers the start (see _start)
    reservation_id: int | None = None
    data: list[dict[str, Any]] = field(default_factory=list)  # readings kept for the stop message
    started_by: str = ""  # what completed the start: "car" (plugged last) or "id_tag" (authorized last)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transaction:
        return cls(**data)


@dataclass
class ConnectorPolicy:
    """Configuration the state machine obeys; shared by all connectors, changeable live."""

    connection_timeout: float = 60.0
    stop_on_ev_side_disconnect: bool = True
    stop_on_invalid_id: bool = True


@dataclass(frozen=True)
class StatusChanged:
    connector_id: int
    status: ConnectorState
    error_code: str


@dataclass(frozen=True)
class TransactionStarted:
    transaction: Transaction


@dataclass(frozen=True)
class TransactionStopped:
    transaction: Transaction
    reason: StopReason
    meter_stop: int
    stopped_at: float
    id_tag: str | None  # the tag that stopped it, if one did


Event = StatusChanged | TransactionStarted | TransactionStopped
Listener = Callable[[Event], None]


class ConnectorStateMachine:
    """Car plugged + accepted tag (either order) starts a transaction; unplug, the same tag
    (or one of the same group), a remote stop or a fault stop it."""

    def __init__(self, connector_id: int, meter: MeterModel, *, max_setpoint: float,
                 policy: ConnectorPolicy | None = None, clock: Clock = time.time,
                 next_ref: Callable[[], int] | None = None) -> None:
        self.connector_id = connector_id
        self.meter = meter
        self.max_setpoint = max_setpoint
        self.policy = policy or ConnectorPolicy()
        self._clock = clock
        self._next_ref = next_ref or _counter()
        self.listeners: list[Listener] = []
        self.car = Car()
        self.faulted = False
        self.error_code = NO_ERROR
        self.operative = True
        self.pending_operative: bool | None = None  # ChangeAvailability scheduled after the session
        self.reserved = False  # held by a reservation: set_reserved()
        self.transaction: Transaction | None = None
        self.finishing = False
        self.authorized: tuple[str, str | None] | None = None  # (id tag, parent id) waiting for the car
        self._authorized_at = 0.0
        self.ocpp_limit = max_setpoint  # set by the owner from its LimitProvider, then apply_share()
        self.ocpp_phases: int | None = None  # phases smart charging lets the car use (None: all)
        self.share = math.inf  # this connector's part of the CP-wide limit, set by the owner
        self._reported: tuple[ConnectorState, str] | None = None

    # -- derived state ------------------------------------------------------------------
    @property
    def status(self) -> ConnectorState:
        tx = self.transaction
        if self.faulted:
            return ConnectorState.FAULTED
        if tx is not None:
            if tx.awaiting_confirmation:
                return ConnectorState.PREPARING
            if not self.car.plugged:
                return ConnectorState.SUSPENDED_EV
            if self.setpoint <= 0:
                return ConnectorState.SUSPENDED_EVSE
            if not self.car.ready or (self.car.ev is not None and not any(self.demand)):
                return ConnectorState.SUSPENDED_EV
            return ConnectorState.CHARGING
        if not self.operative:
            return ConnectorState.UNAVAILABLE
        if self.finishing:
            return ConnectorState.FINISHING
        if self.car.plugged or self.authorized:
            return ConnectorState.PREPARING
        return ConnectorState.RESERVED if self.reserved else ConnectorState.AVAILABLE

    @property
    def cap(self) -> float | None:
        """What this connector could draw if alone, or None when it draws nothing."""
        tx = self.transaction
        if tx is None or tx.deauthorized or tx.awaiting_confirmation or not self.car.plugged or self.faulted:
            return None
        return max(0.0, min(self.ocpp_limit, self.car.cable, self.max_setpoint))

    @property
    def setpoint(self) -> float:
        cap = self.cap
        return 0.0 if cap is None else max(0.0, min(cap, self.share))

    @property
    def demand(self) -> tuple[float, ...]:
        """What the car wants to draw: its consumption input, or its EV model's demand."""
        ev = self.car.ev
        if ev is None:
            return self.car.consumption
        m = self.meter
        phases = min(m.phases, self.ocpp_phases or m.phases)
        return tuple(car_demand(ev, dc=m.dc, voltage=m.voltage, phases=phases, power_factor=m.power_factor))

    @property
    def deadline(self) -> float | None:
        """Wall-clock time at which tick() must run: authorization waiting for the car, or the
        EV's demand due again (next SoC step, target)."""
        if self.authorized and self.transaction is None and not self.car.plugged:
            return self._authorized_at + self.policy.connection_timeout
        ev = self.car.ev
        seconds = None if ev is None else ev.seconds_to_next_step(self.meter.energy_wh, self.meter.power_w)
        if seconds is None:
            return None
        return math.ceil((self._clock() + seconds) * 1000) / 1000  # whole ms: a stable timer key

    def can_start(self) -> bool:
        """Whether a new session may begin here (remote start, connector selection)."""
        return (self.transaction is None and self.operative and not self.faulted
                and self.authorized is None)

    # -- inputs -------------------------------------------------------------------------
    def car_input(self, cable: float | None = None, ready: bool | None = None,
                  consumption: tuple[float | None, float | None, float | None] = (None, None, None)
                  ) -> None:
        """The car's state; fields left None are unchanged."""
        was_plugged = self.car.plugged
        if cable is not None:
            self.car.cable = cable
        if ready is not None:
            self.car.ready = ready
        self.car.consumption = tuple(  # type: ignore[assignment]
            old if new is None else new for old, new in zip(self.car.consumption, consumption, strict=True))
        if was_plugged and not self.car.plugged:
            self.finishing = False
            if self.transaction is not None and self.policy.stop_on_ev_side_disconnect:
                self.stop(StopReason.EV_DISCONNECTED)
                return
        elif not was_plugged and self.car.plugged and self.authorized and self.transaction is None:
            self._start("car")
            return
        self._refresh()

    def set_ev(self, spec: EvSpec | None) -> None:
        """The car gets a battery model (arriving at the spec's SoC), or loses it (None)."""
        self.car.ev = None if spec is None else Ev(spec, mark_wh=self.meter.energy_wh)
        self._refresh()

    def present_tag(self, id_tag: str) -> TagOutcome:
        if self.faulted or (not self.operative and self.transaction is None):
            return TagOutcome.REFUSED
        tx = self.transaction
        if tx is not None:
            if id_tag == tx.id_tag:
                self.stop(StopReason.LOCAL, id_tag)
                return TagOutcome.STOPPED
            return TagOutcome.CHECK_GROUP
        if self.authorized and self.authorized[0] == id_tag and not self.car.plugged:
            self.authorized = None
            self._refresh()
            return TagOutcome.CANCELLED
        return TagOutcome.AUTHORIZE

    def accept_tag(self, id_tag: str, parent_id: str | None = None) -> bool:
        """An authorized tag (local, CSMS or remote start): start now or wait for the car."""
        if self.faulted or not self.operative or self.transaction is not None:
            return False
        self.authorized = (id_tag, parent_id)
        self._authorized_at = self._clock()
        self.finishing = False
        if self.car.plugged:
            self._start("id_tag")
        else:
            self._refresh()
        return True

    def stop_by_group(self, id_tag: str, parent_id: str | None) -> bool:
        """Another tag of the same group (same parent id) may stop the session."""
        tx = self.transaction
        if tx is None or parent_id is None or parent_id != tx.parent_id:
            return False
        self.stop(StopReason.LOCAL, id_tag)
        return True

    def set_fault(self, faulted: bool, error_code: str = OTHER_ERROR) -> None:
        """A fault is honoured in every state: the session stops, authorization is dropped.
        Faulted is the one status announced (not Finishing first)."""
        self.faulted = faulted
        self.error_code = error_code if faulted else NO_ERROR
        if faulted:
            self.authorized = None
            self.stop(StopReason.OTHER)
        self._refresh()

    def set_operative(self, operative: bool) -> str:
        """ChangeAvailability: "Accepted", or "Scheduled" until the running session ends."""
        if self.transaction is not None and not operative:
            self.pending_operative = operative
            return "Scheduled"
        self.pending_operative = None
        self.operative = operative
        if not operative:
            self.authorized = None
        self._refresh()
        return "Accepted"

    def transaction_confirmed(self, transaction_id: int | str, accepted: bool) -> None:
        """The CSMS's answer to the start: its id, and whether the tag was accepted."""
        tx = self.transaction
        if tx is None:
            return
        tx.transaction_id = transaction_id
        tx.awaiting_confirmation = False
        if not accepted:
            if self.policy.stop_on_invalid_id:
                self.stop(StopReason.DEAUTHORIZED)
                return
            tx.deauthorized = True
        self._refresh()

    def charge_unconfirmed(self) -> None:
        """The CSMS cannot answer the start now (offline): the session charges as decided locally."""
        if self.transaction is not None and self.transaction.awaiting_confirmation:
            self.transaction.awaiting_confirmation = False
            self._refresh()

    def set_reserved(self, reserved: bool) -> None:
        """A reservation holds (or no longer holds) this connector: it shows Reserved when idle."""
        self.reserved = reserved
        self._refresh()

    def apply_share(self, share: float) -> None:
        """This connector's part of the CP-wide limit (after `ocpp_limit` was updated)."""
        self.share = share
        self._refresh()

    def tick(self) -> None:
        """Let time-based rules act: the car did not come within ConnectionTimeOut; the EV's
        demand follows its SoC."""
        if (self.authorized and self.transaction is None and not self.car.plugged
                and self._clock() >= self._authorized_at + self.policy.connection_timeout):
            self.authorized = None
        self._refresh()

    def stop(self, reason: StopReason, id_tag: str | None = None, at: float | None = None) -> bool:
        """End the session (if any) with `reason`; the car, if plugged, leaves it Finishing."""
        tx = self.transaction
        if tx is None:
            return False
        self.transaction = None
        self.authorized = None
        self.finishing = self.car.plugged
        self.meter.set_flow(0.0, ())
        self._emit(TransactionStopped(tx, reason, round(self.meter.energy_wh),
                                      self._clock() if at is None else at, id_tag))
        if self.pending_operative is not None:
            self.operative, self.pending_operative = self.pending_operative, None
        self._refresh()
        return True

    def reboot(self) -> None:
        """After a reset the CP forgets transient facts (Finishing, waiting authorizations)."""
        self.finishing = False
        self.authorized = None
        self._refresh()

    # -- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"energy_wh": self.meter.energy_wh, "operative": self.operative,
                "pending_operative": self.pending_operative, "faulted": self.faulted,
                "error_code": self.error_code,
                "car": {"cable": self.car.cable, "ready": self.car.ready,
                        "consumption": list(self.car.consumption),
                        "ev": None if self.car.ev is None else self.car.ev.to_dict()},
                "transaction": self.transaction.to_dict() if self.transaction else None}

    def load(self, data: dict[str, Any]) -> None:
        """Restore persisted facts; no events (the owner announces statuses at boot)."""
        self.meter.set_register(float(data.get("energy_wh", 0.0)))
        self.operative = bool(data.get("operative", True))
        self.pending_operative = data.get("pending_operative")
        self.faulted = bool(data.get("faulted", False))  # a simulated fault lasts until cleared
        self.error_code = str(data.get("error_code", OTHER_ERROR)) if self.faulted else NO_ERROR
        car = data.get("car") or {}
        ev = car.get("ev")
        self.car = Car(float(car.get("cable", 0.0)), bool(car.get("ready", True)),
                       tuple(car.get("consumption", (0.0, 0.0, 0.0))),  # type: ignore[arg-type]
                       None if ev is None else Ev.from_dict(ev))
        tx = data.get("transaction")
        self.transaction = Transaction.from_dict(tx) if tx else None
        self._reported = (self.status, self.error_code)

    # -- internals ----------------------------------------------------------------------
    def _start(self, started_by: str) -> None:
        """A listener of TransactionStarted may mark the transaction `awaiting_confirmation`
        (its CSMS is there to answer the start): it then shows Preparing and draws nothing
        until `transaction_confirmed()` (a start the CSMS refuses never shows Charging) or
        `charge_unconfirmed()`."""
        assert self.authorized is not None
        id_tag, parent_id = self.authorized
        self.authorized = None
        self.finishing = False
        tx = Transaction(self._next_ref(), self.connector_id, id_tag, parent_id,
                         round(self.meter.energy_wh), self._clock(), started_by=started_by)
        self.transaction = tx
        self._emit(TransactionStarted(tx))
        self._refresh()

    def _refresh(self) -> None:
        """Apply the current operating point to the meter and announce a status change."""
        ev = self.car.ev
        if ev is not None:
            ev.book(self.meter.energy_wh)  # the energy at the old power is the car's
        drawing = self.car.plugged and self.car.ready and self.cap is not None
        self.meter.set_flow(self.setpoint, self.demand if drawing else (), self.ocpp_phases,
                            None if ev is None else ev.full_at_wh())
        now = (self.status, self.error_code)
        if now != self._reported:
            steps = [now[0]] if self._reported is None else announced_path(self._reported[0], now[0])
            self._reported = now
            for status in steps:
                self._emit(StatusChanged(self.connector_id, status, now[1]))

    def _emit(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event)


def _counter() -> Callable[[], int]:
    value = 0

    def next_value() -> int:
        nonlocal value
        value += 1
        return value

    return next_value
