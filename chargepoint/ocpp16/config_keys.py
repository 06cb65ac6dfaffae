"""The OCPP 1.6 configuration keys this charge point serves (OCPP 1.6 §9), with metadata."""

from __future__ import annotations

from chargepoint.core.ocpp_config import KeyDef, KeyKind
from cp_simu.security_settings import SECTION_SECURITY

MEASURANDS = frozenset({
    "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Current.Offered",
    "Power.Offered", "Voltage", "SoC",
})
PROFILES = frozenset({"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation",
                      "SmartCharging", "RemoteTrigger"})

B, N, L, S = KeyKind.BOOL, KeyKind.INT, KeyKind.CSL, KeyKind.STRING


def _measurands(name: str, default: str) -> KeyDef:
    return KeyDef(name, L, default, choices=MEASURANDS, max_items_key=f"{name}MaxLength")


REGISTRY: tuple[KeyDef, ...] = (
    # Core profile
    KeyDef("AllowOfflineTxForUnknownId", B, "false"),
    KeyDef("AuthorizationCacheEnabled", B, "true"),
    KeyDef("AuthorizeRemoteTxRequests", B, "false"),
    KeyDef("BlinkRepeat", N, "0"),
    KeyDef("ClockAlignedDataInterval", N, "0"),
    KeyDef("ConnectionTimeOut", N, "60", minimum=1),
    KeyDef("ConnectorPhaseRotation", L, "NotApplicable"),
    KeyDef("ConnectorPhaseRotationMaxLength", N, "1", readonly=True),
    KeyDef("GetConfigurationMaxKeys", N, "100", readonly=True),
    KeyDef("HeartbeatInterval", N, "300"),
    KeyDef("LightIntensity", N, "0"),
    KeyDef("LocalAuthorizeOffline", B, "true"),
    KeyDef("LocalPreAuthorize", B, "false"),
    KeyDef("MaxEnergyOnInvalidId", N, "0"),
    _measurands("MeterValuesAlignedData", "Energy.Active.Import.Register"),
    KeyDef("MeterValuesAlignedDataMaxLength", N, "10", readonly=True),
    _measurands("MeterValuesSampledData", "Energy.Active.Import.Register"),
    KeyDef("MeterValuesSampledDataMaxLength", N, "10", readonly=True),
    KeyDef("MeterValueSampleInterval", N, "10"),
    KeyDef("MinimumStatusDuration", N, "0"),
    KeyDef("NumberOfConnectors", N, "1", readonly=True),
    KeyDef("ResetRetries", N, "1"),
    KeyDef("StopTransactionOnEVSideDisconnect", B, "true"),
    KeyDef("StopTransactionOnInvalidId", B, "true"),
    _measurands("StopTxnAlignedData", ""),
    KeyDef("StopTxnAlignedDataMaxLength", N, "10", readonly=True),
    _measurands("StopTxnSampledData", "Energy.Active.Import.Register"),
    KeyDef("StopTxnSampledDataMaxLength", N, "10", readonly=True),
    KeyDef("SupportedFeatureProfiles", L, ",".join(sorted(PROFILES)), readonly=True),
    KeyDef("SupportedFeatureProfilesMaxLength", N, "6", readonly=True),
    KeyDef("TransactionMessageAttempts", N, "3", minimum=1),
    KeyDef("TransactionMessageRetryInterval", N, "30"),
    KeyDef("UnlockConnectorOnEVSideDisconnect", B, "true"),
    # Applied when the next WebSocket connection opens.
    KeyDef("WebSocketPingInterval", N, "30", reboot_required=True),
    # Local Auth List Management profile
    KeyDef("LocalAuthListEnabled", B, "true"),
    KeyDef("LocalAuthListMaxLength", N, "1000", readonly=True),
    KeyDef("SendLocalListMaxLength", N, "100", readonly=True),
    # Reservation profile
    KeyDef("ReserveConnectorZeroSupported", B, "true", readonly=True),
    # Smart Charging profile
    KeyDef("ChargeProfileMaxStackLevel", N, "10", readonly=True),
    KeyDef("ChargingScheduleAllowedChargingRateUnit", L, "Current,Power", readonly=True),
    KeyDef("ChargingScheduleMaxPeriods", N, "48", readonly=True),
    KeyDef("ConnectorSwitch3to1PhaseSupported", B, "false", readonly=True),
    KeyDef("MaxChargingProfilesInstalled", N, "20", readonly=True),
    # Security extension (OCPP 1.6 security whitepaper). The Basic auth password is write-only
    # and, like the profile, kept with the other security settings in [Security].
    KeyDef("AuthorizationKey", S, "", writeonly=True, length=(16, 40),
           stored_as=(SECTION_SECURITY, "basic_auth_password")),
    KeyDef("SecurityProfile", N, "0", maximum=3, stored_as=(SECTION_SECURITY, "security_profile")),
    KeyDef("CpoName", S, ""),
    KeyDef("CertificateStoreMaxLength", N, "10", readonly=True),
    KeyDef("AdditionalRootCertificateCheck", B, "false", readonly=True),
)
