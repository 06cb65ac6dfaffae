"""OCPP 2.0.1 adapter: the messages a charging station initiates, over the shared connection
lifecycle (`SessionAdapter`).

MQTT connector n is EVSE n with one connector (connectorId 1). The station numbers its
transactions (a UUID string). Every TransactionEvent goes through the durable offline queue
with its seqNo (0, 1, 2… per transaction, no gaps even across a kill) and `offline: true`
when it happened while the CSMS was unreachable; one sender delivers them in order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from ocpp.charge_point import ChargePoint, snake_to_camel_case
from ocpp.v201 import call

from chargepoint.core.connection import OcppConnection
from chargepoint.core.message_log import utc_iso
from chargepoint.core.ocpp_config import ChangeResult
from chargepoint.core.offline_queue import QueuedMessage
from chargepoint.core.session import SessionAdapter
from chargepoint.core.transport_security import TransportSecurity
from chargepoint.model.authorization import IdTagInfo
from chargepoint.model.connector import StopReason, Transaction, TransactionStopped
from chargepoint.model.meter import Sample
from chargepoint.model.smart_charging import parse_datetime
from chargepoint.ocpp201 import live_values, shapes
from chargepoint.ocpp201.handlers import ChargePoint201
from chargepoint.ocpp201.network_profiles import NetworkProfiles
from chargepoint.ocpp201.settings import DeviceModelSettings
from chargepoint.protocol import Controller
from cp_simu import redact
from cp_simu.urls import csms_endpoint

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp2.0.1"
PRIORITY = "OCPPCommCtrlr/NetworkConfigurationPriority"
CONNECTION_ATTEMPTS = "OCPPCommCtrlr/NetworkProfileConnectionAttempts"
TX_STARTED_MEASURANDS = "SampledDataCtrlr/TxStartedMeasurands"
TX_UPDATED_MEASURANDS = "SampledDataCtrlr/TxUpdatedMeasurands"
TRIGGERS = frozenset({"BootNotification", "Heartbeat", "StatusNotification", "MeterValues", "TransactionEvent",
                      "FirmwareStatusNotification", "LogStatusNotification", "SignChargingStationCertificate"})


@dataclass
class EarlyTransaction:
    """A 2.0.1 transaction begun by a TxStartPoint before the station's session (car plugged,
    or id token authorized, alone): it becomes that session's transaction when both are there."""

    ref: int  # numbers its events in the offline queue (negative: never a session's ref)
    connector_id: int
    transaction_id: str
    plugged: bool
    begin: Sample | None = None  # the meter when it began: its Started event's Transaction.Begin reading


def id_token_info(data: dict[str, Any] | None) -> IdTagInfo | None:
    """An idTokenInfo (snake_case, as the library returns it) as the model's IdTagInfo."""
    if not data:
        return None
    wire = snake_to_camel_case(data)
    group = (wire.get("groupIdToken") or {}).get("idToken")
    return IdTagInfo.from_wire({"status": wire["status"], "parentIdTag": group,
                                "expiryDate": wire.get("cacheExpiryDateTime")})


class Ocpp201Adapter(SessionAdapter):
    version = "2.0.1"
    subprotocol = SUBPROTOCOL
    calls = call

    def __init__(self, station: Controller) -> None:
        super().__init__(station)
        assert isinstance(station.config, DeviceModelSettings)
        self.device_model = station.config
        live_values.bind(station.config.model, station, self.ocpp_status)
        self._boot_reason = "PowerUp"
        self._sent_status: dict[int, tuple[str, str]] = {}  # EVSE -> (connectorStatus, error code) last sent
        self._charging_state: dict[str, str] = {}  # transaction id -> chargingState last reported
        self._remote_starts: dict[int, tuple[int, str, dict[str, str]]] = {}  # EVSE -> (id, id token, IdToken)
        self._event_ids = itertools.count(1)
        self._pending_reset: asyncio.Task[None] | None = None
        self.network = NetworkProfiles(station.security.directory)
        self._own_profile = station.security.profile  # slot 1 until SetNetworkProfile writes it down
        self._early: dict[int, EarlyTransaction] = {}  # EVSE -> transaction begun before its session
        self._offline_since: float | None = None  # monotonic time the last connection ended
        self._report_all = True  # every status goes out at the next registration (boot, reboot)

    def _make_cp(self, conn: OcppConnection) -> ChargePoint201:
        return ChargePoint201(self.station.definition.id, conn, self.station, self.station.connection.call_timeout,
                              self)

    # -- registration ---------------------------------------------------------------------
    def _boot_request(self) -> call.BootNotification:
        d = self.station.definition
        extra = d.extra
        station: dict[str, Any] = {"model": d.model, "vendor_name": d.vendor}
        if d.serial:
            station["serial_number"] = d.serial
        if extra.get("firmware_version"):
            station["firmware_version"] = str(extra["firmware_version"])
        modem = {k: str(extra[k]) for k in ("iccid", "imsi") if extra.get(k)}
        if modem:
            station["modem"] = modem
        return call.BootNotification(charging_station=station, reason=self._boot_reason)

    def _accepted_boot(self, interval: int) -> None:
        self._boot_reason = "PowerUp"  # what the next boot says unless a reset or firmware says otherwise
        if interval > 0:
            self.device_model.change("OCPPCommCtrlr/HeartbeatInterval", str(interval))

    def reboot(self, reason: StopReason) -> None:
        self._boot_reason = shapes.BOOT_REASON.get(reason, "RemoteReset")
        self._report_all = True  # a rebooted station reports every status again
        self.network.restart()
        super().reboot(reason)

    # -- A05: network connection profiles -------------------------------------------------
    def _target(self) -> tuple[str, TransportSecurity]:
        """The slot NetworkConfigurationPriority says (the next one after
        NetworkProfileConnectionAttempts failures), with its URL and security profile."""
        d, model = self.station.definition, self.device_model
        priority = [int(n) for n in model.variable_items(PRIORITY) if n.isdigit()]
        number = self.network.next_slot(priority, max(1, model.variable_int(CONNECTION_ATTEMPTS, 3)))
        slot = self.network.slot(number, d.central_system, self._own_profile)
        return csms_endpoint(slot.url, d.id), replace(self.station.security.transport(), profile=slot.security_profile)

    def _connection_failed(self) -> None:
        self.network.failed()

    def _connected(self, transport: TransportSecurity) -> None:
        """The profile in use is the connected slot's (SecurityCtrlr.SecurityProfile)."""
        self.network.connected()
        if transport.profile != self.station.security.profile:
            self.device_model.change("SecurityProfile", str(transport.profile))

    def set_network_profile(self, slot: int, data: dict[str, Any]) -> str:
        """SetNetworkProfile: Accepted and stored, or Rejected (with the reason logged)."""
        security = self.station.security
        problem = self.network.check(slot, data, security.profile)
        if problem is None and security.check_profile(str(data["securityProfile"])) != ChangeResult.ACCEPTED:
            problem = f"the station lacks the credentials of security profile {data['securityProfile']}"
        if problem is not None:
            log.warning("SetNetworkProfile slot %d refused: %s", slot, problem)
            return "Rejected"
        self.network.store(slot, data, self.station.definition.central_system, self._own_profile)
        log.info("network profile slot %d: %s, security profile %d", slot, redact.url(data["ocppCsmsUrl"]),
                 data["securityProfile"])
        return "Accepted"

    def _config_changed(self, key: str, value: str) -> None:
        """A01: a new BasicAuthPassword (announced once SetVariables was answered) is used at
        once by a station under profile 1 or 2: a new connection."""
        super()._config_changed(key, value)
        if key == "AuthorizationKey":
            self.station.security.event("ReconfigurationOfSecurityParameters", "BasicAuthPassword changed")
            if self.station.security.profile in (1, 2):
                self.reconnect()

    def reset_when_idle(self) -> None:
        """Reset OnIdle: the reboot follows once no transaction runs (across reconnections too)."""
        if self._pending_reset is None or self._pending_reset.done():
            self._pending_reset = asyncio.get_running_loop().create_task(self._reset_when_idle())

    async def _reset_when_idle(self) -> None:
        await self.station.sessions_ended()
        await self.station.reset(hard=False)

    async def _session(self, conn: OcppConnection) -> None:
        try:
            await super()._session(conn)
        finally:
            self._offline_since = time.monotonic()

    async def _announce(self, cp: ChargePoint) -> None:
        """Every EVSE's status after a boot or an offline period longer than OCPPCommCtrlr
        OfflineThreshold; after a shorter one, only those that changed meanwhile (B04)."""
        threshold = self.device_model.variable_int("OCPPCommCtrlr/OfflineThreshold", 0)
        offline = None if self._offline_since is None else time.monotonic() - self._offline_since
        if self._report_all or offline is None or offline > threshold:
            self._sent_status.clear()
        self._report_all = False
        for n, status, error_code in self.station.connector_statuses():
            if n > 0:
                await self._status(cp, n, status, error_code)

    # -- statuses -------------------------------------------------------------------------
    def ocpp_status(self, status: str) -> str:
        return shapes.CONNECTOR_STATUS.get(status, status)

    def send_status(self, connector_id: int, status: str, error_code: str) -> None:
        if connector_id == 0:
            return  # 2.0.1 reports EVSE connectors only
        tx = self.station.transaction_for(connector_id)
        if tx is not None and tx.transaction_id is not None:
            self._charging_state_changed(tx)
        elif tx is None:
            self._start_points(connector_id, status)
        if self.online and self._cp is not None:
            cp = self._cp
            self._spawn_behind_queue(lambda: self._status(cp, connector_id, status, error_code))

    async def _status(self, cp: ChargePoint, evse_id: int, status: str, error_code: str) -> None:
        """StatusNotification when the connectorStatus changed, NotifyEvent for availability and
        problems (AvailabilityState, Problem of the Connector component)."""
        ocpp_status = self.ocpp_status(status)
        before = self._sent_status.get(evse_id)
        if before == (ocpp_status, error_code):
            return
        self._sent_status[evse_id] = (ocpp_status, error_code)
        if before is None or before[0] != ocpp_status:
            await self._send(cp, call.StatusNotification(
                timestamp=utc_iso(), connector_status=ocpp_status, evse_id=evse_id, connector_id=1))
        events = []
        if before is not None and before[0] != ocpp_status:
            events.append(self._event(evse_id, "AvailabilityState", ocpp_status))
        if before is not None and before[1] != error_code:
            events.append(self._event(evse_id, "Problem", "false" if error_code == "NoError" else "true"))
        if events:
            await self._send(cp, call.NotifyEvent(generated_at=utc_iso(), seq_no=0, event_data=events))

    def _event(self, evse_id: int, variable: str, value: str) -> dict[str, Any]:
        return {"event_id": next(self._event_ids), "timestamp": utc_iso(), "trigger": "Delta",
                "actual_value": value, "event_notification_type": "HardWiredNotification",
                "component": {"name": "Connector", "evse": {"id": evse_id, "connector_id": 1}},
                "variable": {"name": variable}}

    # -- authorization --------------------------------------------------------------------
    async def authorize(self, id_tag: str) -> IdTagInfo | None:
        answer = await self._ask(call.Authorize(id_token=self._id_token(id_tag)), f"Authorize {id_tag}")
        return None if answer is None else id_token_info(answer.id_token_info)

    def _id_token(self, id_tag: str) -> dict[str, str]:
        """The IdToken of a tag: as a remote start gave it, else with the type it was presented as."""
        remote = next((token for _, tag, token in self._remote_starts.values() if tag == id_tag), None)
        return remote or shapes.id_token(id_tag, self.station.token_type(id_tag) or shapes.DEFAULT_TOKEN_TYPE)

    # -- transactions ---------------------------------------------------------------------
    def remote_start_requested(self, evse_id: int, remote_start_id: int, token: dict[str, str]) -> None:
        """A RequestStartTransaction chose this EVSE: its transaction carries `remote_start_id`."""
        self._remote_starts[evse_id] = (remote_start_id, token["id_token"], token)

    def early_transaction_id(self, evse_id: int) -> str | None:
        """The transaction a start point began on that EVSE before its session, if any."""
        early = self._early.get(evse_id)
        return None if early is None else early.transaction_id

    def _start_points(self, evse_id: int, status: str) -> None:
        """TxCtrlr TxStartPoint EVConnected / Authorized: a transaction begins with the car alone
        or the id token alone (Started), and ends if the other never comes (Ended)."""
        plugged, waiting_tag = self.station.connector_facts(evse_id)
        early = self._early.get(evse_id)
        points = self.device_model.variable_items("TxCtrlr/TxStartPoint")
        if early is None and status == "Preparing":
            if plugged and "EVConnected" in points:
                self._begin_early(evse_id, "CablePluggedIn", None, plugged=True)
            elif waiting_tag is not None and "Authorized" in points:
                self._begin_early(evse_id, "Authorized", waiting_tag, plugged=False)
        elif early is not None and status != "Preparing":  # the car left, the authorization lapsed…
            del self._early[evse_id]
            trigger, reason = ("EVCommunicationLost", "EVDisconnected") if early.plugged else (
                "EVConnectTimeout", "Timeout")
            self._transaction_event(early, "Ended", trigger, {
                "transaction_id": early.transaction_id, "stopped_reason": reason, "charging_state": "Idle"}, [])

    def _begin_early(self, evse_id: int, trigger: str, id_tag: str | None, *, plugged: bool) -> None:
        early = EarlyTransaction(-time.time_ns(), evse_id, str(uuid.uuid4()), plugged)
        early.begin = self._reading(evse_id, "Transaction.Begin", TX_STARTED_MEASURANDS)
        self._early[evse_id] = early
        info = {"transaction_id": early.transaction_id, "charging_state": "EVConnected" if plugged else "Idle"}
        extra = {} if id_tag is None else {"id_token": self._id_token(id_tag)}
        self._transaction_event(early, "Started", trigger, info, [] if early.begin is None else [early.begin], extra)

    def _started_samples(self, begin: Sample | None) -> list[Sample]:
        """The Transaction.Begin reading as Started carries it: SampledDataCtrlr TxStartedMeasurands."""
        measurands = tuple(self.device_model.variable_items(TX_STARTED_MEASURANDS))
        return [] if begin is None or not measurands else [replace(begin, measurands=measurands)]

    def _reading(self, evse_id: int, context: str, *variables: str) -> Sample | None:
        """The EVSE's meter now, for the measurands of the first of these device-model variables
        that lists any; None when none does."""
        for variable in variables:
            measurands = tuple(self.device_model.variable_items(variable))
            if measurands:
                return self.station.meter_reading(evse_id, context, measurands)
        return None

    def transaction_started(self, tx: Transaction) -> None:
        early = self._early.pop(tx.connector_id, None)
        if early is not None:  # the session joins the transaction a start point began
            tx.transaction_id = early.transaction_id
            self.station.queue.continue_sequence(early.ref, tx.ref)
        tx.transaction_id = tx.transaction_id or str(uuid.uuid4())
        self.station.queue.map_transaction(tx.ref, tx.transaction_id)
        state = self._charging_state_now(tx)
        info: dict[str, Any] = {"transaction_id": tx.transaction_id, "charging_state": state}
        token = self._id_token(tx.id_tag)
        trigger = "CablePluggedIn" if tx.started_by == "car" else "Authorized"
        remote = self._remote_starts.pop(tx.connector_id, None)
        if remote is not None and remote[1] == tx.id_tag:
            info["remote_start_id"] = remote[0]
            token = remote[2]
            trigger = "CablePluggedIn" if tx.started_by == "car" else "RemoteStart"
        begin = next((Sample.from_dict(s) for s in tx.data[:1] if s.get("context") == "Transaction.Begin"), None)
        if early is None:
            samples = self._started_samples(begin)
        else:  # Started carried the reading of the transaction's real beginning: no second one
            samples = []
            if begin is not None and early.begin is not None:  # the Ended event's Transaction.Begin is that one
                readings = early.begin.to_dict()["readings"]
                if readings["soc"] is None:
                    readings["soc"] = tx.data[0]["readings"].get("soc")
                tx.data[0] = {**tx.data[0], "timestamp": early.begin.timestamp, "readings": readings}
        extra: dict[str, Any] = {"id_token": token}
        if tx.reservation_id is not None:
            extra["reservation_id"] = tx.reservation_id
        self._transaction_event(tx, "Started" if early is None else "Updated", trigger, info, samples, extra)

    def transaction_stopped(self, event: TransactionStopped) -> None:
        tx = event.transaction
        if tx.transaction_id is None:  # started before a restart that lost it: never announced
            return
        trigger, reason = shapes.STOPPED.get(event.reason, ("AbnormalCondition", "Other"))
        plugged = self.station.connector_status(tx.connector_id) in ("Finishing", "Preparing")
        info = {"transaction_id": tx.transaction_id, "stopped_reason": reason,
                "charging_state": "EVConnected" if plugged else "Idle"}
        extra = {"id_token": self._id_token(event.id_tag)} if event.id_tag else {}
        self._charging_state.pop(str(tx.transaction_id), None)
        # never before an event already queued (a kill can leave the saved state older than the queue)
        queued = [parse_datetime(e.payload["timestamp"]).timestamp() for e in self.station.queue if e.ref == tx.ref]
        self._transaction_event(tx, "Ended", trigger, info, [Sample.from_dict(s) for s in tx.data], extra,
                                at=max([event.stopped_at, *queued]))

    def charging_rate_changed(self, tx: Transaction) -> None:
        if tx.transaction_id is not None:
            info = {"transaction_id": tx.transaction_id, "charging_state": self._charging_state_now(tx)}
            self._transaction_event(tx, "Updated", "ChargingRateChanged", info, [])

    def _charging_state_now(self, tx: Transaction) -> str:
        return shapes.charging_state(self.station.connector_status(tx.connector_id), True)

    def _charging_state_changed(self, tx: Transaction) -> None:
        """ChargingStateChanged when the state now differs from the one this transaction last
        reported. The state now, not the status that caused the call: statuses passed on the
        way (Finishing, Preparing, Charging as a new session begins with the car still plugged)
        or held back by MinimumStatusDuration are no change the CSMS should see."""
        assert tx.transaction_id is not None
        state = self._charging_state_now(tx)
        key = str(tx.transaction_id)
        if self._charging_state.get(key) not in (None, state):
            self._charging_state[key] = state
            self._transaction_event(tx, "Updated", "ChargingStateChanged",
                                    {"transaction_id": key, "charging_state": state}, [])

    def meter_values(self, connector_id: int, tx: Transaction | None, samples: list[Sample]) -> None:
        values = shapes.meter_values(samples, self._dc)
        if not values:
            return
        if tx is not None and tx.transaction_id is not None:
            trigger = shapes.SAMPLE_TRIGGER.get(samples[0].context, "MeterValuePeriodic")
            self._transaction_event(tx, "Updated", trigger, {"transaction_id": tx.transaction_id}, samples)
        else:  # not transaction-related: dropped while offline
            self._send_now(call.MeterValues(evse_id=connector_id, meter_value=values))

    def _transaction_event(self, tx: Transaction | EarlyTransaction, event_type: str, trigger: str,
                           info: dict[str, Any], samples: list[Sample], extra: dict[str, Any] | None = None, *,
                           at: float | None = None) -> None:
        payload: dict[str, Any] = {
            "event_type": event_type, "timestamp": utc_iso(at), "trigger_reason": trigger,
            "transaction_info": info, "evse": {"id": tx.connector_id, "connector_id": 1}, **(extra or {})}
        values = shapes.meter_values(samples, self._dc)
        if values:
            payload["meter_value"] = values
        if isinstance(tx, Transaction) and event_type != "Ended" and "charging_state" in info:
            self._charging_state[str(info["transaction_id"])] = info["charging_state"]  # what the CSMS last heard
        if not self.online:
            payload["offline"] = True
        self.station.queue.append("TransactionEvent", payload, tx.ref, numbered="seq_no")
        self._wake.set()

    def _delivered(self, entry: QueuedMessage, payload: dict[str, Any], answer: Any) -> None:
        token = payload.get("id_token")
        if token is None or entry.ref is None or payload["event_type"] == "Ended":
            return
        info = id_token_info(answer.id_token_info)
        if info is not None:
            self.station.remember_tag(token["id_token"], info)
            self.station.transaction_confirmed(entry.ref, payload["transaction_info"]["transaction_id"], info)

    @property
    def _dc(self) -> bool:
        return self.station.definition.is_dc

    # -- reports --------------------------------------------------------------------------
    async def report_firmware(self, status: str) -> None:
        await self._report(call.FirmwareStatusNotification(status=status, request_id=self.station.firmware_request_id))

    async def report_log(self, status: str) -> None:
        await self._report(call.LogStatusNotification(status=status, request_id=self.station.log_request_id))

    async def report_diagnostics(self, status: str) -> None:
        """2.0.1 has no GetDiagnostics (GetLog replaces it): nothing to report."""

    def reservation_ended(self, reservation_id: int, expired: bool) -> None:
        self._send_now(call.ReservationStatusUpdate(
            reservation_id=reservation_id, reservation_update_status="Expired" if expired else "Removed"))

    # -- TriggerMessage -------------------------------------------------------------------
    def trigger(self, message: str, evse_id: int | None, *, dry_run: bool = False) -> str:
        """Rejected for an EVSE that does not exist; the message follows the answer."""
        if message not in TRIGGERS:
            return "NotImplemented"
        if evse_id is not None and not 1 <= evse_id <= self.station.definition.nb_connectors:
            return "Rejected"
        if message == "TransactionEvent" and not any(
                self.station.transaction_for(n) for n in self._evses(evse_id)):
            return "Rejected"
        if not dry_run and self._cp is not None:
            self._spawn(self._triggered(self._cp, message, evse_id))
        return "Accepted"

    def _evses(self, evse_id: int | None) -> list[int]:
        return list(range(1, self.station.definition.nb_connectors + 1)) if evse_id is None else [evse_id]

    async def _triggered(self, cp: ChargePoint, message: str, evse_id: int | None) -> None:
        if message == "BootNotification":
            self._boot_reason = "Triggered"
            answer = await self._send(cp, self._boot_request())
            if answer is not None and answer.status == "Accepted":
                self._accepted(answer.interval)
        elif message == "Heartbeat":
            await self._send(cp, call.Heartbeat())
        elif message == "StatusNotification":
            for n in self._evses(evse_id):
                self._sent_status.pop(n, None)
                status = self.station.connector_status(n)
                await self._status(cp, n, status, self.station.connector_statuses()[n][2])
        elif message == "MeterValues":  # F06: MeterValues, transaction or not (AlignedDataCtrlr Measurands)
            for n in self._evses(evse_id):
                reading = self._reading(n, "Trigger", "AlignedDataCtrlr/Measurands", TX_UPDATED_MEASURANDS)
                values = [] if reading is None else shapes.meter_values([reading], self._dc)
                if values:
                    await self._send(cp, call.MeterValues(evse_id=n, meter_value=values))
        elif message == "TransactionEvent":  # with the latest TxUpdatedMeasurands readings
            for n in self._evses(evse_id):
                tx = self.station.transaction_for(n)
                if tx is not None and tx.transaction_id is not None:
                    reading = self._reading(n, "Trigger", TX_UPDATED_MEASURANDS)
                    self._transaction_event(tx, "Updated", "Trigger", {
                        "transaction_id": tx.transaction_id, "charging_state": self._charging_state_now(tx)},
                        [] if reading is None else [reading])
        elif message == "FirmwareStatusNotification":
            await self.report_firmware(self.station.firmware_status)
        elif message == "LogStatusNotification":
            await self.report_log(self.station.log_status)
        elif message == "SignChargingStationCertificate":
            answer = await self._send(cp, call.SignCertificate(csr=self.station.security.new_csr(),
                                                               certificate_type="ChargingStationCertificate"))
            if answer is not None and answer.status != "Accepted":
                log.warning("SignCertificate: %s", answer.status)
