"""One simulated charge point: model + protocol adapter + MQTT, wired event-driven.

Nothing polls. MQTT inputs (`MqttInputs`) and CSMS requests (`CsmsRequests`) act on the
connectors at once; connector events become OCPP messages at once; everything derived
(setpoint sharing, timers, retained MQTT statuses, state.json) is brought up to date in one
coalesced `_update()` right after (`touch`). Timers exist only while they have work: meter
sampling while a transaction runs (`MeterReports`), the status refresh while energy flows,
the ConnectionTimeOut deadline while a tag waits (or the EV model's next SoC step while it
charges), one timer per connector at the next smart
charging limit change, one at the next reservation expiry. Firmware and diagnostics
transfers run as background jobs (`maintenance`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from chargepoint.auto_runner import AutoRunner
from chargepoint.call_stats import CallStats
from chargepoint.core.message_log import MessageLog
from chargepoint.core.network_faults import NetworkFaults
from chargepoint.core.offline_queue import OfflineQueue
from chargepoint.core.timers import Timers, log_failure
from chargepoint.csms_requests import CsmsRequests
from chargepoint.maintenance import DiagnosticsUploader, FirmwareUpdater, LogUploader
from chargepoint.meter_reports import MeterReports
from chargepoint.model.authorization import AuthorizationCache
from chargepoint.model.connector import (
    ConnectorPolicy,
    ConnectorState,
    ConnectorStateMachine,
    Event,
    StatusChanged,
    StopReason,
    TransactionStarted,
    TransactionStopped,
)
from chargepoint.model.meter import Clock, MeterModel
from chargepoint.model.smart_charging import utc_from_timestamp
from chargepoint.mqtt_api import MqttApi
from chargepoint.mqtt_inputs import MqttInputs
from chargepoint.protocol import ConnectionSettings, Controller, ProtocolAdapter, settings_for
from chargepoint.saved_state import SavedState
from chargepoint.security import Security
from chargepoint.setpoints import Setpoints
from chargepoint.status_payloads import connector_status, cp_status
from chargepoint.tag_authorizer import TagAuthorizer
from cp_simu.broker_access import BrokerAccess
from cp_simu.config import INSTANCE_FILE, SECTION_CP, SECTION_SIMULATION, SimuConfig, update_section
from cp_simu.models import ChargePointDefinition
from cp_simu.topics import Topics

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
QUEUE_FILE = "queue.jsonl"
OCPP_LOG_FILE = "ocpp.log"
SAVE_WHILE_CHARGING = 10.0  # s between state.json writes while energy flows (meter register)
RESET_DRAIN_TIMEOUT = 5.0  # s a reset waits for its StopTransactions to reach the CSMS
# A station takes a moment to reboot: a CSMS that reads the Reset answer only after the
# connection dropped (ocpp-csms 0.1.0 then reports a connection error) gets it first.
REBOOT_GRACE = 0.5  # s


@dataclass(frozen=True)
class Instance:
    """Everything a charge point process is started with."""

    directory: Path
    config: SimuConfig
    definition: ChargePointDefinition
    broker: BrokerAccess


def make_adapter(controller: Controller) -> ProtocolAdapter:
    """Import only the protocol version this charge point speaks."""
    if controller.definition.ocpp_version == "1.6":
        from chargepoint.ocpp16.adapter import Ocpp16Adapter

        return Ocpp16Adapter(controller)
    if controller.definition.ocpp_version == "2.0.1":
        from chargepoint.ocpp201.adapter import Ocpp201Adapter

        return Ocpp201Adapter(controller)
    raise NotImplementedError(f"OCPP {controller.definition.ocpp_version}")


class Station:
    """The wiring, the lifecycle, connector events, the coalesced update and state.json."""

    def __init__(self, instance: Instance, *, clock: Clock = time.time) -> None:
        cfg = instance.config
        d = self.definition = instance.definition
        self.directory = instance.directory
        self.clock = clock
        security = cfg.security
        self.config = settings_for(d, {**cfg.ocpp, "AuthorizationKey": security.basic_auth_password,
                                       "SecurityProfile": str(security.security_profile)}, instance.directory)
        section = cfg.parser[SECTION_SIMULATION] if cfg.parser.has_section(SECTION_SIMULATION) else {}
        self.security = Security(instance.directory, d.id, security, self.config, cfg.simulation.ca_file)
        self.connection = ConnectionSettings(
            reconnect_min=float(section.get("reconnect_min", 1.0)),
            reconnect_max=float(section.get("reconnect_max", 30.0)),
            call_timeout=float(section.get("call_timeout", 30.0)))
        self.refresh_interval = cfg.simulation.status_refresh_interval
        self.message_log = MessageLog(instance.directory / OCPP_LOG_FILE, cfg.simulation.log_max_bytes,
                                      cfg.simulation.log_backups)
        self.queue = OfflineQueue(instance.directory / QUEUE_FILE)
        self.saved = SavedState(instance.directory / STATE_FILE, self.queue.last_ref)
        self.policy = ConnectorPolicy()
        self.cache = AuthorizationCache()
        self.registration = "Disconnected"
        self.registration_reason = "connecting"
        self.timers = Timers()  # on the loop run() starts in
        self.network = NetworkFaults()  # faults injected on the OCPP link (`network` command)
        self.connectors: dict[int, ConnectorStateMachine] = {}
        for n in range(1, d.nb_connectors + 1):
            meter = MeterModel(dc=d.is_dc, phases=d.nb_phases, voltage=d.voltage,
                               power_factor=cfg.simulation.power_factor, clock=clock)
            connector = ConnectorStateMachine(n, meter, max_setpoint=d.max_setpoint_per_connector,
                                              policy=self.policy, clock=clock, next_ref=self.saved.next_ref)
            connector.listeners.append(self._on_event)
            self.connectors[n] = connector
        self._load_state()
        self._apply_config()
        self.config.listeners.append(self._config_changed)
        self.authorizer = TagAuthorizer(self)
        self.meter_reports = MeterReports(self)
        self.setpoints = Setpoints(self)
        self.adapter = make_adapter(CsmsRequests(self))
        self.launcher_name = cfg.mqtt.launcher  # the CP status names the launcher that runs it
        self.mqtt = MqttApi(instance.broker, Topics(cfg.mqtt.root), d.id, d.nb_connectors, MqttInputs(self),
                            dead_status=cp_status(self.definition, "Dead", launcher=self.launcher_name),
                            keepalive=cfg.mqtt.keepalive)
        self.message_log.listeners.append(self.mqtt.publish_ocpp_log)
        self.auto = AutoRunner(self)
        self.network.drop_listeners.append(self.adapter.cut)
        self.network.listeners.append(self._network_changed)
        self.call_stats = CallStats(self.timers, self.mqtt.publish_stats, self._load,
                                    cfg.simulation.stats_interval, clock=clock)
        self.security.changed_listeners.append(self._security_changed)
        self.no_session = asyncio.Event()  # set while no transaction runs (a firmware install waits)
        self.firmware = FirmwareUpdater(
            instance.directory, self.adapter.report_firmware, self.timers.spawn, clock=clock,
            idle_connectors=self.no_session.wait, install=self._install_firmware,
            reboot=functools.partial(self.reboot, StopReason.REBOOT))
        self.diagnostics = DiagnosticsUploader(instance.directory, self.adapter.report_diagnostics,
                                               self.timers.spawn)
        self.logs = LogUploader(instance.directory, self.adapter.report_log, self.timers.spawn)
        # loop-bound state, set up in run()
        self._closed = asyncio.Event()
        self._update_scheduled = False
        self._save_requested = False
        self._dirty: set[int] = set()
        self._reported_cp_status: str | None = None
        self._cut = False  # power_cut(): nothing is updated or saved any more

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self, *, connect_mqtt: bool = True, mqtt_thread: bool = True) -> int:
        """Until a close command or signal: then Dead on MQTT, OCPP closed, exit code 0.

        `connect_mqtt=False` leaves the MQTT client unstarted (no thread, no socket): the
        fork server's warm-up (`chargepoint.preload`) runs a station that way.
        `mqtt_thread=False`: the loop itself drives the MQTT connection (packed processes)."""
        loop = asyncio.get_running_loop()
        self.timers.start(loop)
        if connect_mqtt:
            self.mqtt.start(loop, threaded=mqtt_thread)
        self.publish_status()
        self._resume_interrupted()
        self._reported_cp_status = self._cp_connector_status()
        self.touch(*self.connectors, save=True)
        self.meter_reports.arm_aligned()
        adapter = loop.create_task(self.adapter.run())
        adapter.add_done_callback(log_failure)
        await self._closed.wait()
        log.info("closing")
        self.timers.cancel_all()
        self._save()
        self.mqtt.stop()
        await self.mqtt.wait_closed()
        await self.adapter.close()
        await self.timers.stop_tasks(adapter)
        self.queue.close()
        self.message_log.close()
        return 0

    def close(self) -> None:
        self._closed.set()

    def power_cut(self) -> None:
        """Killed inside a packed process, as SIGKILL would kill a process of its own: both
        connections drop without a goodbye (the MQTT will fires, the CSMS sees the WebSocket
        go), nothing more is saved or sent. The host then cancels the station's tasks."""
        self._cut = True
        self.timers.cancel_all()
        self.mqtt.abort()
        self.adapter.drop()

    def release_files(self) -> None:
        """After a power cut: the open files go, as the kernel closes a killed process's."""
        self.queue.close()
        self.message_log.close()

    def _resume_interrupted(self) -> None:
        """Transactions still open in state.json were cut by a power loss (kill, crash,
        close): they are stopped now, with the register and time last saved."""
        saved_at = self.saved.saved_at
        for connector in self.connectors.values():
            if connector.transaction is not None:
                log.warning("connector %d: transaction interrupted by the restart, stopping it (PowerLoss)",
                            connector.connector_id)
                connector.stop(StopReason.POWER_LOSS, at=saved_at)

    async def reboot(self, reason: StopReason) -> None:
        """Stop every session (`reason`), let the stops reach the CSMS, reboot: the process
        survives, the OCPP side starts over with a BootNotification."""
        for connector in self.connectors.values():
            connector.stop(reason)
        self._update()
        deadline = time.monotonic() + RESET_DRAIN_TIMEOUT
        while len(self.queue) and self.adapter.online and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(REBOOT_GRACE)
        for connector in self.connectors.values():
            connector.reboot()
        self.adapter.reboot(reason)
        self.touch(*self.connectors)

    def set_registration(self, status: str, reason: str = "") -> None:
        """`reason`: why it is not Accepted (the CP status's `reason`), "" once it is."""
        if (status, reason) != (self.registration, self.registration_reason):
            log.info("registration: %s%s", status, f" ({reason})" if reason else "")
            self.registration, self.registration_reason = status, reason
            self.publish_status()

    def publish_status(self) -> None:
        """The CP status as it is now (published if it changed)."""
        self.mqtt.publish_status(cp_status(
            self.definition, self.registration, self.registration_reason,
            {**self.security.status_fields(), **self.auto.status_fields(), "network": self.network.describe()},
            launcher=self.launcher_name))

    def _security_changed(self) -> None:
        """Profile or certificates changed: the CP status shows them."""
        self.publish_status()

    def _network_changed(self) -> None:
        """A fault came or went: the CP status says so, again when a timed one ends."""
        self.publish_status()
        left = self.network.next_change()
        if left is None:
            self.timers.cancel("network")
        else:
            self.timers.set("network", left + 0.01, self._network_changed)

    def _install_firmware(self, version: str) -> None:
        """The new version is what the next BootNotification and the CP status carry, also
        after a restart (config.ini)."""
        update_section(self.directory / INSTANCE_FILE, SECTION_CP, {"firmware_version": version})
        self.definition.extra["firmware_version"] = version
        self.mqtt.set_dead_status(cp_status(self.definition, "Dead", launcher=self.launcher_name))
        self.publish_status()

    # -- what the services share ----------------------------------------------------------
    def supports(self, feature_profile: str) -> bool:
        """Whether a feature profile (SupportedFeatureProfiles) is offered."""
        return feature_profile in self.config.items("SupportedFeatureProfiles")

    def free_connectors(self) -> list[int]:
        return [n for n, c in self.connectors.items() if c.status is ConnectorState.AVAILABLE]

    def sync_reservations(self) -> None:
        """Connectors show Reserved exactly while a reservation holds them."""
        for n, connector in self.connectors.items():
            held = self.reservations.for_connector(n) is not None
            if held != connector.reserved:
                connector.set_reserved(held)
        self.touch(*self.connectors, save=True)

    def _expire_reservations(self) -> None:
        for reservation in self.reservations.expired(utc_from_timestamp(self.clock())):
            log.info("reservation %d (connector %d) expired", reservation.reservation_id, reservation.connector_id)
            self.adapter.reservation_ended(reservation.reservation_id, expired=True)
        self.sync_reservations()

    # -- connector events -----------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        if isinstance(event, StatusChanged):
            connector = self.connectors[event.connector_id]
            # a remote start's charging profile that never found its session goes
            dropped = connector.transaction is None and connector.authorized is None and bool(
                self.smart_charging.transaction_ended(event.connector_id))
            self._status_changed(event.connector_id, event.status.value, event.error_code)
            self.touch(event.connector_id, save=dropped)
            return
        tx = event.transaction
        connector = self.connectors[tx.connector_id]
        if isinstance(event, TransactionStarted):
            tx.reservation_id = self.reservations.consume(tx.connector_id, tx.id_tag, tx.parent_id)
            self.smart_charging.transaction_started(tx.connector_id, None)
            self.meter_reports.record(connector, "Transaction.Begin")
            self.adapter.transaction_started(tx)
            if tx.reservation_id is not None:
                self.sync_reservations()
        elif isinstance(event, TransactionStopped):
            self.smart_charging.transaction_ended(tx.connector_id)
            self.meter_reports.record(connector, "Transaction.End", tx, at=event.stopped_at)
            self.adapter.transaction_stopped(event)
        self.touch(tx.connector_id, save=True)

    def _status_changed(self, connector_id: int, status: str, error_code: str) -> None:
        """StatusNotification, held back until it lasted MinimumStatusDuration."""
        hold = self.config.integer("MinimumStatusDuration")
        if hold <= 0 or self.timers.loop is None:
            self.adapter.send_status(connector_id, status, error_code)
            return

        def report_if_stable() -> None:
            current = self.connector_statuses()[connector_id]
            if current[1:] == (status, error_code):
                self.adapter.send_status(connector_id, status, error_code)
        self.timers.set(f"status{connector_id}", hold, report_if_stable)

    # -- the coalesced update -------------------------------------------------------------
    def touch(self, *connector_ids: int, save: bool = False) -> None:
        """Something changed (on these connectors): bring everything derived up to date soon."""
        self._dirty.update(connector_ids)
        self._save_requested |= save
        self.schedule_update()

    def save_later(self) -> None:
        """state.json is written with the next update."""
        self._save_requested = True

    def schedule_update(self) -> None:
        loop = self.timers.loop
        if loop is not None and not self._update_scheduled and not self._cut:
            self._update_scheduled = True
            loop.call_soon(self._update)

    def _update(self) -> None:
        """Setpoints, timers, connector 0, MQTT statuses and state.json, once per burst."""
        self._update_scheduled = False
        self._dirty |= self.setpoints.rebalance()
        connector_zero = self._cp_connector_status()
        if connector_zero != self._reported_cp_status:
            self._reported_cp_status = connector_zero
            self._status_changed(0, connector_zero, "NoError")
        for n, connector in self.connectors.items():
            self._arm_deadline(n, connector)
            self.meter_reports.arm_sampling(n, connector)
        flowing = any(c.meter.power_w > 0 for c in self.connectors.values())
        if flowing and "refresh" not in self.timers:
            self.timers.set("refresh", self.refresh_interval, self._refresh_tick)
        expiry = self.reservations.next_expiry
        if expiry is None:
            self.timers.cancel("reservations")
        else:
            self.timers.set("reservations", max(0.0, expiry.timestamp() - self.clock()),
                            self._expire_reservations, key=expiry)
        if any(c.transaction is not None for c in self.connectors.values()):
            self.no_session.clear()
        else:
            self.no_session.set()
        for n in sorted(self._dirty):
            connector = self.connectors[n]
            self.mqtt.publish_connector(n, connector_status(
                connector, dc=self.definition.is_dc, ocpp_status=self.adapter.ocpp_status(connector.status.value)))
        self._dirty.clear()
        if self._save_requested:
            self._save()

    def _arm_deadline(self, n: int, connector: ConnectorStateMachine) -> None:
        deadline = connector.deadline
        if deadline is None:
            self.timers.cancel(f"deadline{n}")
        else:
            self.timers.set(f"deadline{n}", max(0.0, deadline - self.clock()),
                            lambda: (connector.tick(), self.touch(n)), key=deadline)

    def _refresh_tick(self) -> None:
        """Meter-derived MQTT fields while energy flows, at most every refresh interval."""
        flowing = [n for n, c in self.connectors.items() if c.meter.power_w > 0]
        self.touch(*flowing, save=self.clock() - self.saved.last_save >= SAVE_WHILE_CHARGING)

    # -- configuration --------------------------------------------------------------------
    def _apply_config(self) -> None:
        c = self.config
        self.policy.connection_timeout = max(1, c.integer("ConnectionTimeOut", 60))
        self.policy.stop_on_ev_side_disconnect = c.boolean("StopTransactionOnEVSideDisconnect")
        self.policy.stop_on_invalid_id = c.boolean("StopTransactionOnInvalidId")
        self.cache.enabled = c.boolean("AuthorizationCacheEnabled")

    def _config_changed(self, key: str, _value: str) -> None:
        self._apply_config()
        if key == "ClockAlignedDataInterval" and self.timers.loop is not None:
            self.meter_reports.arm_aligned()
        if key == "AuthorizationCacheEnabled" and not self.cache.enabled:
            self.cache.clear()
            self._save_requested = True
        self.schedule_update()

    # -- statuses -------------------------------------------------------------------------
    def connector_statuses(self) -> list[tuple[int, str, str]]:
        """(connector id, status, error code) for connector 0 and every connector."""
        return [(0, self._cp_connector_status(), "NoError")] + [
            (n, c.status.value, c.error_code) for n, c in self.connectors.items()]

    def _load(self) -> tuple[int, float]:
        """(transactions running, power delivered in W): what the call statistics carry along."""
        return (sum(c.transaction is not None for c in self.connectors.values()),
                sum(c.meter.power_w for c in self.connectors.values()))

    def _cp_connector_status(self) -> str:
        """Connector 0: Unavailable once no connector is operative."""
        return "Available" if any(c.operative for c in self.connectors.values()) else "Unavailable"

    # -- persistence ----------------------------------------------------------------------
    def _load_state(self) -> None:
        self.cache.load(self.saved.loaded.get("authorization_cache", {}))
        self.smart_charging, self.reservations, self.local_list = self.saved.feature_stores(
            self.config, self.definition.nb_connectors)
        for n, connector in self.connectors.items():
            connector.reserved = self.reservations.for_connector(n) is not None
            connector.load(self.saved.connector(n))

    def _save(self) -> None:
        self._save_requested = False
        if self._cut:
            return
        self.saved.save(self.clock(), {
            "authorization_cache": self.cache.to_dict(),
            "smart_charging": self.smart_charging.to_dict(), "reservations": self.reservations.to_dict(),
            "local_auth_list": self.local_list.to_dict(),
            "connectors": {str(n): c.to_dict() for n, c in self.connectors.items()}})
