"""OCPP 2.0.1 security blocks A and M: thin handlers over the station's `Security`.

M: InstallCertificate, GetInstalledCertificateIds, DeleteCertificate; A05: SetNetworkProfile
(the slots and their fallback are the adapter's `NetworkProfiles`); A02/A03: the
charging station certificate through SignCertificate (TriggerMessage
SignChargingStationCertificate) and CertificateSigned, after which a station under profile 3
reconnects with it. A01 (a new BasicAuthPassword) and A04 (security events) live in the
adapter and the shared session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from chargepoint.core.certificates import CSMS_ROOT, MANUFACTURER_ROOT
from chargepoint.protocol import Controller

# 2.0.1 certificate types -> the store's names (shared with 1.6, whose names these are)
CERTIFICATE_USES = {"CSMSRootCertificate": CSMS_ROOT, "ManufacturerRootCertificate": MANUFACTURER_ROOT,
                    "V2GRootCertificate": "V2GRootCertificate", "MORootCertificate": "MORootCertificate"}
STATION_CERTIFICATE = "ChargingStationCertificate"


class SecurityHandlers:
    """Certificate handlers of a 2.0.1 charging station (mixin of `ChargePoint201`)."""

    station: Controller
    adapter: Any  # the Ocpp201Adapter: reconnect(), set_network_profile()

    if TYPE_CHECKING:
        def _decide(self, call_unique_id: str, answer: Any, carry_out: bool = True) -> Any: ...

        def _decided(self, call_unique_id: str) -> Any | None: ...

    @on(Action.set_network_profile)
    def on_set_network_profile(self, configuration_slot: int, connection_data: dict[str, Any], **_: Any
                               ) -> call_result.SetNetworkProfile:
        """A05: kept for NetworkConfigurationPriority (used from the next reboot)."""
        return call_result.SetNetworkProfile(
            status=self.adapter.set_network_profile(configuration_slot, snake_to_camel_case(connection_data)))

    @on(Action.install_certificate)
    def on_install_certificate(self, certificate_type: str, certificate: str, **_: Any
                               ) -> call_result.InstallCertificate:
        use = CERTIFICATE_USES.get(certificate_type)
        status = "Rejected" if use is None else self.station.security.install_certificate(use, certificate)
        return call_result.InstallCertificate(status=status)

    @on(Action.get_installed_certificate_ids)
    def on_get_installed_certificate_ids(self, certificate_type: list[str] | None = None, **_: Any
                                         ) -> call_result.GetInstalledCertificateIds:
        wanted = certificate_type or list(CERTIFICATE_USES)
        chain = [{"certificate_type": kind, "certificate_hash_data": camel_to_snake_case(data)}
                 for kind in wanted if kind in CERTIFICATE_USES
                 for data in self.station.security.installed_certificates(CERTIFICATE_USES[kind])]
        return call_result.GetInstalledCertificateIds(status="Accepted" if chain else "NotFound",
                                                      certificate_hash_data_chain=chain or None)

    @on(Action.delete_certificate)
    def on_delete_certificate(self, certificate_hash_data: dict[str, Any], **_: Any) -> call_result.DeleteCertificate:
        return call_result.DeleteCertificate(
            status=self.station.security.delete_certificate(snake_to_camel_case(certificate_hash_data)))

    @on(Action.certificate_signed)
    def on_certificate_signed(self, call_unique_id: str, certificate_chain: str,
                              certificate_type: str = STATION_CERTIFICATE, **_: Any) -> call_result.CertificateSigned:
        accepted = certificate_type == STATION_CERTIFICATE and self.station.security.certificate_signed(
            certificate_chain)
        return call_result.CertificateSigned(
            status=self._decide(call_unique_id, "Accepted" if accepted else "Rejected", accepted))

    @after(Action.certificate_signed)
    def after_certificate_signed(self, call_unique_id: str, **_: Any) -> None:
        """Under profile 3 the new certificate is used at once: a new connection."""
        if self._decided(call_unique_id) and self.station.security.profile == 3:
            self.adapter.reconnect()
