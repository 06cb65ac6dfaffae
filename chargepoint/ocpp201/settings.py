"""A 2.0.1 station's behaviour settings: the station's setting names (OCPP 1.6 keys, see
`chargepoint.protocol.Settings`) read from and written to device model variables.

The device model is addressed by its flat keys (`Component[:instance][@evse[.connector]]/
Variable[:instance]`, the MQTT `ocpp_config` spelling); the adapter reads 2.0.1-only
variables (TxStartPoint, OfflineThreshold…) through `variable()`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path

from chargepoint.core.ocpp_config import TypedReads
from chargepoint.ocpp201.device_model import DeviceModel, InvalidValue, apply_definition
from cp_simu.config import INSTANCE_FILE, update_section
from cp_simu.models import ChargePointDefinition
from cp_simu.security_settings import SECTION_SECURITY

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
    "AuthorizationKey": "SecurityCtrlr/BasicAuthPassword",
    "SecurityProfile": "SecurityCtrlr/SecurityProfile",
    "CpoName": "SecurityCtrlr/OrganizationName",
}
# Settings a `start` entry gives ([Security] of config.ini), written into the device model.
SEEDED = ("AuthorizationKey", "SecurityProfile")
SECURITY_SETTINGS = {"SecurityCtrlr/BasicAuthPassword": "basic_auth_password",
                     "SecurityCtrlr/SecurityProfile": "security_profile"}  # device model -> [Security]
# Feature profile (1.6 name the station asks about) -> the controller that offers it.
FEATURES: dict[str, str] = {
    "SmartCharging": "SmartChargingCtrlr/Enabled",
    "Reservation": "ReservationCtrlr/Enabled",
    "LocalAuthListManagement": "LocalAuthListCtrlr/Enabled",
}
ALWAYS = ("Core", "FirmwareManagement", "RemoteTrigger")
RATE_UNITS = {"A": "Current", "W": "Power"}  # SmartChargingCtrlr RateUnit -> 1.6 spelling

# Station settings whose value is a variable's capacity (maxLimit), not its Actual value.
CAPACITIES = {"LocalAuthListMaxLength", "MaxChargingProfilesInstalled"}


def _keep_security(config_file: Path, key: str, value: str) -> None:
    """A security variable the CSMS changed goes back into [Security] (its one home)."""
    setting = SECURITY_SETTINGS.get(key)
    if setting is not None and config_file.exists():
        update_section(config_file, SECTION_SECURITY, {setting: value})


class DeviceModelSettings(TypedReads):
    """`chargepoint.protocol.Settings` over a 2.0.1 device model."""

    def __init__(self, model: DeviceModel) -> None:
        self.model = model
        self.listeners: list[Callable[[str, str], None]] = []
        self._names = {variable: name for name, variable in VARIABLES.items()}
        model.listeners.append(self._changed)

    @classmethod
    def load(cls, directory: Path, definition: ChargePointDefinition, values: Mapping[str, str]
             ) -> DeviceModelSettings:
        """The instance's device model, with what the definition decides written in. The
        security settings (`values`: the password and the profile of [Security]) are kept
        in [Security] of the instance's config.ini, as for 1.6: written into the model at
        every start, and what the CSMS sets there (SetVariables, an upgrade) written back."""
        model = DeviceModel.load(directory, definition.nb_connectors)
        apply_definition(model, definition)
        settings = cls(model)
        for name in SEEDED:
            if values.get(name) and values[name] != settings.get(name):
                try:
                    model.update(VARIABLES[name], values[name])
                except InvalidValue as exc:
                    log.error("%s not written into the device model: %s", name, exc)
        model.listeners.append(functools.partial(_keep_security, directory / INSTANCE_FILE))
        return settings

    # -- the station's settings -----------------------------------------------------------
    def get(self, name: str) -> str:
        if name == "SupportedFeatureProfiles":
            return ",".join([*ALWAYS, *(f for f, key in FEATURES.items() if self._true(key))])
        key = VARIABLES.get(name)
        if key in self.model and name in CAPACITIES:
            limit = self.model.variable(key).characteristics.max_limit
            return "" if limit is None else str(int(limit))
        value = "" if key is None else self.variable(key)
        if name == "ChargingScheduleAllowedChargingRateUnit":
            return ",".join(RATE_UNITS.get(unit.strip(), unit.strip()) for unit in value.split(","))
        return value

    def dump(self) -> dict[str, str]:
        return self.model.flat()

    # -- the device model itself ----------------------------------------------------------
    def variable(self, key: str, default: str = "") -> str:
        """The Actual value, write-only ones included (the station reads its own password)."""
        return self.model.value(key) if key in self.model else default

    def variable_items(self, key: str) -> list[str]:
        return [item.strip() for item in self.variable(key).split(",") if item.strip()]

    def variable_int(self, key: str, default: int = 0) -> int:
        try:
            return int(self.variable(key))
        except ValueError:
            return default

    def change(self, name: str, value: str) -> None:
        """A value the station itself sets (by setting name or flat key): the HeartbeatInterval
        of an accepted boot, the security profile after an upgrade or a fallback."""
        self.model.update(VARIABLES.get(name, name), value)

    def _true(self, key: str) -> bool:
        return self.variable(key).strip().lower() == "true"

    def _changed(self, key: str, value: str) -> None:
        name = self._names.get(key)
        for listener in list(self.listeners):
            listener(name or key, value)
