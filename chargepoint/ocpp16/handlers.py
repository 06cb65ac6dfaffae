"""CSMS-initiated OCPP 1.6 calls: thin handlers that ask the station and report its answer.

A call with side effects is decided in its `@on` handler (a dry run on the station) and
carried out in its `@after` handler, so the CSMS always gets the answer before the
messages the action causes (StatusNotification, StopTransaction, BootNotification…).
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import (
    Action,
    AvailabilityStatus,
    AvailabilityType,
    ClearCacheStatus,
    RemoteStartStopStatus,
    ResetStatus,
    ResetType,
)

from chargepoint.protocol import Controller


def _accepted(ok: bool) -> RemoteStartStopStatus:
    return RemoteStartStopStatus.accepted if ok else RemoteStartStopStatus.rejected


class ChargePoint16(ChargePoint):
    """One WebSocket session with the CSMS, seen from the charge point."""

    def __init__(self, cp_id: str, connection: Any, station: Controller, response_timeout: float) -> None:
        super().__init__(cp_id, connection, response_timeout=response_timeout)
        self.station = station

    # -- transactions ---------------------------------------------------------------------
    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None,
                        **_: Any) -> call_result.RemoteStartTransaction:
        chosen = self.station.remote_start(connector_id, id_tag, dry_run=True)
        return call_result.RemoteStartTransaction(status=_accepted(chosen is not None))

    @after(Action.remote_start_transaction)
    def after_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> None:
        self.station.remote_start(connector_id, id_tag)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        return call_result.RemoteStopTransaction(
            status=_accepted(self.station.remote_stop(transaction_id, dry_run=True)))

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, transaction_id: int) -> None:
        self.station.remote_stop(transaction_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status=self.station.unlock(connector_id, dry_run=True))

    @after(Action.unlock_connector)
    def after_unlock_connector(self, connector_id: int) -> None:
        self.station.unlock(connector_id)

    # -- charge point ---------------------------------------------------------------------
    @on(Action.reset)
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status=ResetStatus.accepted)

    @after(Action.reset)
    async def after_reset(self, type: str) -> None:
        await self.station.reset(hard=type == ResetType.hard)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:
        status = self.station.change_availability(connector_id, type == AvailabilityType.operative,
                                                  dry_run=True)
        return call_result.ChangeAvailability(status=AvailabilityStatus(status))

    @after(Action.change_availability)
    def after_change_availability(self, connector_id: int, type: str) -> None:
        self.station.change_availability(connector_id, type == AvailabilityType.operative)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known, unknown = self.station.config.lookup(key)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k.name, "readonly": k.readonly, "value": value}
                               for k, value in known],
            unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(status=self.station.config.change(key, value).value)

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        ok = self.station.clear_cache()
        return call_result.ClearCache(status=ClearCacheStatus.accepted if ok else ClearCacheStatus.rejected)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, message_id: str | None = None,
                         data: str | None = None) -> call_result.DataTransfer:
        status, answer = self.station.data_transfer(vendor_id, message_id, data)
        return call_result.DataTransfer(status=status, data=answer)
