"""The version-neutral model's facts in OCPP 2.0.1 words, and back.

Payloads are snake_case (as the `ocpp` library's call dataclasses take them), except the
charging profiles and reservations the model keeps in wire shape (camelCase): a 2.0.1
ChargingProfile becomes the model's one-schedule profile and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chargepoint.core.message_log import utc_iso
from chargepoint.model.connector import StopReason
from chargepoint.model.meter import Sample, measured_values

# Simulator connector status (1.6 names) -> ConnectorStatusEnumType
CONNECTOR_STATUS = {
    "Available": "Available", "Preparing": "Occupied", "Charging": "Occupied", "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied", "Finishing": "Occupied", "Reserved": "Reserved",
    "Unavailable": "Unavailable", "Faulted": "Faulted",
}
# Simulator connector status during a transaction -> ChargingStateEnumType
CHARGING_STATE = {
    "Charging": "Charging", "SuspendedEV": "SuspendedEV", "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected", "Finishing": "EVConnected",
}
# Why the model stopped a transaction -> (triggerReason, stoppedReason)
STOPPED = {
    StopReason.EV_DISCONNECTED: ("EVCommunicationLost", "EVDisconnected"),
    StopReason.LOCAL: ("StopAuthorized", "Local"),
    StopReason.REMOTE: ("RemoteStop", "Remote"),
    StopReason.DEAUTHORIZED: ("Deauthorized", "DeAuthorized"),
    StopReason.HARD_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.SOFT_RESET: ("ResetCommand", "ImmediateReset"),
    StopReason.REBOOT: ("ResetCommand", "Reboot"),
    StopReason.POWER_LOSS: ("AbnormalCondition", "PowerLoss"),
    StopReason.EMERGENCY_STOP: ("AbnormalCondition", "EmergencyStop"),
    StopReason.UNLOCK_COMMAND: ("UnlockCommand", "Other"),
    StopReason.OTHER: ("AbnormalCondition", "Other"),
}
# Why a meter sample was taken (ReadingContext) -> triggerReason of its Updated event
SAMPLE_TRIGGER = {"Sample.Periodic": "MeterValuePeriodic", "Sample.Clock": "MeterValueClock",
                  "Trigger": "Trigger"}
# Boot after a reset / an installed firmware (the model's stop reason) -> BootReasonEnumType
BOOT_REASON = {StopReason.HARD_RESET: "RemoteReset", StopReason.SOFT_RESET: "RemoteReset",
               StopReason.REBOOT: "FirmwareUpdate"}
PURPOSES = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}  # 2.0.1 -> the model's


def charging_state(status: str, plugged: bool) -> str:
    return CHARGING_STATE.get(status, "EVConnected" if plugged else "Idle")


def meter_value(sample: Sample, dc: bool) -> dict[str, Any]:
    values = []
    for m in measured_values(sample, dc):
        item: dict[str, Any] = {"value": round(m.value, 3), "context": sample.context, "measurand": m.measurand,
                                "location": m.location, "unit_of_measure": {"unit": m.unit}}
        if m.phase:
            item["phase"] = m.phase
        values.append(item)
    return {"timestamp": utc_iso(sample.timestamp), "sampled_value": values}


def meter_values(samples: list[Sample], dc: bool) -> list[dict[str, Any]]:
    """MeterValueType objects; samples without any value are left out (the schema needs one)."""
    return [mv for mv in (meter_value(s, dc) for s in samples) if mv["sampled_value"]]


DEFAULT_TOKEN_TYPE = "ISO14443"  # an RFID card, unless the MQTT input says otherwise


def id_token(value: str, token_type: str) -> dict[str, str]:
    return {"id_token": value, "type": token_type}


# -- charging profiles (camelCase, as the model keeps them) ----------------------------------
def profile_to_model(profile: Mapping[str, Any]) -> dict[str, Any]:
    """A 2.0.1 ChargingProfile as the model's profile (its one schedule; ids and purposes
    renamed), keeping every field the evaluator does not read (the schedule's `id`,
    `salesTariff`, `phaseToUse`…) so that `profile_from_model` gives the profile back as set.
    ValueError for what the model cannot apply."""
    schedules = profile.get("chargingSchedule") or []
    if len(schedules) != 1:
        raise ValueError("only profiles with one chargingSchedule are supported")
    purpose = str(profile.get("chargingProfilePurpose"))
    if purpose == "ChargingStationExternalConstraints":
        raise ValueError("ChargingStationExternalConstraints profiles are set by an external system only")
    model = {k: v for k, v in profile.items() if k not in ("id", "chargingSchedule")}
    return {**model, "chargingProfileId": profile.get("id"), "chargingProfilePurpose": PURPOSES.get(purpose, purpose),
            "chargingSchedule": schedules[0]}


def profile_from_model(model: Mapping[str, Any]) -> dict[str, Any]:
    """The model's profile as the 2.0.1 ChargingProfile it was made from (camelCase)."""
    purposes = {v: k for k, v in PURPOSES.items()}
    profile = {k: v for k, v in model.items() if k not in ("chargingProfileId", "chargingSchedule")}
    return {"id": model["chargingProfileId"], **profile,
            "chargingProfilePurpose": purposes.get(model["chargingProfilePurpose"], model["chargingProfilePurpose"]),
            "chargingSchedule": [model["chargingSchedule"]]}


def purpose_to_model(purpose: str | None) -> str | None:
    return None if purpose is None else PURPOSES.get(purpose, purpose)


def composite_from_model(answer: Mapping[str, Any], evse_id: int) -> dict[str, Any]:
    """The model's GetCompositeSchedule answer as a 2.0.1 one (camelCase)."""
    if answer.get("status") != "Accepted":
        return {"status": "Rejected"}
    schedule = answer["chargingSchedule"]
    return {"status": "Accepted", "schedule": {
        "evseId": evse_id, "duration": schedule["duration"], "scheduleStart": answer["scheduleStart"],
        "chargingRateUnit": schedule["chargingRateUnit"],
        "chargingSchedulePeriod": schedule["chargingSchedulePeriod"]}}


def reservation_to_model(request: Mapping[str, Any]) -> dict[str, Any]:
    """A ReserveNow request (camelCase) as the model's reservation; no EVSE is connector 0."""
    wire = {"reservationId": request.get("id"), "connectorId": request.get("evseId") or 0,
            "idTag": (request.get("idToken") or {}).get("idToken"), "expiryDate": request.get("expiryDateTime")}
    group = (request.get("groupIdToken") or {}).get("idToken")
    return wire | ({"parentIdTag": group} if group else {})
