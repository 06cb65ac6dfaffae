"""One simulated charge point: model + protocol adapter + MQTT, wired event-driven.

Nothing polls. MQTT inputs and CSMS calls act on the connectors at once; connector events
become OCPP messages at once; everything derived (setpoint sharing, timers, retained MQTT
statuses, state.json) is brought up to date in one coalesced `_update()` right after.
Timers exist only while they have work: meter sampling while a transaction runs, the
status refresh while energy flows, the ConnectionTimeOut deadline while a tag waits, one
timer per connector at the next smart charging limit change, one at the next reservation
expiry. Firmware and diagnostics transfers run as background jobs (`maintenance`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from chargepoint.core.message_log import MessageLog
from chargepoint.core.ocpp_config import OcppConfiguration
from chargepoint.core.offline_queue import OfflineQueue
from chargepoint.core.state_store import StateStore
from chargepoint.maintenance import DiagnosticsUploader, FirmwareUpdater, Retries
from chargepoint.model.authorization import ACCEPTED, AuthorizationCache, IdTagInfo
from chargepoint.model.connector import (
    ConnectorPolicy,
    ConnectorState,
    ConnectorStateMachine,
    Event,
    StatusChanged,
    StopReason,
    TagOutcome,
    Transaction,
    TransactionStarted,
    TransactionStopped,
)
from chargepoint.model.local_auth_list import AuthAction, AuthorizationPolicy, LocalAuthList
from chargepoint.model.meter import Clock, MeterModel, Sample
from chargepoint.model.reservation import Reservations
from chargepoint.model.setpoint import OcppLimit, ProfileLimits, share_limit
from chargepoint.model.smart_charging import (
    Answer,
    SmartCharging,
    SmartChargingLimits,
    utc_from_timestamp,
)
from chargepoint.mqtt_api import MqttApi
from chargepoint.protocol import ConnectionSettings, ProtocolAdapter, registry_for
from cp_simu.config import INSTANCE_FILE, SECTION_CP, SECTION_SIMULATION, SimuConfig, update_section
from cp_simu.models import (
    CarInput,
    ChargePointDefinition,
    ConnectorStatus,
    CpCommand,
    CpCommandType,
    CpStatus,
    FaultedInput,
    IdTagInput,
)
from cp_simu.topics import Topics

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
QUEUE_FILE = "queue.jsonl"
OCPP_LOG_FILE = "ocpp.log"
SAVE_WHILE_CHARGING = 10.0  # s between state.json writes while energy flows (meter register)
TX_DATA_MAX = 50  # readings a transaction keeps for its StopTransaction
RESET_DRAIN_TIMEOUT = 5.0  # s a reset waits for its StopTransactions to reach the CSMS
T = TypeVar("T")


@dataclass(frozen=True)
class Instance:
    """Everything a charge point process is started with."""

    directory: Path
    config: SimuConfig
    definition: ChargePointDefinition
    broker: str


def make_adapter(station: Station) -> ProtocolAdapter:
    """Import only the protocol version this charge point speaks."""
    if station.definition.ocpp_version == "1.6":
        from chargepoint.ocpp16.adapter import Ocpp16Adapter

        return Ocpp16Adapter(station)
    raise NotImplementedError(f"OCPP {station.definition.ocpp_version}")


class Station:
    def __init__(self, instance: Instance, *, clock: Clock = time.time) -> None:
        cfg = instance.config
        d = self.definition = instance.definition
        self.directory = instance.directory
        self._clock = clock
        self.config = OcppConfiguration(registry_for(d.ocpp_version), cfg.ocpp, instance.directory / INSTANCE_FILE,
                                        fixed={"NumberOfConnectors": str(d.nb_connectors)})
        section = cfg.parser[SECTION_SIMULATION] if cfg.parser.has_section(SECTION_SIMULATION) else {}
        self.connection = ConnectionSettings(
            ca_file=cfg.simulation.ca_file,
            reconnect_min=float(section.get("reconnect_min", 1.0)),
            reconnect_max=float(section.get("reconnect_max", 30.0)),
            call_timeout=float(section.get("call_timeout", 30.0)))
        self.refresh_interval = cfg.simulation.status_refresh_interval
        self.message_log = MessageLog(instance.directory / OCPP_LOG_FILE, cfg.simulation.log_max_bytes,
                                      cfg.simulation.log_backups)
        self.queue = OfflineQueue(instance.directory / QUEUE_FILE)
        self.store = StateStore(instance.directory / STATE_FILE)
        self.policy = ConnectorPolicy()
        self.cache = AuthorizationCache()
        self.registration = "Disconnected"
        self._tx_ref = 0
        self.connectors: dict[int, ConnectorStateMachine] = {}
        for n in range(1, d.nb_connectors + 1):
            meter = MeterModel(dc=d.is_dc, phases=d.nb_phases, voltage=d.voltage,
                               power_factor=cfg.simulation.power_factor, clock=clock)
            connector = ConnectorStateMachine(n, meter, max_setpoint=d.max_setpoint_per_connector,
                                              policy=self.policy, clock=clock, next_ref=self._next_ref)
            connector.listeners.append(self._on_event)
            self.connectors[n] = connector
        self._load_state()
        self.limits = ProfileLimits(self.smart_charging, dc=d.is_dc, voltage=d.voltage, phases=d.nb_phases,
                                    transaction_start=self._transaction_start)
        self._apply_config()
        self.config.listeners.append(self._config_changed)
        self.adapter = make_adapter(self)
        self.mqtt = MqttApi(instance.broker, Topics(cfg.mqtt.root), d.id, d.nb_connectors, self,
                            dead_status=self._cp_status("Dead"), keepalive=cfg.mqtt.keepalive)
        self.message_log.listeners.append(self.mqtt.publish_ocpp_log)
        self._no_session = asyncio.Event()  # set while no transaction runs (a firmware install waits)
        self.firmware = FirmwareUpdater(
            instance.directory, self.adapter.report_firmware, self._spawn, clock=clock,
            idle_connectors=self._no_session.wait, install=self._install_firmware,
            reboot=functools.partial(self._reboot, StopReason.REBOOT))
        self.diagnostics = DiagnosticsUploader(instance.directory, self.adapter.report_diagnostics, self._spawn)
        # loop-bound state, set up in run()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = asyncio.Event()
        self._update_scheduled = False
        self._save_requested = False
        self._last_save = 0.0
        self._dirty: set[int] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timer_keys: dict[str, object] = {}
        self._reported_cp_status: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self) -> int:
        """Until a close command or signal: then Dead on MQTT, OCPP closed, exit code 0."""
        loop = self._loop = asyncio.get_running_loop()
        self.mqtt.start(loop.call_soon_threadsafe)
        self.mqtt.publish_status(self._cp_status(self.registration))
        self._resume_interrupted()
        self._reported_cp_status = self._cp_connector_status()
        self._touch(*self.connectors, save=True)
        self._arm_aligned()
        adapter = loop.create_task(self.adapter.run())
        adapter.add_done_callback(_log_failure)
        await self._closed.wait()
        log.info("closing")
        for handle in self._timers.values():
            handle.cancel()
        self._save()
        self.mqtt.stop()
        await self.adapter.close()
        adapter.cancel()
        for task in (adapter, *self._tasks):
            task.cancel()
        await asyncio.gather(adapter, *self._tasks, return_exceptions=True)
        self.queue.close()
        self.message_log.close()
        return 0

    def close(self) -> None:
        self._closed.set()

    def _resume_interrupted(self) -> None:
        """Transactions still open in state.json were cut by a power loss (kill, crash,
        close): they are stopped now, with the register and time last saved."""
        saved_at = self._state_saved_at
        for connector in self.connectors.values():
            if connector.transaction is not None:
                log.warning("connector %d: transaction interrupted by the restart, stopping it (PowerLoss)",
                            connector.connector_id)
                connector.stop(StopReason.POWER_LOSS, at=saved_at)

    # -- MQTT inputs (InputHandler) -------------------------------------------------------
    def on_car(self, connector_id: int, car: CarInput) -> None:
        self.connectors[connector_id].car_input(
            car.cable, car.ready, (car.consumption_l1, car.consumption_l2, car.consumption_l3))
        self._touch(connector_id)

    def on_id_tag(self, connector_id: int, tag: IdTagInput) -> None:
        self._present_tag(connector_id, tag.id)

    def on_faulted(self, connector_id: int, faulted: FaultedInput) -> None:
        self.connectors[connector_id].set_fault(faulted.faulted)
        self._touch(connector_id)

    def on_command(self, command: CpCommand) -> None:
        if command.type is CpCommandType.CLOSE:
            self.close()
        elif command.type is CpCommandType.OCPP_CONFIG:
            self.mqtt.publish_ocpp_config(self.config.dump())

    def _present_tag(self, connector_id: int, id_tag: str, profile: Mapping[str, Any] | None = None) -> None:
        """What the tag does at once happens now, in input order (a stop must not be overtaken
        by the next input); only what needs an authorization waits for it."""
        connector = self.connectors[connector_id]
        outcome = connector.present_tag(id_tag)
        if outcome in (TagOutcome.AUTHORIZE, TagOutcome.CHECK_GROUP):
            self._spawn(self._authorized_tag(connector, id_tag, outcome, profile))
        elif outcome is TagOutcome.REFUSED:
            log.info("connector %d is %s: id tag %s ignored", connector_id, connector.status, id_tag)
        self._touch(connector_id)

    async def _authorized_tag(self, connector: ConnectorStateMachine, id_tag: str, outcome: TagOutcome,
                              profile: Mapping[str, Any] | None) -> None:
        n = connector.connector_id
        info = await self._authorize(id_tag)
        accepted = info is not None and info.accepted(self._clock())
        parent_id = info.parent_id if info is not None and accepted else None
        if outcome is TagOutcome.CHECK_GROUP:
            if not connector.stop_by_group(id_tag, parent_id):
                log.info("connector %d: %s may not stop this session", n, id_tag)
        elif accepted:
            self._start_authorized(connector, id_tag, parent_id, profile)
        else:
            log.info("connector %d: id tag %s refused (%s)", n, id_tag, info.status if info else "no answer")
        self._touch(n)

    def _start_authorized(self, connector: ConnectorStateMachine, id_tag: str, parent_id: str | None,
                          profile: Mapping[str, Any] | None = None) -> None:
        """An accepted tag starts (or waits for the car) unless a reservation keeps the
        connector for someone else; a remote start's charging profile comes along."""
        n = connector.connector_id
        if not self.reservations.may_start(n, id_tag, parent_id, self._free_connectors()):
            log.info("connector %d: reserved, id tag %s may not start", n, id_tag)
            return
        if profile is not None:
            self.smart_charging.accept_remote_start_profile(n, profile)
        connector.accept_tag(id_tag, parent_id)

    def _free_connectors(self) -> list[int]:
        return [n for n, c in self.connectors.items() if c.status is ConnectorState.AVAILABLE]

    async def _authorize(self, id_tag: str) -> IdTagInfo | None:
        """OCPP 1.6 §3.5: local knowledge (the local list, then the authorization cache)
        decides when the rules allow it, otherwise the CSMS; None when the tag is refused
        without an answer."""
        now = self._clock()
        entry = self.local_list.lookup(id_tag, utc_from_timestamp(now))
        local = {"local_list": None if entry is None else IdTagInfo.from_wire(entry),
                 "cache": self.cache.lookup(id_tag, now)}
        known = {source: info.status if info else None for source, info in local.items()}
        policy = self._authorization_policy()
        decision = policy.decide(self.adapter.online, known["local_list"], known["cache"])
        if decision.action is AuthAction.ASK_CSMS:
            answer = await self.adapter.authorize(id_tag)
            if answer is not None:
                self.remember_tag(id_tag, answer)
                return answer
            decision = policy.decide(False, known["local_list"], known["cache"])  # no answer: the offline rules
        if decision.source in local:
            return local[decision.source]
        return IdTagInfo(ACCEPTED) if decision.action is AuthAction.ACCEPT else None

    def _authorization_policy(self) -> AuthorizationPolicy:
        c = self.config
        return AuthorizationPolicy(
            local_auth_list_enabled=self.local_list.supported and c.boolean("LocalAuthListEnabled"),
            local_authorize_offline=c.boolean("LocalAuthorizeOffline"),
            local_pre_authorize=c.boolean("LocalPreAuthorize"),
            allow_offline_tx_for_unknown_id=c.boolean("AllowOfflineTxForUnknownId"),
            authorization_cache_enabled=self.cache.enabled)

    # -- Controller (called by the protocol adapter) --------------------------------------
    def set_registration(self, status: str) -> None:
        if status != self.registration:
            log.info("registration: %s", status)
            self.registration = status
            self.mqtt.publish_status(self._cp_status(status))

    def connector_statuses(self) -> list[tuple[int, str, str]]:
        return [(0, self._cp_connector_status(), "NoError")] + [
            (n, c.status.value, c.error_code) for n, c in self.connectors.items()]

    def transaction_confirmed(self, ref: int, transaction_id: int | str, info: IdTagInfo) -> None:
        for connector in self.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.ref == ref:
                self.remember_tag(tx.id_tag, info)
                tx.parent_id = info.parent_id or tx.parent_id
                connector.transaction_confirmed(transaction_id, info.accepted(self._clock()))
                self._touch(connector.connector_id, save=True)

    def remember_tag(self, id_tag: str, info: IdTagInfo) -> None:
        self.cache.update(id_tag, info)
        self._save_requested = True

    def remote_start(self, connector_id: int | None, id_tag: str, profile: Mapping[str, Any] | None = None, *,
                     dry_run: bool = False) -> int | None:
        free = self._free_connectors()
        usable = [c for c in self.connectors.values()
                  if c.can_start() and self.reservations.may_start(c.connector_id, id_tag, None, free)
                  and connector_id in (None, 0, c.connector_id)]
        # the CP chooses (no or 0 connector): a connector with a car waiting first
        chosen = next((c for c in usable if c.car.plugged), usable[0] if usable else None)
        if chosen is None:
            return None
        n = chosen.connector_id
        if profile is not None:
            answer = self.smart_charging.accept_remote_start_profile(n, profile, dry_run=True)
            if answer.status != ACCEPTED:
                log.info("RemoteStartTransaction refused: %s", answer.reason)
                return None
        if dry_run:
            return n
        if self.config.boolean("AuthorizeRemoteTxRequests"):
            self._present_tag(n, id_tag, profile)
        else:
            self._start_authorized(chosen, id_tag, None, profile)
            self._touch(n)
        return n

    def remote_stop(self, transaction_id: int | str, *, dry_run: bool = False) -> bool:
        for connector in self.connectors.values():
            tx = connector.transaction
            if tx is not None and tx.transaction_id == transaction_id:
                if not dry_run:
                    connector.stop(StopReason.REMOTE)
                    self._touch(connector.connector_id)
                return True
        return False

    async def reset(self, hard: bool) -> None:
        log.warning("%s reset", "hard" if hard else "soft")
        await self._reboot(StopReason.HARD_RESET if hard else StopReason.SOFT_RESET)

    async def _reboot(self, reason: StopReason) -> None:
        """Stop every session (`reason`), let the stops reach the CSMS, reboot: the process
        survives, the OCPP side starts over with a BootNotification."""
        for connector in self.connectors.values():
            connector.stop(reason)
        self._update()
        deadline = time.monotonic() + RESET_DRAIN_TIMEOUT
        while len(self.queue) and self.adapter.online and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for connector in self.connectors.values():
            connector.reboot()
        self.adapter.reboot()
        self._touch(*self.connectors)

    def unlock(self, connector_id: int, *, dry_run: bool = False) -> str:
        connector = self.connectors.get(connector_id)
        if connector is None:
            return "NotSupported"
        if not dry_run:
            connector.stop(StopReason.UNLOCK_COMMAND)
            self._touch(connector_id)
        return "Unlocked"

    def change_availability(self, connector_id: int, operative: bool, *, dry_run: bool = False) -> str:
        """Connector 0 is the whole charge point; Scheduled while a session runs."""
        targets = list(self.connectors.values()) if connector_id == 0 else (
            [self.connectors[connector_id]] if connector_id in self.connectors else [])
        if not targets:
            return "Rejected"
        if dry_run:
            busy = any(c.transaction is not None for c in targets)
            return "Scheduled" if busy and not operative else "Accepted"
        results = [c.set_operative(operative) for c in targets]
        self._touch(*(c.connector_id for c in targets), save=True)
        return "Scheduled" if "Scheduled" in results else "Accepted"

    def clear_cache(self) -> bool:
        self.cache.clear()
        self._save_requested = True
        self._schedule_update()
        return True

    def data_transfer(self, vendor_id: str, message_id: str | None, data: str | None
                      ) -> tuple[str, str | None]:
        log.info("DataTransfer from the CSMS: vendor %s, message %s", vendor_id, message_id)
        return "UnknownVendorId", None

    def supports(self, feature_profile: str) -> bool:
        return feature_profile in self.config.items("SupportedFeatureProfiles")

    # smart charging
    def set_charging_profile(self, connector_id: int, profile: Mapping[str, Any], *, dry_run: bool = False) -> str:
        connector = self.connectors.get(connector_id)
        tx = connector.transaction if connector is not None else None
        tx_id = tx.transaction_id if tx is not None and isinstance(tx.transaction_id, int) else None
        answer = self.smart_charging.install(connector_id, profile, tx_id, dry_run=dry_run)
        return self._profiles_changed("SetChargingProfile", answer, dry_run)

    def clear_charging_profile(self, profile_id: int | None, connector_id: int | None, purpose: str | None,
                               stack_level: int | None, *, dry_run: bool = False) -> str:
        answer = self.smart_charging.clear(profile_id, connector_id, purpose, stack_level, dry_run=dry_run)
        return self._profiles_changed("ClearChargingProfile", answer, dry_run)

    def _profiles_changed(self, action: str, answer: Answer, dry_run: bool) -> str:
        """Applied: every setpoint is re-evaluated and published at once."""
        _log_outcome(action, answer, dry_run)
        if answer.status == ACCEPTED and not dry_run:
            self._touch(*self.connectors, save=True)
        return str(answer.status)

    def composite_schedule(self, connector_id: int, duration: int, unit: str | None) -> dict[str, Any]:
        d = self.definition
        hardware = d.max_setpoint if connector_id == 0 else d.max_setpoint_per_connector
        return self.limits.composite_schedule(connector_id, duration, unit, self._clock(), hardware)

    def _transaction_start(self, connector_id: int) -> float | None:
        connector = self.connectors.get(connector_id)
        tx = connector.transaction if connector is not None else None
        return None if tx is None else tx.started_at

    # reservations
    def reserve_now(self, request: Mapping[str, Any], *, dry_run: bool = False) -> str:
        states = {n: c.status.value for n, c in self.connectors.items()}
        answer = self.reservations.reserve(request, states, utc_from_timestamp(self._clock()), dry_run=dry_run)
        _log_outcome("ReserveNow", answer, dry_run)
        if answer.status == ACCEPTED and not dry_run:
            self._sync_reservations()
        return str(answer.status)

    def cancel_reservation(self, reservation_id: int, *, dry_run: bool = False) -> str:
        status = self.reservations.cancel(reservation_id, dry_run=dry_run)
        if status == ACCEPTED and not dry_run:
            self._sync_reservations()
        return str(status)

    def _sync_reservations(self) -> None:
        """Connectors show Reserved exactly while a reservation holds them."""
        for n, connector in self.connectors.items():
            held = self.reservations.for_connector(n) is not None
            if held != connector.reserved:
                connector.set_reserved(held)
        self._touch(*self.connectors, save=True)

    def _expire_reservations(self) -> None:
        for reservation in self.reservations.expired(utc_from_timestamp(self._clock())):
            log.info("reservation %d (connector %d) expired", reservation.reservation_id, reservation.connector_id)
        self._sync_reservations()

    # local authorization list
    def send_local_list(self, request: Mapping[str, Any]) -> str:
        answer = self.local_list.update(request)
        if answer.status == ACCEPTED:
            log.info("local list version %d: %d id tag(s)", self.local_list.version, len(self.local_list))
            self._save_requested = True
            self._schedule_update()
        else:
            log.info("SendLocalList: %s (%s)", answer.status, answer.reason)
        return str(answer.status)

    def local_list_version(self) -> int:
        return self.local_list.version

    # remote trigger
    def trigger_meter_values(self, connector_id: int | None) -> None:
        """MeterValues (MeterValuesSampledData, context Trigger) for one connector or all."""
        for n, connector in self.connectors.items():
            sample = self._sample(connector, "Trigger", "MeterValuesSampledData")
            if sample is not None and connector_id in (None, n):
                self.adapter.meter_values(n, connector.transaction, [sample])

    # firmware and diagnostics
    @property
    def firmware_status(self) -> str:
        return self.firmware.status

    @property
    def diagnostics_status(self) -> str:
        return self.diagnostics.status

    def update_firmware(self, location: str, retrieve_at: float, retries: int | None,
                        retry_interval: int | None) -> None:
        self.firmware.start(location, retrieve_at, Retries.from_request(retries, retry_interval))

    def _install_firmware(self, version: str) -> None:
        """The new version is what the next BootNotification and the CP status carry, also
        after a restart (config.ini)."""
        update_section(self.directory / INSTANCE_FILE, SECTION_CP, {"firmware_version": version})
        self.definition.extra["firmware_version"] = version
        self.mqtt.set_dead_status(self._cp_status("Dead"))
        self.mqtt.publish_status(self._cp_status(self.registration))

    def diagnostics_file_name(self) -> str:
        stamp = utc_from_timestamp(self._clock()).strftime("%Y%m%dT%H%M%SZ")
        return f"diagnostics-{self.definition.id.replace(':', '_')}-{stamp}.zip"

    def upload_diagnostics(self, file_name: str, location: str, start: float | None, stop: float | None,
                           retries: int | None, retry_interval: int | None) -> None:
        self.diagnostics.start(file_name, location, (start, stop), Retries.from_request(retries, retry_interval))

    # -- connector events -----------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            connector = self.connectors[event.connector_id]
            # a remote start's charging profile that never found its session goes
            dropped = connector.transaction is None and connector.authorized is None and bool(
                self.smart_charging.transaction_ended(event.connector_id))
            self._status_changed(event.connector_id, event.status.value, event.error_code)
            self._touch(event.connector_id, save=dropped)
            return
        tx = event.transaction
        connector = self.connectors[tx.connector_id]
        if isinstance(event, TransactionStarted):
            tx.reservation_id = self.reservations.consume(tx.connector_id, tx.id_tag, tx.parent_id)
            self.smart_charging.transaction_started(tx.connector_id, None)
            self._record(connector, "Transaction.Begin")
            self.adapter.transaction_started(tx)
            if tx.reservation_id is not None:
                self._sync_reservations()
        elif isinstance(event, TransactionStopped):
            self.smart_charging.transaction_ended(tx.connector_id)
            self._record(connector, "Transaction.End", tx)
            self.adapter.transaction_stopped(event)
        self._touch(tx.connector_id, save=True)

    def _status_changed(self, connector_id: int, status: str, error_code: str) -> None:
        """StatusNotification, held back until it lasted MinimumStatusDuration."""
        hold = self.config.integer("MinimumStatusDuration")
        if hold <= 0 or self._loop is None:
            self.adapter.send_status(connector_id, status, error_code)
            return

        def report_if_stable() -> None:
            current = self.connector_statuses()[connector_id]
            if current[1:] == (status, error_code):
                self.adapter.send_status(connector_id, status, error_code)
        self._set_timer(f"status{connector_id}", hold, report_if_stable)

    def _record(self, connector: ConnectorStateMachine, context: str,
                tx: Transaction | None = None) -> Sample | None:
        """A StopTxnSampledData sample kept in the transaction for its StopTransaction."""
        tx = tx or connector.transaction
        sample = self._sample(connector, context, "StopTxnSampledData")
        if sample is not None and tx is not None:
            _keep(tx, sample)
        return sample

    def _sample(self, connector: ConnectorStateMachine, context: str, key: str) -> Sample | None:
        measurands = tuple(self.config.items(key))
        if not measurands:
            return None
        return Sample(self._clock(), context, measurands, connector.meter.read())

    # -- the coalesced update -------------------------------------------------------------
    def _touch(self, *connector_ids: int, save: bool = False) -> None:
        self._dirty.update(connector_ids)
        self._save_requested |= save
        self._schedule_update()

    def _schedule_update(self) -> None:
        if self._loop is not None and not self._update_scheduled:
            self._update_scheduled = True
            self._loop.call_soon(self._update)

    def _update(self) -> None:
        """Setpoints, timers, connector 0, MQTT statuses and state.json, once per burst."""
        self._update_scheduled = False
        self._rebalance()
        cp_status = self._cp_connector_status()
        if cp_status != self._reported_cp_status:
            self._reported_cp_status = cp_status
            self._status_changed(0, cp_status, "NoError")
        for n, connector in self.connectors.items():
            self._arm_connector_timers(n, connector)
        flowing = any(c.meter.power_w > 0 for c in self.connectors.values())
        if flowing and "refresh" not in self._timers:
            self._set_timer("refresh", self.refresh_interval, self._refresh_tick)
        expiry = self.reservations.next_expiry
        if expiry is None:
            self._cancel_timer("reservations")
        else:
            self._set_timer("reservations", max(0.0, expiry.timestamp() - self._clock()),
                            self._expire_reservations, key=expiry)
        if any(c.transaction is not None for c in self.connectors.values()):
            self._no_session.clear()
        else:
            self._no_session.set()
        for n in sorted(self._dirty):
            self.mqtt.publish_connector(n, self._connector_status(self.connectors[n]))
        self._dirty.clear()
        if self._save_requested:
            self._save()

    def _rebalance(self) -> None:
        """OCPP limits (smart charging), then the CP-wide limit (the hardware's, capped by a
        ChargePointMaxProfile) shared among the connectors that draw energy. A connector whose
        limit or setpoint changed is published."""
        now = self._clock()
        before = {n: (c.ocpp_limit, c.ocpp_phases, c.setpoint) for n, c in self.connectors.items()}
        for n, connector in self.connectors.items():
            limit = self._ocpp_limit(n, now)
            connector.ocpp_limit = connector.max_setpoint if limit.value is None else min(
                limit.value, connector.max_setpoint)
            connector.ocpp_phases = limit.phases
        whole = self._ocpp_limit(0, now).value
        total = self.definition.max_setpoint if whole is None else min(whole, self.definition.max_setpoint)
        caps = {n: cap for n, c in self.connectors.items() if (cap := c.cap) is not None}
        shares = share_limit(total, caps)
        for n, connector in self.connectors.items():
            connector.apply_share(shares.get(n, math.inf))
            if (connector.ocpp_limit, connector.ocpp_phases, connector.setpoint) != before[n]:
                self._dirty.add(n)

    def _ocpp_limit(self, connector_id: int, now: float) -> OcppLimit:
        """The connector's OCPP limit now, with one timer armed at its next change."""
        limit = self.limits.limit(connector_id, now)
        if limit.until is None:
            self._cancel_timer(f"limit{connector_id}")
        else:
            self._set_timer(f"limit{connector_id}", max(0.0, limit.until - now), self._schedule_update,
                            key=limit.until)
        return limit

    def _arm_connector_timers(self, n: int, connector: ConnectorStateMachine) -> None:
        deadline = connector.deadline
        if deadline is None:
            self._cancel_timer(f"deadline{n}")
        else:
            self._set_timer(f"deadline{n}", max(0.0, deadline - self._clock()),
                            lambda: (connector.tick(), self._touch(n)), key=deadline)
        tx = connector.transaction
        interval = self.config.integer("MeterValueSampleInterval")
        if tx is None or interval <= 0:
            self._cancel_timer(f"sample{n}")
        else:
            self._set_timer(f"sample{n}", interval, lambda: self._sample_tick(n), key=(tx.ref, interval))

    def _sample_tick(self, n: int) -> None:
        connector = self.connectors[n]
        if connector.transaction is not None:
            sample = self._sample(connector, "Sample.Periodic", "MeterValuesSampledData")
            if sample is not None:
                self.adapter.meter_values(n, connector.transaction, [sample])
            self._record(connector, "Sample.Periodic")
        self._touch(n, save=True)

    def _refresh_tick(self) -> None:
        """Meter-derived MQTT fields while energy flows, at most every refresh interval."""
        flowing = [n for n, c in self.connectors.items() if c.meter.power_w > 0]
        self._touch(*flowing, save=self._clock() - self._last_save >= SAVE_WHILE_CHARGING)

    def _arm_aligned(self) -> None:
        interval = self.config.integer("ClockAlignedDataInterval")
        if interval <= 0:
            self._cancel_timer("aligned")
            return
        now = self._clock()
        self._set_timer("aligned", (math.floor(now / interval) + 1) * interval - now, self._aligned_tick)

    def _aligned_tick(self) -> None:
        """Clock-aligned meter values (MeterValuesAlignedData) for every connector."""
        for n, connector in self.connectors.items():
            sample = self._sample(connector, "Sample.Clock", "MeterValuesAlignedData")
            if sample is not None:
                self.adapter.meter_values(n, connector.transaction, [sample])
            aligned = self._sample(connector, "Sample.Clock", "StopTxnAlignedData")
            if aligned is not None and connector.transaction is not None:
                _keep(connector.transaction, aligned)
        self._arm_aligned()

    # -- timers ---------------------------------------------------------------------------
    def _set_timer(self, name: str, delay: float, callback: Callable[[], object], *,
                   key: object = None) -> None:
        """(Re)arm a named one-shot timer; a running one with an equal non-None `key` is kept."""
        if key is not None and name in self._timers and self._timer_keys.get(name) == key:
            return
        self._cancel_timer(name)
        assert self._loop is not None

        def fire() -> None:
            self._timers.pop(name, None)
            self._timer_keys.pop(name, None)
            callback()
        self._timers[name] = self._loop.call_later(delay, fire)
        self._timer_keys[name] = key

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        self._timer_keys.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task that ends with the process (cancelled at close)."""
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    # -- configuration --------------------------------------------------------------------
    def _apply_config(self) -> None:
        c = self.config
        self.policy.connection_timeout = max(1, c.integer("ConnectionTimeOut", 60))
        self.policy.stop_on_ev_side_disconnect = c.boolean("StopTransactionOnEVSideDisconnect")
        self.policy.stop_on_invalid_id = c.boolean("StopTransactionOnInvalidId")
        self.cache.enabled = c.boolean("AuthorizationCacheEnabled")

    def _config_changed(self, key: str, _value: str) -> None:
        self._apply_config()
        if key == "ClockAlignedDataInterval" and self._loop is not None:
            self._arm_aligned()
        if key == "AuthorizationCacheEnabled" and not self.cache.enabled:
            self.cache.clear()
            self._save_requested = True
        self._schedule_update()

    # -- statuses -------------------------------------------------------------------------
    def _cp_connector_status(self) -> str:
        """Connector 0: Unavailable once no connector is operative."""
        return "Available" if any(c.operative for c in self.connectors.values()) else "Unavailable"

    def _cp_status(self, status: str) -> CpStatus:
        return CpStatus.for_definition(self.definition, os.getpid(), status,
                                       firmware_version=str(self.definition.extra.get("firmware_version", "")))

    def _connector_status(self, c: ConnectorStateMachine) -> ConnectorStatus:
        r = c.meter.read()
        measured = [r.power_w, 0.0, 0.0] if self.definition.is_dc else [*r.currents, 0.0, 0.0, 0.0][:3]
        tx = c.transaction
        id_tag = tx.id_tag if tx else (c.authorized[0] if c.authorized else "")
        return ConnectorStatus(
            status=c.status.value, id_tag=id_tag, max_setpoint=float(c.max_setpoint),
            ocpp_setpoint=float(c.ocpp_limit), setpoint=round(c.setpoint, 3),
            consumption_l1=round(measured[0], 3), consumption_l2=round(measured[1], 3),
            consumption_l3=round(measured[2], 3), car_consumption_l1=c.car.consumption[0],
            car_consumption_l2=c.car.consumption[1], car_consumption_l3=c.car.consumption[2],
            car_cable_capacity=c.car.cable, car_ready=c.car.ready, energy_wh=round(r.energy_wh, 1),
            power_w=round(r.power_w, 1),
            transaction_id=tx.transaction_id if tx and isinstance(tx.transaction_id, int) else None,
            error_code=c.error_code)

    # -- persistence ----------------------------------------------------------------------
    def _next_ref(self) -> int:
        self._tx_ref += 1
        return self._tx_ref

    def _load_state(self) -> None:
        """state.json, and the feature profiles' stores with the limits their configuration
        keys (read-only) announce."""
        state = self.store.load()
        self._state_saved_at: float | None = state.get("saved_at")
        self._tx_ref = max(int(state.get("tx_ref", 0)), self.queue.last_ref)
        self.cache.load(state.get("authorization_cache", {}))
        c, n_connectors = self.config, self.definition.nb_connectors
        limits = SmartChargingLimits(
            max_stack_level=c.integer("ChargeProfileMaxStackLevel", 10),
            allowed_units=SmartChargingLimits.units_from_csl(c.get("ChargingScheduleAllowedChargingRateUnit")),
            max_periods=c.integer("ChargingScheduleMaxPeriods", 48),
            max_profiles=c.integer("MaxChargingProfilesInstalled", 20))
        self.smart_charging = _restore("charging profiles", state.get("smart_charging"), lambda data: (
            SmartCharging.from_dict(data, n_connectors, limits, self.supports("SmartCharging"))))
        self.reservations = _restore("reservations", state.get("reservations"), lambda data: (
            Reservations.from_dict(data, n_connectors, self.supports("Reservation"),
                                   c.boolean("ReserveConnectorZeroSupported"))))
        self.local_list = _restore("local authorization list", state.get("local_auth_list"), lambda data: (
            LocalAuthList.from_dict(data, self.supports("LocalAuthListManagement"),
                                    c.integer("LocalAuthListMaxLength", 1000),
                                    c.integer("SendLocalListMaxLength", 100))))
        for n, connector in self.connectors.items():
            connector.reserved = self.reservations.for_connector(n) is not None
            connector.load(state.get("connectors", {}).get(str(n), {}))

    def _save(self) -> None:
        self._save_requested = False
        self._last_save = self._clock()
        try:
            self.store.save({
                "saved_at": self._last_save, "tx_ref": self._tx_ref,
                "authorization_cache": self.cache.to_dict(),
                "smart_charging": self.smart_charging.to_dict(), "reservations": self.reservations.to_dict(),
                "local_auth_list": self.local_list.to_dict(),
                "connectors": {str(n): c.to_dict() for n, c in self.connectors.items()}})
        except OSError as exc:
            log.error("cannot save %s: %s", self.store.path, exc)


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s failed", task.get_coro().__qualname__, exc_info=task.exception())  # type: ignore[union-attr]


def _log_outcome(action: str, answer: Answer, dry_run: bool) -> None:
    """Once per CSMS request: a refusal when decided (the dry run), an acceptance when applied."""
    if answer.status != ACCEPTED or not dry_run:
        log.info("%s: %s%s", action, answer.status, f" ({answer.reason})" if answer.reason else "")


def _restore(what: str, data: Any, build: Callable[[Mapping[str, Any]], T]) -> T:
    """A store rebuilt from its saved data; unreadable data is logged and dropped."""
    try:
        return build(data or {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.error("saved %s unreadable (%s): starting without them", what, exc)
        return build({})


def _keep(tx: Transaction, sample: Sample) -> None:
    """A reading for the StopTransaction: Transaction.Begin and the most recent ones."""
    tx.data.append(sample.to_dict())
    if len(tx.data) > TX_DATA_MAX:
        del tx.data[1]
