"""OCPP 2.0.1 adapter: thin `@on` handlers mapping charging station calls onto `CentralSystem`."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import Action

from .model import CentralSystem, utc_now


class ChargePoint201(ChargePoint):
    """One connected OCPP 2.0.1 charging station, seen from the CSMS."""

    def __init__(self, cp_id: str, connection: Any, csms: CentralSystem) -> None:
        super().__init__(cp_id, connection, response_timeout=csms.settings.call_timeout)
        self.csms = csms
        self.closed = False

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        status, interval = self.csms.boot(self.id, payload)
        return call_result.BootNotification(current_time=utc_now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.csms.heartbeat(self.id))

    @on(Action.status_notification)
    def on_status_notification(self, evse_id: int, connector_id: int, connector_status: str,
                               **_: Any) -> call_result.StatusNotification:
        self.csms.connector_status(self.id, f"{evse_id}/{connector_id}", connector_status)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        status = self.csms.authorize(id_token["id_token"])
        return call_result.Authorize(id_token_info=IdTokenInfoType(status=status))

    @on(Action.transaction_event)
    def on_transaction_event(self, event_type: str, timestamp: str, transaction_info: dict[str, Any],
                             evse: dict[str, Any] | None = None, id_token: dict[str, Any] | None = None,
                             **_: Any) -> call_result.TransactionEvent:
        status = self.csms.transaction_event(
            self.id, event_type, transaction_info["transaction_id"], timestamp,
            connector_id=evse["id"] if evse else None,  # the EVSE plays 1.6's connector role
            id_token=id_token["id_token"] if id_token else None,
            stopped_reason=transaction_info.get("stopped_reason"),
        )
        info = IdTokenInfoType(status=status) if status is not None else None
        return call_result.TransactionEvent(id_token_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        return call_result.NotifyEvent()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, **_: Any) -> call_result.FirmwareStatusNotification:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, **_: Any) -> call_result.LogStatusNotification:
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")
