"""OCPP 1.6 adapter: thin `@on` handlers mapping charge point calls onto `CentralSystem`."""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action

from cp_simu.ocpp_routing import OcppJRouting

from .model import CentralSystem, utc_now


class ChargePoint16(OcppJRouting, ChargePoint):
    """One connected OCPP 1.6 charge point, seen from the CSMS."""

    def __init__(self, cp_id: str, connection: Any, csms: CentralSystem) -> None:
        super().__init__(cp_id, connection, response_timeout=csms.settings.call_timeout)
        self.csms = csms
        self.closed = False

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        status, interval = self.csms.boot(self.id, payload)
        return call_result.BootNotification(current_time=utc_now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.csms.heartbeat(self.id))

    @on(Action.status_notification)
    def on_status_notification(self, connector_id: int, status: str,
                               **_: Any) -> call_result.StatusNotification:
        self.csms.connector_status(self.id, str(connector_id), status)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=IdTagInfo(status=self.csms.authorize(id_tag)))

    @on(Action.start_transaction)
    def on_start_transaction(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                             **_: Any) -> call_result.StartTransaction:
        tx = self.csms.start_transaction(self.id, connector_id, id_tag, meter_start, timestamp)
        return call_result.StartTransaction(transaction_id=int(tx.transaction_id),
                                            id_tag_info=IdTagInfo(status=tx.id_tag_status))

    @on(Action.stop_transaction)
    def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int,
                            reason: str | None = None, id_tag: str | None = None,
                            **_: Any) -> call_result.StopTransaction:
        self.csms.stop_transaction(self.id, transaction_id, meter_stop, timestamp, reason or "Local")
        info = IdTagInfo(status=self.csms.authorize(id_tag)) if id_tag is not None else None
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, **_: Any) -> call_result.DiagnosticsStatusNotification:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    # Security extension (OCPP 1.6 security whitepaper).

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str) -> call_result.SignCertificate:
        return call_result.SignCertificate(status="Accepted" if self.csms.sign_csr else "Rejected")

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str) -> None:
        """The CA signs the CSR (its CN must be this charge point's id) and sends the chain."""
        chain = self.csms.signed_chain(self.id, csr)
        if chain is not None:
            await self.call(call.CertificateSigned(certificate_chain=chain))

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(
            self, **_: Any) -> call_result.SignedFirmwareStatusNotification:
        return call_result.SignedFirmwareStatusNotification()
