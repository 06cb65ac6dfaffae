"""The demo CSMS's decisions and memory, independent of the OCPP version that asks.

Handlers only translate messages into calls on `CentralSystem` and its answers back into
payloads, so that both protocol adapters share one behaviour and tests can reason about it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cp_simu.pki import PkiError

BOOT_STATUSES = ("Accepted", "Pending", "Rejected")


def utc_now() -> str:
    """ISO 8601 UTC time with milliseconds, as OCPP and our log want it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Settings:
    """What a user can tune from the command line."""

    reject_prefixes: tuple[str, ...] = ("BAD",)
    heartbeat_interval: int = 300
    boot_status: str = "Accepted"
    # With a non-Accepted boot_status: answer that status to the first N boots of each CP,
    # then Accepted. None keeps the configured status forever.
    pending_boots: int | None = None
    # BootNotification `interval` when not Accepted: how long the CP waits before retrying.
    boot_retry_interval: int = 10
    call_timeout: float = 30.0


@dataclass
class Transaction:
    """One charging session as the CSMS saw it (1.6 Start/Stop or 2.0.1 TransactionEvent)."""

    transaction_id: int | str
    cp_id: str
    connector_id: int | None
    id_tag: str | None
    id_tag_status: str | None
    meter_start: int | None = None
    start_time: str | None = None
    meter_stop: int | None = None
    stop_time: str | None = None
    stop_reason: str | None = None
    active: bool = True
    # 2.0.1: every TransactionEvent as received (seqNo, eventType, triggerReason, offline...).
    events: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "events": [dict(e) for e in self.events]}


@dataclass
class CpRecord:
    """What is known about one charge point id, kept across its reconnections."""

    cp_id: str
    ocpp_version: str | None = None
    connected: bool = False
    connected_since: str | None = None
    remote: str | None = None
    security_profile: int = 0  # of the current (or last) connection
    boots: int = 0
    boot_status: str | None = None
    boot_info: dict[str, Any] = field(default_factory=dict)
    last_heartbeat: str | None = None
    # "<connector>" (1.6) or "<evse>/<connector>" (2.0.1) -> last reported status
    connectors: dict[str, str] = field(default_factory=dict)
    # 2.0.1 NotifyReport: flat key `Component[:instance][@evse[.connector]]/Variable[:instance]` -> Actual
    device_model: dict[str, str] = field(default_factory=dict)
    # Last status of each notification ("FirmwareStatusNotification", "ReservationStatusUpdate:<id>"...)
    notifications: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.cp_id,
            "ocpp_version": self.ocpp_version,
            "connected": self.connected,
            "connected_since": self.connected_since,
            "remote": self.remote,
            "security_profile": self.security_profile,
            "boot_status": self.boot_status,
        }

    def details(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "boots": self.boots,
            "boot_info": self.boot_info,
            "last_heartbeat": self.last_heartbeat,
            "connectors": dict(self.connectors),
            "notifications": dict(self.notifications),
            "device_model": dict(self.device_model),
        }


class CentralSystem:
    """Authorization, registration and transaction bookkeeping for every connected CP."""

    def __init__(self, settings: Settings, sign_csr: Callable[[str, str], str] | None = None) -> None:
        self.settings = settings
        self.sign_csr = sign_csr  # (cp id, CSR PEM) -> certificate chain PEM, for SignCertificate
        self.cps: dict[str, CpRecord] = {}
        self.transactions: dict[tuple[str, str], Transaction] = {}
        self._next_tx_id = itertools.count(1)

    def record(self, cp_id: str) -> CpRecord:
        return self.cps.setdefault(cp_id, CpRecord(cp_id))

    def signed_chain(self, cp_id: str, csr: str) -> str | None:
        """The chain for a SignCertificate's CSR (its CN must be `cp_id`), or None when this CSMS
        does not sign or refuses the CSR (said in the log)."""
        if self.sign_csr is None:
            return None
        try:
            return self.sign_csr(cp_id, csr)
        except PkiError as exc:
            logging.getLogger(__name__).warning("%s: CSR not signed: %s", cp_id, exc)
            return None

    # -- connections -------------------------------------------------------------------------

    def connected(self, cp_id: str, ocpp_version: str, remote: str | None, security_profile: int = 0) -> None:
        rec = self.record(cp_id)
        rec.ocpp_version, rec.remote, rec.security_profile = ocpp_version, remote, security_profile
        rec.connected, rec.connected_since = True, utc_now()

    def disconnected(self, cp_id: str) -> None:
        self.record(cp_id).connected = False

    # -- registration ------------------------------------------------------------------------

    def boot(self, cp_id: str, info: dict[str, Any]) -> tuple[str, int]:
        """Registration answer (status, interval) for this CP's next BootNotification."""
        rec = self.record(cp_id)
        rec.boots += 1
        rec.boot_info = info
        s = self.settings
        status = s.boot_status
        if status != "Accepted" and s.pending_boots is not None and rec.boots > s.pending_boots:
            status = "Accepted"
        rec.boot_status = status
        return status, s.heartbeat_interval if status == "Accepted" else s.boot_retry_interval

    def heartbeat(self, cp_id: str) -> str:
        now = utc_now()
        self.record(cp_id).last_heartbeat = now
        return now

    def connector_status(self, cp_id: str, connector: str, status: str) -> None:
        self.record(cp_id).connectors[connector] = status

    def notified(self, cp_id: str, what: str, status: str) -> None:
        self.record(cp_id).notifications[what] = status

    def device_model_report(self, cp_id: str, report_data: list[dict[str, Any]]) -> None:
        """Remember the Actual values a NotifyReport page lists (report data in snake_case)."""
        known = self.record(cp_id).device_model
        for item in report_data:
            actual = next((a for a in item.get("variable_attribute", []) if a.get("type", "Actual") == "Actual"),
                          None)
            if actual is not None:
                known[_flat_key(item["component"], item["variable"])] = actual.get("value", "")

    # -- authorization -----------------------------------------------------------------------

    def authorize(self, id_tag: str) -> str:
        """Every tag is good except those starting with a reject prefix."""
        if any(id_tag.startswith(p) for p in self.settings.reject_prefixes):
            return "Invalid"
        return "Accepted"

    # -- transactions ------------------------------------------------------------------------

    def start_transaction(self, cp_id: str, connector_id: int, id_tag: str, meter_start: int,
                          timestamp: str) -> Transaction:
        """OCPP 1.6: the CSMS allocates the id, even for a refused tag (the CP then stops it)."""
        tx = Transaction(next(self._next_tx_id), cp_id, connector_id, id_tag, self.authorize(id_tag),
                         meter_start=meter_start, start_time=timestamp)
        self.transactions[(cp_id, str(tx.transaction_id))] = tx
        return tx

    def stop_transaction(self, cp_id: str, transaction_id: int | str, meter_stop: int | None,
                         timestamp: str, reason: str | None) -> Transaction:
        key = (cp_id, str(transaction_id))
        tx = self.transactions.get(key)
        if tx is None:  # unknown to us (e.g. started before a CSMS restart): remember it anyway
            tx = self.transactions[key] = Transaction(transaction_id, cp_id, None, None, None)
        tx.meter_stop, tx.stop_time, tx.stop_reason, tx.active = meter_stop, timestamp, reason, False
        return tx

    def transaction_event(self, cp_id: str, event_type: str, transaction_id: str, timestamp: str,
                          connector_id: int | None, id_token: str | None,
                          stopped_reason: str | None, *, seq_no: int | None = None,
                          trigger_reason: str | None = None, offline: bool = False,
                          charging_state: str | None = None, energy_wh: float | None = None) -> str | None:
        """OCPP 2.0.1 TransactionEvent; returns the id token's status when one was given."""
        status = self.authorize(id_token) if id_token is not None else None
        key = (cp_id, transaction_id)
        tx = self.transactions.get(key)
        if tx is None:
            tx = self.transactions[key] = Transaction(transaction_id, cp_id, connector_id, id_token,
                                                      status, start_time=timestamp)
        if id_token is not None and tx.id_tag is None:
            tx.id_tag, tx.id_tag_status = id_token, status
        if connector_id is not None and tx.connector_id is None:
            tx.connector_id = connector_id
        tx.events.append({"seq_no": seq_no, "event_type": event_type, "trigger_reason": trigger_reason,
                          "offline": offline, "timestamp": timestamp, "charging_state": charging_state,
                          "energy_wh": energy_wh})
        if energy_wh is not None:
            if tx.meter_start is None or event_type == "Started":
                tx.meter_start = round(energy_wh)
            tx.meter_stop = round(energy_wh) if event_type == "Ended" else tx.meter_stop
        if event_type == "Ended":
            tx.stop_time, tx.stop_reason, tx.active = timestamp, stopped_reason, False
        return status


def _flat_key(component: dict[str, Any], variable: dict[str, Any]) -> str:
    key = component["name"] + (f":{component['instance']}" if component.get("instance") else "")
    evse = component.get("evse")
    if evse:
        key += f"@{evse['id']}" + (f".{evse['connector_id']}" if evse.get("connector_id") is not None else "")
    return f"{key}/{variable['name']}" + (f":{variable['instance']}" if variable.get("instance") else "")
