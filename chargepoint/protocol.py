"""The seam between the version-neutral station and an OCPP protocol adapter.

The station calls a `ProtocolAdapter` to tell the CSMS what happened; the adapter's
handlers call the station (the `Controller`) to make the charge point do what the CSMS
asks. Neither side knows the other's internals, so OCPP 2.0.1 is a second adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chargepoint.core.message_log import MessageLog
    from chargepoint.core.network_faults import NetworkFaults
    from chargepoint.core.offline_queue import OfflineQueue
    from chargepoint.model.authorization import IdTagInfo
    from chargepoint.model.connector import StopReason, Transaction, TransactionStopped
    from chargepoint.model.meter import Sample
    from chargepoint.security import Security
    from cp_simu.models import ChargePointDefinition


@dataclass(frozen=True)
class ConnectionSettings:
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0
    call_timeout: float = 30.0


class Settings(Protocol):
    """The configuration that drives the station's behaviour, read by setting name.

    The names are OCPP 1.6's configuration keys (`MeterValueSampleInterval`,
    `StopTransactionOnEVSideDisconnect`…): a 1.6 charge point serves them as they are, a
    2.0.1 station maps each onto its device model variable (`SampledDataCtrlr/TxUpdatedInterval`,
    `TxCtrlr/StopTxOnEVSideDisconnect`…). Listeners hear `(name, new value)` by these names."""

    listeners: list[Callable[[str, str], None]]

    def get(self, name: str) -> str: ...

    def boolean(self, name: str) -> bool: ...

    def integer(self, name: str, default: int = 0) -> int: ...

    def items(self, name: str) -> list[str]: ...

    def dump(self) -> dict[str, str]:
        """Every readable value, flat (the MQTT `ocpp_config` topic)."""


class ProtocolAdapter(Protocol):
    version: str

    @property
    def online(self) -> bool:
        """Connected and accepted by the CSMS: messages can be sent now."""

    async def run(self) -> None:
        """Connect, register and stay connected until close()."""

    async def close(self) -> None: ...

    def drop(self) -> None:
        """Power cut: the connection goes without a close frame, for good."""

    def reboot(self, reason: StopReason) -> None:
        """Drop the connection and register again (Reset, firmware installed: `reason`)."""

    def cut(self) -> None:
        """An injected network drop: the connection goes without a close frame, to be opened again."""

    async def authorize(self, id_tag: str) -> IdTagInfo | None:
        """Ask the CSMS; None when it could not answer."""

    def send_status(self, connector_id: int, status: str, error_code: str) -> None: ...

    def ocpp_status(self, status: str) -> str:
        """A connector status (1.6 names, the simulator's) as this version reports it."""

    def transaction_started(self, tx: Transaction) -> None:
        """A session began; `tx.data[0]` holds its Transaction.Begin reading, if any. The
        adapter may set `tx.awaiting_confirmation` (no energy yet) if it will end the wait
        with `Controller.transaction_confirmed` or `Controller.charge_unconfirmed`. A version
        whose charge point numbers transactions (2.0.1) sets `tx.transaction_id`."""

    def transaction_stopped(self, event: TransactionStopped) -> None: ...

    def charging_rate_changed(self, tx: Transaction) -> None:
        """The rate offered to a charging session changed (smart charging, the shared limit)."""

    def meter_values(self, connector_id: int, tx: Transaction | None, samples: list[Sample]) -> None: ...

    async def report_firmware(self, status: str) -> None:
        """A firmware update's progress; returns once delivered (dropped while offline)."""

    async def report_diagnostics(self, status: str) -> None:
        """A diagnostics upload's progress; returns once delivered (dropped while offline)."""

    async def report_log(self, status: str) -> None:
        """A GetLog upload's progress; returns once delivered (dropped while offline)."""

    def reservation_ended(self, reservation_id: int, expired: bool) -> None:
        """A reservation expired (or was removed by the charge point), unused."""


class Controller(Protocol):
    """What the charge point offers its protocol adapter (implemented by `CsmsRequests`)."""

    definition: ChargePointDefinition
    config: Settings
    queue: OfflineQueue
    message_log: MessageLog
    connection: ConnectionSettings
    security: Security
    network: NetworkFaults

    def record_call(self, action: str, outcome: str, seconds: float) -> None:
        """A call the charge point made was answered (`ok`, a CallError code) or timed out."""

    def set_registration(self, status: str, reason: str = "") -> None:
        """Accepted / Pending / Rejected / Disconnected; `reason` says why it is not Accepted
        (words of `cp_simu.failures`)."""

    def connector_statuses(self) -> list[tuple[int, str, str]]:
        """(connector id, status, error code) for connector 0 and every connector."""

    def transaction_confirmed(self, ref: int, transaction_id: int | str, info: IdTagInfo) -> None: ...

    def charge_unconfirmed(self, ref: int | None = None) -> None:
        """Sessions awaiting the CSMS's answer to their start (that one: `ref`) charge without it."""

    def transaction_for(self, connector_id: int) -> Transaction | None:
        """The transaction running on a connector, if any."""

    def connector_status(self, connector_id: int) -> str:
        """A connector's status now (1.6 names)."""

    def connector_facts(self, connector_id: int) -> tuple[bool, str | None]:
        """Whether a car is plugged in, and the id tag authorized and waiting for it (if any)."""

    def token_type(self, id_tag: str) -> str | None:
        """The kind of identifier (2.0.1 IdTokenEnum) an id tag was presented as, if said."""

    def remember_tag(self, id_tag: str, info: IdTagInfo) -> None: ...

    @property
    def firmware_status(self) -> str:
        """Of the firmware update in progress, Idle when none is."""

    @property
    def diagnostics_status(self) -> str:
        """Of the diagnostics upload in progress, Idle when none is."""

    def remote_start(self, connector_id: int | None, id_tag: str, profile: Mapping[str, Any] | None = None, *,
                     dry_run: bool = False) -> int | None:
        """The connector a remote start uses (None: rejected); starts it unless dry_run. A
        charging `profile` (wire shape) becomes the transaction's TxProfile."""

    def remote_stop(self, transaction_id: int | str, *, dry_run: bool = False) -> bool: ...

    async def reset(self, hard: bool) -> None: ...

    def reset_evse(self, connector_id: int) -> None:
        """One connector (EVSE) starts over: its session ends (HardReset), its transient state goes."""

    def unlock(self, connector_id: int, *, dry_run: bool = False) -> str: ...

    def change_availability(self, connector_id: int, operative: bool, *, dry_run: bool = False) -> str: ...

    def clear_cache(self) -> bool: ...

    def data_transfer(self, vendor_id: str, message_id: str | None, data: str | None
                      ) -> tuple[str, str | None]: ...

    def supports(self, feature_profile: str) -> bool:
        """Whether a feature profile (SupportedFeatureProfiles) is offered."""

    # Smart charging: profiles and answers in OCPP wire shape (camelCase), as the model keeps them.
    def set_charging_profile(self, connector_id: int, profile: Mapping[str, Any], *, dry_run: bool = False
                             ) -> str: ...

    def clear_charging_profile(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
                               stack_level: int | None, *, dry_run: bool = False) -> str: ...

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any]: ...

    def charging_profiles(self) -> list[dict[str, Any]]:
        """The installed profiles: `{"connectorId": n, "csChargingProfiles": profile}`."""

    async def sessions_ended(self) -> None:
        """Returns once no transaction runs."""

    def reserve_now(self, request: Mapping[str, Any], *, dry_run: bool = False) -> str: ...

    def cancel_reservation(self, reservation_id: int, *, dry_run: bool = False) -> str: ...

    def send_local_list(self, request: Mapping[str, Any]) -> str: ...

    def local_list_version(self) -> int: ...

    def trigger_meter_values(self, connector_id: int | None) -> None: ...

    def meter_reading(self, connector_id: int, context: str, measurands: tuple[str, ...]) -> Sample:
        """The connector's meter now, for these measurands (sent by the caller, or not)."""

    def update_firmware(self, location: str, retrieve_at: float, retries: int | None,
                        retry_interval: int | None, request_id: int | None = None) -> None:
        """`request_id`: the request's id the status notifications carry (when the version has one)."""

    def diagnostics_file_name(self, kind: str = "diagnostics") -> str: ...

    # Security extension
    @property
    def firmware_request_id(self) -> int | None:
        """Of the signed firmware update in progress (None for an UpdateFirmware)."""

    @property
    def log_status(self) -> str: ...

    @property
    def log_request_id(self) -> int | None: ...

    def signed_update_firmware(self, request_id: int, location: str, retrieve_at: float, signing_certificate: str,
                               signature: str, retries: int | None, retry_interval: int | None, *,
                               dry_run: bool = False) -> str: ...

    def get_log(self, log_type: str, request_id: int, location: str, window: tuple[float | None, float | None],
                retries: int | None, retry_interval: int | None, *, dry_run: bool = False) -> str: ...

    def upload_diagnostics(self, file_name: str, location: str, start: float | None, stop: float | None,
                           retries: int | None, retry_interval: int | None) -> None: ...


def settings_for(definition: ChargePointDefinition, values: Mapping[str, str], directory: Path) -> Settings:
    """The settings of the charge point's protocol version, without importing its adapter: 1.6
    keys from config.ini's [Ocpp] section (`values`), a 2.0.1 station's device model file in
    `directory`."""
    if definition.ocpp_version == "1.6":
        from chargepoint.core.ocpp_config import OcppConfiguration
        from chargepoint.ocpp16.config_keys import REGISTRY
        from cp_simu.config import INSTANCE_FILE

        return OcppConfiguration(REGISTRY, values, directory / INSTANCE_FILE,
                                 fixed={"NumberOfConnectors": str(definition.nb_connectors)})
    if definition.ocpp_version == "2.0.1":
        from chargepoint.ocpp201.settings import DeviceModelSettings

        return DeviceModelSettings.load(directory, definition, values)
    raise NotImplementedError(definition.ocpp_version)
