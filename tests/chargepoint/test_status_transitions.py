"""Every status transition the connector state machine can announce is one the protocol allows.

The machine is explored breadth-first from a fresh connector, under every policy (stop on
unplug or not, stop on an invalid id or not, a CSMS there to confirm starts or not), through
every input it takes, until no new state turns up. Each announced (old, new) pair is checked
against the version's rules: the OCPP 1.6 transition table; another version adds its entry to
RULES (how it names the simulator's statuses, and the transitions it allows).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from chargepoint.model.connector import (
    ConnectorPolicy,
    ConnectorStateMachine,
    StatusChanged,
    StopReason,
    TagOutcome,
    TransactionStarted,
)
from chargepoint.model.meter import MeterModel
from chargepoint.model.status_rules import OCPP16_TRANSITIONS, ConnectorState, announced_path
from tests.chargepoint.conftest import ANY, Driver, T, call, messages, wait_message
from tests.procs import wait_until

S = ConnectorState
STATUS = T.connector_status("CP1", 1)


@dataclass(frozen=True)
class Rules:
    name: Callable[[ConnectorState], str]  # the status as the version sends it
    allowed: dict[str, frozenset[str]]  # from -> the statuses allowed next


RULES = {
    "1.6": Rules(lambda s: s.value, {k.value: frozenset(v.value for v in vs) for k, vs in OCPP16_TRANSITIONS.items()}),
}


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _present(c: ConnectorStateMachine, tag: str) -> None:
    if c.present_tag(tag) is TagOutcome.AUTHORIZE:
        c.accept_tag(tag)


def _limit(c: ConnectorStateMachine, amps: float) -> None:
    c.ocpp_limit = amps
    c.apply_share(c.share)


def _timeout(c: ConnectorStateMachine) -> None:
    c._clock.now += 120  # type: ignore[attr-defined]
    c.tick()


INPUTS: dict[str, Callable[[ConnectorStateMachine], object]] = {
    "plug": lambda c: c.car_input(cable=32.0, ready=True, consumption=(16.0, 16.0, 16.0)),
    "unplug": lambda c: c.car_input(cable=0.0),
    "car pauses": lambda c: c.car_input(ready=False),
    "car resumes": lambda c: c.car_input(ready=True),
    "tag": lambda c: _present(c, "TAG"),
    "other tag": lambda c: _present(c, "OTHER"),
    "remote start": lambda c: c.accept_tag("REMOTE"),
    "fault": lambda c: c.set_fault(True),
    "fault cleared": lambda c: c.set_fault(False),
    "inoperative": lambda c: c.set_operative(False),
    "operative": lambda c: c.set_operative(True),
    "reserved": lambda c: c.set_reserved(True),
    "reservation ended": lambda c: c.set_reserved(False),
    "remote stop": lambda c: c.stop(StopReason.REMOTE),
    "start accepted": lambda c: c.transaction_confirmed(1, True),
    "start blocked": lambda c: c.transaction_confirmed(1, False),
    "csms gone": lambda c: c.charge_unconfirmed(),
    "limit 0": lambda c: _limit(c, 0.0),
    "limit lifted": lambda c: _limit(c, 32.0),
    "connection timeout": _timeout,
    "reboot": lambda c: c.reboot(),
}


def _signature(c: ConnectorStateMachine) -> tuple:
    tx = c.transaction
    return (c._reported, c.car.plugged, c.car.ready, c.faulted, c.operative, c.pending_operative, c.reserved,
            c.finishing, c.authorized, c.ocpp_limit,
            None if tx is None else (tx.id_tag, tx.deauthorized, tx.awaiting_confirmation))


def announced_transitions(policy: ConnectorPolicy, csms_confirms: bool) -> dict[tuple[str, str], list[str]]:
    """Every (old, new) status pair announced, with a sequence of inputs that announces it."""
    fresh = ConnectorStateMachine(1, MeterModel(dc=False, phases=3, voltage=230.0, clock=Clock()),
                                  max_setpoint=32.0, policy=policy, clock=Clock())
    fresh.load({})
    found: dict[tuple[str, str], list[str]] = {}
    seen = {_signature(fresh)}
    queue = deque([(fresh, [])])
    while queue:
        state, inputs = queue.popleft()
        for name, apply in INPUTS.items():
            c = copy.deepcopy(state)
            c._clock = c.meter._clock  # type: ignore[attr-defined]
            announced: list[ConnectorState] = [c._reported[0]]  # type: ignore[index]

            def listen(event: object, announced: list[ConnectorState] = announced) -> None:
                if isinstance(event, StatusChanged):
                    announced.append(event.status)
                elif isinstance(event, TransactionStarted):
                    event.transaction.awaiting_confirmation = csms_confirms

            c.listeners[:] = [listen]
            apply(c)
            for old, new in itertools.pairwise(announced):
                found.setdefault((old.value, new.value), [*inputs, name])
            if (signature := _signature(c)) not in seen:
                seen.add(signature)
                queue.append((c, [*inputs, name]))
    return found


POLICIES = [(ConnectorPolicy(stop_on_ev_side_disconnect=unplug, stop_on_invalid_id=invalid), confirms)
            for unplug, invalid, confirms in itertools.product((True, False), repeat=3)]


@pytest.mark.parametrize("version", sorted(RULES))
def test_every_announced_transition_is_allowed(version: str) -> None:
    rules = RULES[version]
    announced: dict[tuple[str, str], list[str]] = {}
    for policy, confirms in POLICIES:
        for pair, inputs in announced_transitions(policy, confirms).items():
            announced.setdefault(pair, inputs)
    named = {(rules.name(S(old)), rules.name(S(new))): inputs for (old, new), inputs in announced.items()}
    forbidden = {pair: inputs for pair, inputs in named.items()
                 if pair[0] != pair[1] and pair[1] not in rules.allowed[pair[0]]}
    assert not forbidden, "\n".join(f"{old} -> {new} after {' / '.join(inputs)}"
                                    for (old, new), inputs in forbidden.items())
    # the exploration reaches every status and the transitions that matter
    assert {new for _, new in announced} == {s.value for s in S}
    assert {("Finishing", "Preparing"), ("Preparing", "Charging"), ("Charging", "Faulted")} <= set(announced)


def test_announced_path_goes_through_preparing_or_available_only() -> None:
    assert announced_path(S.FINISHING, S.CHARGING) == [S.PREPARING, S.CHARGING]
    assert announced_path(S.PREPARING, S.UNAVAILABLE) == [S.AVAILABLE, S.UNAVAILABLE]
    assert announced_path(S.FINISHING, S.RESERVED) == [S.AVAILABLE, S.RESERVED]
    assert announced_path(S.CHARGING, S.FAULTED) == [S.FAULTED]
    for old, new in itertools.permutations(S, 2):
        path = announced_path(old, new)
        assert path[-1] is new and set(path[:-1]) <= {S.PREPARING, S.AVAILABLE}
        assert all(b in OCPP16_TRANSITIONS[a] for a, b in itertools.pairwise([old, *path]))


# -- end to end: what the CSMS receives ---------------------------------------------------------

def statuses_received(csms, connector_id: int = 1) -> list[str]:
    return [p["status"] for p in messages(csms, "StatusNotification") if p["connectorId"] == connector_id]


def received_up_to(csms, status: str) -> list[str]:
    """The statuses of connector 1 the CSMS received, once the last one is `status`."""
    return wait_until(lambda: (r := statuses_received(csms)) and r[-1] == status and r,  # type: ignore[return-value]
                      what=f"{status} at the CSMS")


def assert_allowed(sequence: list[str]) -> None:
    rules = RULES["1.6"]
    wrong = [(a, b) for a, b in itertools.pairwise(sequence) if a != b and b not in rules.allowed[a]]
    assert not wrong, f"{wrong} in {sequence}"


def test_remote_stop_start_blocked_start_and_fault_send_only_allowed_transitions(
        broker, csms, recorder_factory, cp_factory) -> None:
    ui = Driver(recorder_factory(broker.url))
    cp_factory(csms.url, broker.url)
    ui.status("Accepted")
    tx = ui.start_session()["transaction_id"]
    assert call(csms.api, "CP1", "RemoteStopTransaction", {"transactionId": tx}) == {"status": "Accepted"}
    before = len(received_up_to(csms, "Finishing"))
    # a remote start with the car still plugged: Finishing -> Preparing -> Charging
    ui.from_now()  # the first session's Charging statuses are not the second's
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1}) == \
        {"status": "Accepted"}
    second = ui.connector("Charging", transaction_id=ANY)["transaction_id"]
    assert received_up_to(csms, "Charging")[before - 1:] == ["Finishing", "Preparing", "Charging"]
    assert call(csms.api, "CP1", "RemoteStopTransaction", {"transactionId": second}) == {"status": "Accepted"}
    before = len(received_up_to(csms, "Finishing"))
    # a start the CSMS answers Invalid (its reject prefix) never shows Charging
    ui.from_now()
    assert call(csms.api, "CP1", "RemoteStartTransaction", {"idTag": "BADTAG", "connectorId": 1}) == \
        {"status": "Accepted"}
    wait_message(csms, "StopTransaction", lambda p: p.get("reason") == "DeAuthorized")
    ui.connector("Finishing")
    assert "Charging" not in [json.loads(m.payload)["status"] for m in ui.rec.messages[ui.mark:]
                              if m.topic == STATUS]
    wait_until(lambda: len(statuses_received(csms)) >= before + 2, what="the blocked start's statuses")
    assert statuses_received(csms)[before - 1:] == ["Finishing", "Preparing", "Finishing"]
    # a fault during a session: Faulted, not Finishing then Faulted
    ui.car(cable=0)
    ui.start_session(tag="TAG3")
    before = len(received_up_to(csms, "Charging"))
    ui.fault(True)
    ui.connector("Faulted")
    assert received_up_to(csms, "Faulted")[before - 1:] == ["Charging", "Faulted"]
    assert_allowed(statuses_received(csms))
