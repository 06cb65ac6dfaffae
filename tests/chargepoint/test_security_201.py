"""Security of OCPP 2.0.1 stations against the demo CSMS: profiles 1 and 3, A01 (a new
BasicAuthPassword through SetVariables, used at once), A02/A03 (the station certificate
through SignCertificate / CertificateSigned), A04 (security events) and block M."""

from __future__ import annotations

import json

from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.chargepoint.conftest import Driver, T, call, wait_message
from tests.chargepoint.security_helpers import PASSWORD, events, make_pki, password_file
from tests.chargepoint.test_security_extension import connections, security_events, security_section, serial
from tests.procs import free_port, wait_until

V201 = {"ocpp_version": "2.0.1"}
PASSWORD_VARIABLE = {"component": {"name": "SecurityCtrlr"}, "variable": {"name": "BasicAuthPassword"}}


def test_basic_auth_password_set_by_the_csms_is_used_at_once(tmp_path, broker, recorder_factory, csms_factory,
                                                              cp_factory) -> None:
    csms = csms_factory("--security-profile", "1", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)))
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD, **V201)
    rec = recorder_factory(broker.url)
    assert Driver(rec).status("Accepted")["security_profile"] == 1
    assert connections(csms, 1)["security_profile"] == 1
    read = call(csms.api, "CP1", "GetVariables", {"getVariableData": [PASSWORD_VARIABLE]})
    assert read["getVariableResult"][0]["attributeStatus"] == "Rejected"  # write-only
    new_password = "a-new-2.0.1-password"
    answer = call(csms.api, "CP1", "SetVariables",
                  {"setVariableData": [{**PASSWORD_VARIABLE, "attributeValue": new_password}]})
    assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
    assert connections(csms, 2)["security_profile"] == 1  # reconnected with the new password
    assert security_section(cp)["basic_auth_password"] == new_password  # kept for the next start
    wait_until(lambda: "BasicAuthPassword changed" in security_events(csms, "ReconfigurationOfSecurityParameters"),
               10, what="the A04 security event")
    for log in (cp.directory / "ocpp.log", cp.directory / "chargepoint.log", csms.log):
        assert new_password not in log.read_text(), log


def test_station_certificate_renewed_through_a_csr(tmp_path, broker, recorder_factory, csms_factory,
                                                   cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP1")
    csms = csms_factory("--security-profile", "3", "--pki", str(pki.directory))
    cert, key = pki.client("CP1")
    cp = cp_factory(csms.url, broker.url, security_profile=3, ca_file=str(pki.ca), client_cert=str(cert),
                    client_key=str(key), **V201)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    assert connections(csms, 1)["client_certificate_serial"] == serial(cert.read_bytes())
    answer = call(csms.api, "CP1", "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"})
    assert answer["status"] == "Accepted"
    request = wait_message(csms, "SignCertificate")
    assert request["certificateType"] == "ChargingStationCertificate"
    csr = x509.load_pem_x509_csr(request["csr"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Open OCPP"  # OrganizationName
    renewed = connections(csms, 2)
    new_chain = (cp.directory / "certificates" / "charge_point.pem").read_bytes()
    assert renewed["security_profile"] == 3 and renewed["client_certificate_serial"] == serial(new_chain)
    assert x509.load_pem_x509_certificate(new_chain).public_key() == csr.public_key()


def test_block_m_install_list_delete(tmp_path, broker, recorder_factory, csms, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP9")
    rec = recorder_factory(broker.url)
    cp_factory(csms.url, broker.url, **V201)
    Driver(rec).status("Accepted")
    leaf = pki.client("CP9")[0].read_text()
    install = {"certificateType": "CSMSRootCertificate"}
    assert call(csms.api, "CP1", "InstallCertificate", {**install, "certificate": leaf})["status"] == "Rejected"
    assert call(csms.api, "CP1", "InstallCertificate", {**install, "certificate": pki.ca.read_text()})["status"] == \
        "Accepted"
    listed = call(csms.api, "CP1", "GetInstalledCertificateIds", {"certificateType": ["CSMSRootCertificate"]})
    assert listed["status"] == "Accepted"
    [entry] = listed["certificateHashDataChain"]
    assert entry["certificateType"] == "CSMSRootCertificate"
    assert entry["certificateHashData"]["serialNumber"] == serial(pki.ca.read_bytes())
    none = call(csms.api, "CP1", "GetInstalledCertificateIds", {"certificateType": ["ManufacturerRootCertificate"]})
    assert none["status"] == "NotFound"
    shown = Driver(rec).wait(T.cp_status("CP1"), lambda d: d.get("certificates"))
    assert shown["certificates"][0]["type"] == "CentralSystemRootCertificate"
    hash_data = {"certificateHashData": entry["certificateHashData"]}
    assert call(csms.api, "CP1", "DeleteCertificate", hash_data)["status"] == "Accepted"
    assert call(csms.api, "CP1", "DeleteCertificate", hash_data)["status"] == "NotFound"
    assert call(csms.api, "CP1", "GetInstalledCertificateIds", {})["status"] == "NotFound"
    assert not events(csms, "refused")


def network_profile(url: str, profile: int) -> dict:
    return {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": url, "messageTimeout": 30,
            "securityProfile": profile, "ocppInterface": "Wired0"}


def test_network_profile_upgrade_then_fallback_to_the_previous_slot(tmp_path, broker, recorder_factory,
                                                                     csms_factory, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki")
    csms = csms_factory("--security-profile", "1", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)),
                        "--pki", str(pki.directory))
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD, ca_file=str(pki.ca),
                    **V201)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    assert connections(csms, 1)["security_profile"] == 1

    def set_profile(slot: int, data: dict) -> str:
        return call(csms.api, "CP1", "SetNetworkProfile", {"configurationSlot": slot, "connectionData": data})["status"]

    def use(priority: str) -> None:
        answer = call(csms.api, "CP1", "SetVariables", {"setVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "NetworkConfigurationPriority"},
             "attributeValue": priority}]})
        assert answer["setVariableResult"][0]["attributeStatus"] in ("Accepted", "RebootRequired")
        assert call(csms.api, "CP1", "Reset", {"type": "Immediate"})["status"] == "Accepted"

    assert set_profile(2, network_profile(csms.url, 0)) == "Rejected"  # below the profile in use
    assert set_profile(2, network_profile(csms.url, 3)) == "Rejected"  # no client certificate for profile 3
    assert set_profile(2, network_profile(csms.url, 2)) == "Accepted"
    use("2,1")
    upgraded = connections(csms, 2)
    assert upgraded["security_profile"] == 2
    Driver(rec).wait(T.cp_status("CP1"), lambda d: d["status"] == "Accepted" and d.get("security_profile") == 2)
    assert security_section(cp)["security_profile"] == "2"

    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    assert set_profile(3, network_profile(dead, 2)) == "Accepted"
    use("3,2")
    fell_back = connections(csms, 3, timeout=30)
    assert fell_back["security_profile"] == 2  # slot 3 failed NetworkProfileConnectionAttempts times: slot 2
    assert "network profile slot 3 failed 3 times: trying slot 2" in cp.output()
    stored = json.loads((cp.directory / "network_profiles.json").read_text())
    assert sorted(stored) == ["1", "2", "3"] and stored["1"]["securityProfile"] == 1
    assert (cp.directory / "network_profiles.json").stat().st_mode & 0o777 == 0o600
