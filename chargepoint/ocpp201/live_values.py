"""Device model variables whose Actual value is the station's state at the moment it is read.

GetVariables, reports and `ocpp_config` then tell the truth (an EVSE with a car is Occupied,
the clock is now) without the station writing the file on every change: these values are
`provide`d, never stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chargepoint.core.message_log import utc_iso

if TYPE_CHECKING:
    from chargepoint.ocpp201.device_model import DeviceModel
    from chargepoint.protocol import Controller

NO_ERROR = "NoError"


def bind(model: DeviceModel, station: Controller, ocpp_status: Callable[[str], str]) -> None:
    """Provide the live variables of `model` from `station`; `ocpp_status` turns the simulator's
    connector status into a 2.0.1 ConnectorStatus (the adapter's mapping)."""

    def provide(key: str, source: Callable[[], object]) -> None:
        if key in model:
            model.provide(key, source)

    def evse_status(n: int) -> Callable[[], str]:
        return lambda: ocpp_status(station.connector_status(n))

    def station_status() -> str:
        # Connector 0 stands for the whole station (Unavailable when it is set Inoperative).
        statuses = {n: status for n, status, _ in station.connector_statuses()}
        return ocpp_status(statuses.get(0, "Available"))

    for n in range(1, station.definition.nb_connectors + 1):
        provide(f"EVSE@{n}/AvailabilityState", evse_status(n))
        provide(f"Connector@{n}.1/AvailabilityState", evse_status(n))
    provide("ChargingStation/AvailabilityState", station_status)
    provide("ChargingStation/Problem", lambda: any(code != NO_ERROR for _, _, code in station.connector_statuses()))
    provide("ClockCtrlr/DateTime", utc_iso)
    provide("SmartChargingCtrlr/Entries:ChargingProfiles", lambda: len(station.charging_profiles()))
