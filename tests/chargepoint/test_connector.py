"""The connector state machine, without sockets: every transition and stop reason."""

from __future__ import annotations

import pytest

from chargepoint.model.connector import (
    ConnectorPolicy,
    ConnectorState,
    ConnectorStateMachine,
    StatusChanged,
    StopReason,
    TagOutcome,
    TransactionStarted,
    TransactionStopped,
)
from chargepoint.model.meter import MeterModel

S = ConnectorState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def connector(clock: FakeClock) -> ConnectorStateMachine:
    meter = MeterModel(dc=False, phases=3, voltage=230.0, clock=clock)
    c = ConnectorStateMachine(1, meter, max_setpoint=32.0, policy=ConnectorPolicy(connection_timeout=30),
                              clock=clock)
    c.events = []  # type: ignore[attr-defined]
    c.listeners.append(c.events.append)  # type: ignore[attr-defined]
    return c


def statuses(c: ConnectorStateMachine) -> list[str]:
    return [e.status.value for e in c.events if isinstance(e, StatusChanged)]  # type: ignore[attr-defined]


def stops(c: ConnectorStateMachine) -> list[TransactionStopped]:
    return [e for e in c.events if isinstance(e, TransactionStopped)]  # type: ignore[attr-defined]


def plug(c: ConnectorStateMachine, current: float = 16.0) -> None:
    c.car_input(cable=32.0, ready=True, consumption=(current, current, current))


def charging(c: ConnectorStateMachine, tag: str = "TAG1", parent: str | None = None) -> None:
    plug(c)
    assert c.present_tag(tag) is TagOutcome.AUTHORIZE
    assert c.accept_tag(tag, parent)
    assert c.status is S.CHARGING


def test_plug_then_tag_starts_a_transaction(connector: ConnectorStateMachine) -> None:
    plug(connector)
    assert connector.status is S.PREPARING
    assert connector.present_tag("TAG1") is TagOutcome.AUTHORIZE
    connector.accept_tag("TAG1")
    started = [e for e in connector.events if isinstance(e, TransactionStarted)]  # type: ignore[attr-defined]
    assert len(started) == 1 and started[0].transaction.id_tag == "TAG1"
    assert statuses(connector) == ["Preparing", "Charging"]


def test_tag_then_plug_starts_a_transaction(connector: ConnectorStateMachine) -> None:
    connector.accept_tag("TAG1")
    assert connector.status is S.PREPARING and connector.transaction is None
    plug(connector)
    assert connector.transaction is not None and connector.status is S.CHARGING


def test_preparing_times_out_after_connection_timeout(connector: ConnectorStateMachine,
                                                      clock: FakeClock) -> None:
    connector.accept_tag("TAG1")
    assert connector.deadline == clock.now + 30
    clock.now += 29
    connector.tick()
    assert connector.status is S.PREPARING
    clock.now += 1
    connector.tick()
    assert connector.status is S.AVAILABLE and connector.deadline is None
    plug(connector)
    assert connector.transaction is None  # the authorization is gone


def test_plugged_car_without_tag_waits_without_timeout(connector: ConnectorStateMachine) -> None:
    plug(connector)
    assert connector.deadline is None and connector.status is S.PREPARING


def test_meter_start_and_stop_come_from_the_register(connector: ConnectorStateMachine,
                                                     clock: FakeClock) -> None:
    connector.meter.set_register(5000.0)
    charging(connector)
    assert connector.transaction is not None and connector.transaction.meter_start == 5000
    clock.now += 3600  # one hour at 3 x 16 A x 230 V
    connector.present_tag("TAG1")
    (stop,) = stops(connector)
    assert stop.meter_stop == 5000 + 3 * 16 * 230 and stop.reason is StopReason.LOCAL and stop.id_tag == "TAG1"


def test_unplug_stops_with_ev_disconnected(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.car_input(cable=0)
    (stop,) = stops(connector)
    assert stop.reason is StopReason.EV_DISCONNECTED and stop.id_tag is None
    assert connector.status is S.AVAILABLE


def test_unplug_without_stop_on_ev_side_disconnect_suspends(connector: ConnectorStateMachine) -> None:
    connector.policy.stop_on_ev_side_disconnect = False
    charging(connector)
    connector.car_input(cable=0)
    assert not stops(connector) and connector.status is S.SUSPENDED_EV
    assert connector.meter.power_w == 0


def test_same_tag_stops_then_finishing_until_unplugged(connector: ConnectorStateMachine) -> None:
    charging(connector)
    assert connector.present_tag("TAG1") is TagOutcome.STOPPED
    assert connector.status is S.FINISHING
    connector.car_input(cable=0)
    assert connector.status is S.AVAILABLE
    assert statuses(connector) == ["Preparing", "Charging", "Finishing", "Available"]


def test_other_tag_needs_the_same_parent_to_stop(connector: ConnectorStateMachine) -> None:
    charging(connector, "TAG1", parent="GROUP")
    assert connector.present_tag("TAG2") is TagOutcome.CHECK_GROUP
    assert not connector.stop_by_group("TAG2", "OTHER")
    assert not connector.stop_by_group("TAG2", None)
    assert connector.status is S.CHARGING and not stops(connector)
    assert connector.stop_by_group("TAG3", "GROUP")
    (stop,) = stops(connector)
    assert stop.reason is StopReason.LOCAL and stop.id_tag == "TAG3"


def test_same_tag_before_the_car_cancels(connector: ConnectorStateMachine) -> None:
    connector.accept_tag("TAG1")
    assert connector.present_tag("TAG1") is TagOutcome.CANCELLED
    assert connector.status is S.AVAILABLE


@pytest.mark.parametrize("stage", ["available", "preparing", "charging", "finishing"])
def test_fault_is_honoured_in_every_state(connector: ConnectorStateMachine, stage: str) -> None:
    if stage == "preparing":
        plug(connector)
    elif stage == "charging":
        charging(connector)
    elif stage == "finishing":
        charging(connector)
        connector.present_tag("TAG1")
    connector.set_fault(True)
    assert connector.status is S.FAULTED and connector.error_code == "OtherError"
    assert connector.meter.power_w == 0
    if stage == "charging":
        assert [s.reason for s in stops(connector)] == [StopReason.OTHER]
    assert connector.present_tag("TAG9") is TagOutcome.REFUSED
    connector.set_fault(False)
    assert connector.error_code == "NoError" and connector.status is not S.FAULTED


def test_suspended_ev_and_evse(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.car_input(ready=False)
    assert connector.status is S.SUSPENDED_EV and connector.meter.power_w == 0
    connector.car_input(ready=True)
    assert connector.status is S.CHARGING
    connector.ocpp_limit = 0.0
    connector.apply_share(connector.share)
    assert connector.status is S.SUSPENDED_EVSE and connector.meter.power_w == 0
    connector.ocpp_limit = 10.0
    connector.apply_share(connector.share)
    assert connector.status is S.CHARGING and connector.meter.read().currents == (10.0, 10.0, 10.0)


def test_setpoint_is_min_of_limit_cable_and_share(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.car_input(cable=20.0, consumption=(40.0, 40.0, 40.0))
    assert connector.setpoint == 20.0
    connector.apply_share(12.0)
    assert connector.setpoint == 12.0 and connector.meter.read().currents == (12.0, 12.0, 12.0)


def test_availability_is_scheduled_during_a_transaction(connector: ConnectorStateMachine) -> None:
    charging(connector)
    assert connector.set_operative(False) == "Scheduled"
    assert connector.status is S.CHARGING
    connector.present_tag("TAG1")
    assert connector.status is S.UNAVAILABLE
    assert connector.present_tag("TAG1") is TagOutcome.REFUSED
    assert connector.set_operative(True) == "Accepted"
    assert connector.status is S.FINISHING


def test_deauthorized_start_stops_or_suspends(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.transaction_confirmed(17, accepted=False)
    (stop,) = stops(connector)
    assert stop.reason is StopReason.DEAUTHORIZED and stop.transaction.transaction_id == 17
    connector.car_input(cable=0)
    connector.policy.stop_on_invalid_id = False
    charging(connector)
    connector.transaction_confirmed(18, accepted=False)
    assert len(stops(connector)) == 1 and connector.status is S.SUSPENDED_EVSE


def test_remote_and_unlock_stops(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.stop(StopReason.REMOTE)
    charging(connector)
    connector.stop(StopReason.UNLOCK_COMMAND)
    assert [s.reason for s in stops(connector)] == [StopReason.REMOTE, StopReason.UNLOCK_COMMAND]


def test_state_round_trip(connector: ConnectorStateMachine, clock: FakeClock) -> None:
    charging(connector)
    clock.now += 60
    saved = connector.to_dict()
    fresh = ConnectorStateMachine(1, MeterModel(dc=False, phases=3, voltage=230.0, clock=clock),
                                  max_setpoint=32.0, clock=clock)
    fresh.load(saved)
    assert fresh.transaction == connector.transaction
    assert fresh.meter.energy_wh == pytest.approx(connector.meter.energy_wh)
    assert fresh.car == connector.car and fresh.status is S.CHARGING


def test_a_fault_is_saved_state(connector: ConnectorStateMachine, clock: FakeClock) -> None:
    connector.set_fault(True)
    fresh = ConnectorStateMachine(1, MeterModel(dc=False, phases=3, voltage=230.0, clock=clock),
                                  max_setpoint=32.0, clock=clock)
    fresh.load(connector.to_dict())
    assert (fresh.status, fresh.error_code) == (S.FAULTED, "OtherError")
    connector.set_fault(False)
    fresh.load(connector.to_dict())
    assert (fresh.status, fresh.error_code) == (S.AVAILABLE, "NoError")


def test_a_dc_cable_capacity_is_in_watts_like_every_dc_setpoint(clock: FakeClock) -> None:
    meter = MeterModel(dc=True, phases=1, voltage=400.0, clock=clock)
    c = ConnectorStateMachine(1, meter, max_setpoint=150_000.0, clock=clock)
    c.car_input(cable=50_000.0, ready=True, consumption=(120_000.0, None, None))
    c.accept_tag("TAG1")
    assert c.status is S.CHARGING
    assert c.setpoint == 50_000.0 and meter.power_w == 50_000.0


def test_a_fault_during_a_session_announces_faulted_only(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.events.clear()  # type: ignore[attr-defined]
    connector.set_fault(True)
    assert statuses(connector) == ["Faulted"]
    assert [s.reason for s in stops(connector)] == [StopReason.OTHER]
    connector.set_fault(False)
    assert statuses(connector) == ["Faulted", "Finishing"]  # the car is still plugged


def test_a_start_awaiting_the_csms_draws_nothing_and_a_blocked_one_never_charges(
        connector: ConnectorStateMachine) -> None:
    def online(event: object) -> None:
        if isinstance(event, TransactionStarted):
            event.transaction.awaiting_confirmation = True
    connector.listeners.insert(0, online)
    plug(connector)
    connector.accept_tag("TAG1")
    assert connector.status is S.PREPARING and connector.meter.power_w == 0
    connector.transaction_confirmed(7, accepted=False)  # Blocked
    assert statuses(connector) == ["Preparing", "Finishing"]
    connector.accept_tag("TAG2")
    connector.transaction_confirmed(8, accepted=True)
    assert statuses(connector)[-3:] == ["Finishing", "Preparing", "Charging"]
    assert connector.meter.power_w > 0


def test_a_new_session_from_finishing_goes_through_preparing(connector: ConnectorStateMachine) -> None:
    charging(connector)
    connector.stop(StopReason.REMOTE)
    assert connector.accept_tag("REMOTE")  # remote start, the car still plugged, nobody to confirm
    assert statuses(connector) == ["Preparing", "Charging", "Finishing", "Preparing", "Charging"]
