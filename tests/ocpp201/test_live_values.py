"""Live device model values follow the station's state when read, and are never stored."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargepoint.model.smart_charging import parse_datetime
from chargepoint.ocpp201 import live_values
from chargepoint.ocpp201.device_model import DeviceModel
from cp_simu.models import ChargePointDefinition

STATUS_201 = {"Available": "Available", "Preparing": "Occupied", "Charging": "Occupied", "Unavailable": "Unavailable",
              "Faulted": "Faulted"}


@dataclass
class StationState:
    """What `live_values.bind` reads of a station: its connectors and installed profiles."""

    definition: ChargePointDefinition
    statuses: dict[int, tuple[str, str]] = field(default_factory=dict)
    profiles: list[dict[str, Any]] = field(default_factory=list)

    def connector_status(self, n: int) -> str:
        return self.statuses[n][0]

    def connector_statuses(self) -> list[tuple[int, str, str]]:
        return [(n, status, code) for n, (status, code) in sorted(self.statuses.items())]

    def charging_profiles(self) -> list[dict[str, Any]]:
        return self.profiles


def test_live_values(tmp_path: Path):
    model = DeviceModel.load(tmp_path, nb_evse=2)
    state = StationState(ChargePointDefinition(id="CS", nb_connectors=2),
                         {0: ("Available", "NoError"), 1: ("Available", "NoError"), 2: ("Available", "NoError")})
    live_values.bind(model, state, STATUS_201.__getitem__)  # type: ignore[arg-type]
    flat = model.flat()
    assert (flat["EVSE@1/AvailabilityState"], flat["ChargingStation/Problem"]) == ("Available", "false")

    state.statuses[2] = ("Charging", "NoError")
    state.statuses[1] = ("Faulted", "GroundFailure")
    state.profiles.append({"id": 1})
    flat = model.flat()
    assert flat["EVSE@2/AvailabilityState"] == flat["Connector@2.1/AvailabilityState"] == "Occupied"
    assert flat["EVSE@1/AvailabilityState"] == "Faulted"
    assert flat["ChargingStation/Problem"] == "true"
    assert flat["SmartChargingCtrlr/Entries:ChargingProfiles"] == "1"
    state.statuses[0] = ("Unavailable", "NoError")
    assert model.flat()["ChargingStation/AvailabilityState"] == "Unavailable"
    assert abs((parse_datetime(flat["ClockCtrlr/DateTime"]) - datetime.now(UTC)).total_seconds()) < 5

    stored = json.loads(model.path.read_text())  # type: ignore[union-attr]
    evse2 = next(c for c in stored["components"] if c["name"] == "EVSE" and c["evse"]["id"] == 2)
    assert evse2["variables"][0]["attributes"][0]["value"] == "Available"
