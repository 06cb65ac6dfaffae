"""A 2.0.1 station's behaviour settings: the station's setting names (OCPP 1.6 keys, see
`chargepoint.protocol.Settings`) read from and written to device model variables.

The device model is addressed by its flat keys (`Component[:instance][@evse[.connector]]/
Variable[:instance]`, the MQTT `ocpp_config` spelling); the adapter reads 2.0.1-only
variables (TxStartPoint, OfflineThreshold…) through `variable()`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from cp_simu.config import atomic_write

log = logging.getLogger(__name__)

# station setting -> device model variable (flat key)
VARIABLES: dict[str, str] = {
    "HeartbeatInterval": "OCPPCommCtrlr/HeartbeatInterval",
    "WebSocketPingInterval": "OCPPCommCtrlr/WebSocketPingInterval",
    "TransactionMessageAttempts": "OCPPCommCtrlr/MessageAttempts:TransactionEvent",
    "TransactionMessageRetryInterval": "OCPPCommCtrlr/MessageAttemptInterval:TransactionEvent",
    "MeterValueSampleInterval": "SampledDataCtrlr/TxUpdatedInterval",
    "MeterValuesSampledData": "SampledDataCtrlr/TxUpdatedMeasurands",
    "StopTxnSampledData": "SampledDataCtrlr/TxEndedMeasurands",
    "ClockAlignedDataInterval": "AlignedDataCtrlr/Interval",
    "MeterValuesAlignedData": "AlignedDataCtrlr/Measurands",
    "StopTxnAlignedData": "AlignedDataCtrlr/TxEndedMeasurands",
    "ConnectionTimeOut": "TxCtrlr/EVConnectionTimeOut",
    "StopTransactionOnEVSideDisconnect": "TxCtrlr/StopTxOnEVSideDisconnect",
    "StopTransactionOnInvalidId": "TxCtrlr/StopTxOnInvalidId",
    "AuthorizationCacheEnabled": "AuthCacheCtrlr/Enabled",
    "LocalAuthorizeOffline": "AuthCtrlr/LocalAuthorizeOffline",
    "LocalPreAuthorize": "AuthCtrlr/LocalPreAuthorize",
    "AllowOfflineTxForUnknownId": "AuthCtrlr/OfflineTxForUnknownIdEnabled",
    "AuthorizeRemoteTxRequests": "AuthCtrlr/AuthorizeRemoteStart",
    "LocalAuthListEnabled": "LocalAuthListCtrlr/Enabled",
    "LocalAuthListMaxLength": "LocalAuthListCtrlr/Entries",
    "SendLocalListMaxLength": "LocalAuthListCtrlr/ItemsPerMessage",
    "ReserveConnectorZeroSupported": "ReservationCtrlr/NonEvseSpecific",
    "ChargeProfileMaxStackLevel": "SmartChargingCtrlr/ProfileStackLevel",
    "ChargingScheduleAllowedChargingRateUnit": "SmartChargingCtrlr/RateUnit",
    "ChargingScheduleMaxPeriods": "SmartChargingCtrlr/PeriodsPerSchedule",
    "MaxChargingProfilesInstalled": "SmartChargingCtrlr/Entries:ChargingProfiles",
}
# Feature profile (1.6 name the station asks about) -> the controller that offers it.
FEATURES: dict[str, str] = {
    "SmartCharging": "SmartChargingCtrlr/Enabled",
    "Reservation": "ReservationCtrlr/Enabled",
    "LocalAuthListManagement": "LocalAuthListCtrlr/Enabled",
}
ALWAYS = ("Core", "FirmwareManagement", "RemoteTrigger")
RATE_UNITS = {"A": "Current", "W": "Power"}  # SmartChargingCtrlr RateUnit -> 1.6 spelling

# What the station reads before the device model store is there (until it is switched over).
DEFAULTS: dict[str, str] = {
    "OCPPCommCtrlr/HeartbeatInterval": "300",
    "OCPPCommCtrlr/WebSocketPingInterval": "30",
    "OCPPCommCtrlr/MessageAttempts:TransactionEvent": "3",
    "OCPPCommCtrlr/MessageAttemptInterval:TransactionEvent": "30",
    "OCPPCommCtrlr/OfflineThreshold": "60",
    "SampledDataCtrlr/TxUpdatedInterval": "60",
    "SampledDataCtrlr/TxStartedMeasurands": "Energy.Active.Import.Register",
    "SampledDataCtrlr/TxUpdatedMeasurands": "Energy.Active.Import.Register,Power.Active.Import,"
                                            "Current.Import,Current.Offered,Voltage",
    "SampledDataCtrlr/TxEndedMeasurands": "Energy.Active.Import.Register",
    "AlignedDataCtrlr/Interval": "0",
    "AlignedDataCtrlr/Measurands": "Energy.Active.Import.Register",
    "AlignedDataCtrlr/TxEndedMeasurands": "",
    "TxCtrlr/EVConnectionTimeOut": "60",
    "TxCtrlr/StopTxOnEVSideDisconnect": "true",
    "TxCtrlr/StopTxOnInvalidId": "true",
    "TxCtrlr/TxStartPoint": "PowerPathClosed",
    "TxCtrlr/TxStopPoint": "EVConnected,Authorized",
    "AuthCtrlr/LocalAuthorizeOffline": "true",
    "AuthCtrlr/LocalPreAuthorize": "false",
    "AuthCtrlr/OfflineTxForUnknownIdEnabled": "false",
    "AuthCtrlr/AuthorizeRemoteStart": "false",
    "AuthCacheCtrlr/Enabled": "true",
    "LocalAuthListCtrlr/Enabled": "true",
    "LocalAuthListCtrlr/Entries": "1000",
    "LocalAuthListCtrlr/ItemsPerMessage": "100",
    "ReservationCtrlr/Enabled": "true",
    "ReservationCtrlr/NonEvseSpecific": "true",
    "SmartChargingCtrlr/Enabled": "true",
    "SmartChargingCtrlr/ProfileStackLevel": "10",
    "SmartChargingCtrlr/RateUnit": "A,W",
    "SmartChargingCtrlr/PeriodsPerSchedule": "48",
    "SmartChargingCtrlr/Entries:ChargingProfiles": "20",
}
OVERRIDES_FILE = "device_model_values.json"


class VariableStore(Protocol):
    """What the settings need of the device model: Actual values by flat key."""

    listeners: list[Callable[[str, str], None]]

    def actual(self, key: str) -> str | None: ...

    def set_actual(self, key: str, value: str) -> None: ...

    def flat(self) -> dict[str, str]: ...


class DefaultsStore:
    """Stand-in device model: the defaults above, changed values kept in a JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listeners: list[Callable[[str, str], None]] = []
        self._values = dict(DEFAULTS)
        try:
            saved = json.loads(path.read_text())
            self._values.update({str(k): str(v) for k, v in saved.items()})
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.error("unreadable %s (%s): device model defaults used", path, exc)

    def actual(self, key: str) -> str | None:
        return self._values.get(key)

    def set_actual(self, key: str, value: str) -> None:
        self._values[key] = value
        changed = {k: v for k, v in self._values.items() if DEFAULTS.get(k) != v}
        atomic_write(self.path, json.dumps(changed, indent=1, sort_keys=True))
        for listener in list(self.listeners):
            listener(key, value)

    def flat(self) -> dict[str, str]:
        return dict(sorted(self._values.items()))


class DeviceModelSettings:
    """`chargepoint.protocol.Settings` over a 2.0.1 device model."""

    def __init__(self, store: VariableStore) -> None:
        self.store = store
        self.listeners: list[Callable[[str, str], None]] = []
        self._names = {variable: name for name, variable in VARIABLES.items()}
        store.listeners.append(self._changed)

    @classmethod
    def load(cls, directory: Path, _fixed: Mapping[str, str]) -> DeviceModelSettings:
        return cls(DefaultsStore(directory / OVERRIDES_FILE))

    # -- the station's settings -----------------------------------------------------------
    def get(self, name: str) -> str:
        if name == "SupportedFeatureProfiles":
            return ",".join([*ALWAYS, *(f for f, key in FEATURES.items() if self._true(key))])
        key = VARIABLES.get(name)
        value = "" if key is None else self.variable(key)
        if name == "ChargingScheduleAllowedChargingRateUnit":
            return ",".join(RATE_UNITS.get(unit.strip(), unit.strip()) for unit in value.split(","))
        return value

    def boolean(self, name: str) -> bool:
        return self.get(name).strip().lower() == "true"

    def integer(self, name: str, default: int = 0) -> int:
        try:
            return int(self.get(name))
        except ValueError:
            return default

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.get(name).split(",") if item.strip()]

    def dump(self) -> dict[str, str]:
        return self.store.flat()

    # -- the device model itself ----------------------------------------------------------
    def variable(self, key: str, default: str = "") -> str:
        value = self.store.actual(key)
        return default if value is None else value

    def variable_items(self, key: str) -> list[str]:
        return [item.strip() for item in self.variable(key).split(",") if item.strip()]

    def variable_int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.variable(key))
        except ValueError:
            return default

    def change(self, key: str, value: str) -> None:
        """A value the station itself sets (the HeartbeatInterval of an accepted boot)."""
        self.store.set_actual(key, value)

    def _true(self, key: str) -> bool:
        return self.variable(key).strip().lower() == "true"

    def _changed(self, key: str, value: str) -> None:
        name = self._names.get(key)
        for listener in list(self.listeners):
            listener(name or key, value)
