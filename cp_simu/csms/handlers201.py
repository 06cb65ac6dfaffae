"""OCPP 2.0.1 adapter: thin `@on` handlers mapping charging station calls onto `CentralSystem`.

Every message a 2.0.1 charging station may send is answered: what the demo CSMS keeps
(registration, connector statuses, transactions with their events, the reported device
model, the last status of firmware / log / reservation notifications) lives in the model;
the rest is acknowledged and visible in the journal. SignCertificate is signed by the CSMS's
CA when it has one (`--pki`, `--ca-key`) and answered with CertificateSigned; the ISO 15118
certificate requests (Get15118EVCertificate, GetCertificateStatus) are refused.
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.datatypes import IdTokenInfoType
from ocpp.v201.enums import Action

from cp_simu.ocpp_routing import OcppJRouting

from .model import CentralSystem, utc_now

NO_CA = {"reason_code": "NoCA", "additional_info": "the demo CSMS signs no certificates of this kind"}
STATION_CERTIFICATE = "ChargingStationCertificate"


class ChargePoint201(OcppJRouting, ChargePoint):
    """One connected OCPP 2.0.1 charging station, seen from the CSMS."""

    def __init__(self, cp_id: str, connection: Any, csms: CentralSystem) -> None:
        super().__init__(cp_id, connection, response_timeout=csms.settings.call_timeout)
        self.csms = csms
        self.closed = False

    # -- provisioning ------------------------------------------------------------------------

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        status, interval = self.csms.boot(self.id, payload)
        return call_result.BootNotification(current_time=utc_now(), interval=interval, status=status)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self.csms.heartbeat(self.id))

    @on(Action.notify_report)
    def on_notify_report(self, report_data: list[dict[str, Any]] | None = None, **_: Any
                         ) -> call_result.NotifyReport:
        self.csms.device_model_report(self.id, report_data or [])
        return call_result.NotifyReport()

    # -- availability, authorization, transactions --------------------------------------------

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
    def on_transaction_event(self, event_type: str, timestamp: str, trigger_reason: str, seq_no: int,
                             transaction_info: dict[str, Any], evse: dict[str, Any] | None = None,
                             id_token: dict[str, Any] | None = None, offline: bool = False,
                             meter_value: list[dict[str, Any]] | None = None,
                             **_: Any) -> call_result.TransactionEvent:
        status = self.csms.transaction_event(
            self.id, event_type, transaction_info["transaction_id"], timestamp,
            connector_id=evse["id"] if evse else None,  # the EVSE plays 1.6's connector role
            id_token=id_token["id_token"] if id_token else None,
            stopped_reason=transaction_info.get("stopped_reason"),
            seq_no=seq_no, trigger_reason=trigger_reason, offline=offline,
            charging_state=transaction_info.get("charging_state"),
            energy_wh=_energy_register(meter_value or []),
        )
        info = IdTokenInfoType(status=status) if status is not None else None
        return call_result.TransactionEvent(id_token_info=info)

    @on(Action.meter_values)
    def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.reservation_status_update)
    def on_reservation_status_update(self, reservation_id: int, reservation_update_status: str,
                                     **_: Any) -> call_result.ReservationStatusUpdate:
        self.csms.notified(self.id, f"ReservationStatusUpdate:{reservation_id}", reservation_update_status)
        return call_result.ReservationStatusUpdate()

    # -- smart charging ----------------------------------------------------------------------

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(self, **_: Any) -> call_result.ReportChargingProfiles:
        return call_result.ReportChargingProfiles()

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(self, **_: Any) -> call_result.NotifyChargingLimit:
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(self, **_: Any) -> call_result.ClearedChargingLimit:
        return call_result.ClearedChargingLimit()

    @on(Action.notify_ev_charging_needs)
    def on_notify_ev_charging_needs(self, **_: Any) -> call_result.NotifyEVChargingNeeds:
        # The demo CSMS computes no schedule for the EV's needs.
        return call_result.NotifyEVChargingNeeds(status="Rejected")

    @on(Action.notify_ev_charging_schedule)
    def on_notify_ev_charging_schedule(self, **_: Any) -> call_result.NotifyEVChargingSchedule:
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    # -- firmware, diagnostics, monitoring, display, customer information --------------------

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status: str, **_: Any) -> call_result.FirmwareStatusNotification:
        self.csms.notified(self.id, "FirmwareStatusNotification", status)
        return call_result.FirmwareStatusNotification()

    @on(Action.publish_firmware_status_notification)
    def on_publish_firmware_status_notification(self, status: str, **_: Any
                                                ) -> call_result.PublishFirmwareStatusNotification:
        self.csms.notified(self.id, "PublishFirmwareStatusNotification", status)
        return call_result.PublishFirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status: str, **_: Any) -> call_result.LogStatusNotification:
        self.csms.notified(self.id, "LogStatusNotification", status)
        return call_result.LogStatusNotification()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        return call_result.NotifyEvent()

    @on(Action.notify_monitoring_report)
    def on_notify_monitoring_report(self, **_: Any) -> call_result.NotifyMonitoringReport:
        return call_result.NotifyMonitoringReport()

    @on(Action.notify_display_messages)
    def on_notify_display_messages(self, **_: Any) -> call_result.NotifyDisplayMessages:
        return call_result.NotifyDisplayMessages()

    @on(Action.notify_customer_information)
    def on_notify_customer_information(self, **_: Any) -> call_result.NotifyCustomerInformation:
        return call_result.NotifyCustomerInformation()

    # -- security ----------------------------------------------------------------------------

    @on(Action.security_event_notification)
    def on_security_event_notification(self, **_: Any) -> call_result.SecurityEventNotification:
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr: str, certificate_type: str = STATION_CERTIFICATE,
                            **_: Any) -> call_result.SignCertificate:
        if self.csms.sign_csr is None or certificate_type != STATION_CERTIFICATE:
            return call_result.SignCertificate(status="Rejected", status_info=NO_CA)
        return call_result.SignCertificate(status="Accepted")

    @after(Action.sign_certificate)
    async def after_sign_certificate(self, csr: str, certificate_type: str = STATION_CERTIFICATE,
                                     **_: Any) -> None:
        """The CA signs the CSR (its CN must be this station's id) and sends the chain."""
        chain = self.csms.signed_chain(self.id, csr) if certificate_type == STATION_CERTIFICATE else None
        if chain is not None:
            await self.call(call.CertificateSigned(certificate_chain=chain, certificate_type=STATION_CERTIFICATE))

    @on(Action.get_15118_ev_certificate)
    def on_get_15118_ev_certificate(self, **_: Any) -> call_result.Get15118EVCertificate:
        return call_result.Get15118EVCertificate(status="Failed", exi_response="", status_info=NO_CA)

    @on(Action.get_certificate_status)
    def on_get_certificate_status(self, **_: Any) -> call_result.GetCertificateStatus:
        return call_result.GetCertificateStatus(status="Failed", status_info=NO_CA)

    # -- both ways ---------------------------------------------------------------------------

    @on(Action.data_transfer)
    def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        return call_result.DataTransfer(status="Accepted")


def _energy_register(meter_values: list[dict[str, Any]]) -> float | None:
    """The last Energy.Active.Import.Register reading (Wh) of a TransactionEvent, if any."""
    energy = None
    for meter_value in meter_values:
        for sampled in meter_value.get("sampled_value", []):
            if sampled.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register" \
                    and sampled.get("phase") is None:
                multiplier = 10 ** (sampled.get("unit_of_measure") or {}).get("multiplier", 0)
                unit = (sampled.get("unit_of_measure") or {}).get("unit", "Wh")
                energy = float(sampled["value"]) * multiplier * (1000 if unit == "kWh" else 1)
    return energy
