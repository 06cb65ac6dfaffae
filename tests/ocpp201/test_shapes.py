"""2.0.1 payloads onto the version-neutral model and back: charging profiles, composite
schedules, reservations, meter values, stop reasons."""

from __future__ import annotations

import pytest

from chargepoint.model.connector import StopReason
from chargepoint.model.meter import Readings, Sample
from chargepoint.model.smart_charging import ChargingProfile, SmartCharging
from chargepoint.ocpp201 import shapes

PROFILE = {"id": 7, "stackLevel": 2, "chargingProfilePurpose": "ChargingStationMaxProfile",
           "chargingProfileKind": "Absolute", "validTo": "2030-01-01T00:00:00Z",
           "chargingSchedule": [{"id": 3, "chargingRateUnit": "A", "startSchedule": "2024-01-01T00:00:00Z",
                                 "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.5, "numberPhases": 3,
                                                             "phaseToUse": 1}]}]}


def test_a_profile_goes_through_the_model_and_back() -> None:
    model = shapes.profile_to_model(PROFILE)
    parsed = ChargingProfile.from_wire(model)  # what the 1.6 evaluator works with
    assert (parsed.id, parsed.purpose, parsed.periods[0].limit) == (7, "ChargePointMaxProfile", 10.5)
    back = shapes.profile_from_model(parsed.to_wire())
    assert back == PROFILE  # every field as set (phaseToUse, the schedule's own id), though not simulated
    store = SmartCharging(1)
    assert store.install(0, model).status == "Accepted"


def test_a_tx_profile_keeps_a_string_transaction_id() -> None:
    tx = {**PROFILE, "chargingProfilePurpose": "TxProfile", "transactionId": "4f0c-e2"}
    store = SmartCharging(1)
    assert store.install(1, shapes.profile_to_model(tx), "4f0c-e2").status == "Accepted"
    assert store.install(1, shapes.profile_to_model(tx), "other").status == "Rejected"


@pytest.mark.parametrize("profile", [
    {**PROFILE, "chargingSchedule": PROFILE["chargingSchedule"] * 2},
    {**PROFILE, "chargingProfilePurpose": "ChargingStationExternalConstraints"},
])
def test_profiles_the_model_cannot_apply_are_refused(profile: dict) -> None:
    with pytest.raises(ValueError):
        shapes.profile_to_model(profile)


def test_composite_schedule_and_reservation_shapes() -> None:
    model = {"status": "Accepted", "connectorId": 1, "scheduleStart": "2024-01-01T00:00:00Z",
             "chargingSchedule": {"duration": 60, "startSchedule": "2024-01-01T00:00:00Z", "chargingRateUnit": "A",
                                  "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}}
    assert shapes.composite_from_model(model, 1) == {"status": "Accepted", "schedule": {
        "evseId": 1, "duration": 60, "scheduleStart": "2024-01-01T00:00:00Z", "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}}
    assert shapes.composite_from_model({"status": "Rejected"}, 1) == {"status": "Rejected"}
    request = {"id": 4, "expiryDateTime": "2030-01-01T00:00:00Z", "idToken": {"idToken": "A", "type": "Central"},
               "groupIdToken": {"idToken": "G", "type": "Central"}}
    assert shapes.reservation_to_model(request) == {"reservationId": 4, "connectorId": 0, "idTag": "A",
                                                    "expiryDate": "2030-01-01T00:00:00Z", "parentIdTag": "G"}


def test_meter_values_are_numbers_with_units_and_phases() -> None:
    sample = Sample(0.0, "Sample.Periodic", ("Energy.Active.Import.Register", "Current.Import", "Voltage"),
                    Readings(1234.4, 7360.0, (10.5, 10.5, 10.5), 230.0, 16.0, 11040.0))
    (value,) = shapes.meter_values([sample], dc=False)
    first, *currents = value["sampled_value"][:4]
    assert first == {"value": 1234, "context": "Sample.Periodic", "measurand": "Energy.Active.Import.Register",
                     "location": "Outlet", "unit_of_measure": {"unit": "Wh"}}
    assert [(c["value"], c["phase"]) for c in currents] == [(10.5, "L1"), (10.5, "L2"), (10.5, "L3")]
    assert {v["phase"] for v in value["sampled_value"][4:]} == {"L1-N", "L2-N", "L3-N"}
    assert shapes.meter_values([Sample(0.0, "Trigger", (), sample.readings)], dc=False) == []


def test_every_stop_reason_has_a_2_0_1_reason() -> None:
    assert set(shapes.STOPPED) == set(StopReason)
    assert shapes.STOPPED[StopReason.EV_DISCONNECTED] == ("EVCommunicationLost", "EVDisconnected")
