"""The OCPP 1.6 security extension end to end against the demo CSMS: profile upgrades (and
the fallback when one fails), CSR → CertificateSigned → reconnection with the new
certificate, the certificate store, write-only AuthorizationKey, security events, GetLog and
SignedUpdateFirmware."""

from __future__ import annotations

import base64
import configparser
import datetime as dt
import io
import zipfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cp_simu.pki import Authority, cert_pem, new_key
from tests.chargepoint.conftest import Driver, T, call, messages, wait_message
from tests.chargepoint.security_helpers import PASSWORD, events, make_pki, password_file
from tests.ocpp16_ext.servers import serve_http
from tests.procs import wait_until


def connections(csms, count: int, timeout: float = 20.0) -> dict:
    """The CSMS's `count`-th accepted connection of CP1 (waits for it)."""
    found = wait_until(lambda: len(events(csms, "connected")) >= count and events(csms, "connected"), timeout,
                       what=f"connection #{count} at the CSMS")
    return found[count - 1]  # type: ignore[index]


def config_value(csms, key: str) -> str:
    answer = call(csms.api, "CP1", "GetConfiguration", {"key": [key]})
    return next(k["value"] for k in answer["configurationKey"] if k["key"] == key)


def security_section(cp) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(cp.directory / "config.ini")
    return dict(parser["Security"])


def serial(pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(pem).serial_number, "x")


def security_events(csms, kind: str) -> list[str]:
    """The techInfo of each SecurityEventNotification of this type the CSMS received."""
    return [p.get("techInfo", "") for p in messages(csms, "SecurityEventNotification") if p["type"] == kind]


def secure_csms(tmp_path, csms_factory, pki):
    return csms_factory("--security-profile", "1", "--password-file",
                        str(password_file(tmp_path, CP1=PASSWORD)), "--pki", str(pki.directory))


def test_csms_raises_the_profile_1_to_2_to_3(tmp_path, broker, recorder_factory, csms_factory, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP1")
    csms = secure_csms(tmp_path, csms_factory, pki)
    cert, key = pki.client("CP1")
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD, ca_file=str(pki.ca),
                    client_cert=str(cert), client_key=str(key))
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    assert connections(csms, 1)["security_profile"] == 1
    change = {"key": "SecurityProfile"}
    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": "0"})["status"] == "Rejected"

    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": "2"})["status"] == "Accepted"
    assert connections(csms, 2)["security_profile"] == 2
    assert config_value(csms, "SecurityProfile") == "2"
    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": "3"})["status"] == "Accepted"
    third = connections(csms, 3)
    assert third["security_profile"] == 3 and third["client_certificate_serial"] == serial(cert.read_bytes())
    assert security_section(cp)["security_profile"] == "3"
    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": "2"})["status"] == "Rejected"
    shown = Driver(rec).wait(T.cp_status("CP1"), lambda d: d.get("security_profile") == 3)
    assert [c["type"] for c in shown["certificates"]] == ["ChargePointCertificate"]
    expected = ["security profile 1 -> 2", "security profile 2 -> 3"]
    wait_until(lambda: set(security_events(csms, "ReconfigurationOfSecurityParameters")) == set(expected), 10,
               what="both profile changes reported")
    assert sorted(set(security_events(csms, "ReconfigurationOfSecurityParameters"))) == expected  # at least once each


def test_failed_upgrade_falls_back_to_the_previous_profile(tmp_path, broker, recorder_factory, csms_factory,
                                                           cp_factory) -> None:
    pki = make_pki(tmp_path / "pki")
    stranger = make_pki(tmp_path / "stranger")
    csms = secure_csms(tmp_path, csms_factory, pki)
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD,
                    ca_file=str(stranger.ca))  # a CA, but not the one of this CSMS
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    answer = call(csms.api, "CP1", "ChangeConfiguration", {"key": "SecurityProfile", "value": "3"})
    assert answer["status"] == "Rejected"  # no client certificate for profile 3
    answer = call(csms.api, "CP1", "ChangeConfiguration", {"key": "SecurityProfile", "value": "2"})
    assert answer["status"] == "Accepted"
    back = connections(csms, 2, timeout=30)
    assert back["security_profile"] == 1
    assert config_value(csms, "SecurityProfile") == "1" and security_section(cp)["security_profile"] == "1"
    fell_back = wait_message(csms, "SecurityEventNotification",
                             lambda p: "fell back from security profile 2 to 1" in p.get("techInfo", ""))
    assert fell_back["type"] == "ReconfigurationOfSecurityParameters"
    invalid = wait_message(csms, "SecurityEventNotification", lambda p: p["type"] == "InvalidCentralSystemCertificate")
    assert "certificate verify failed" in invalid["techInfo"]
    assert "security profile 2 failed 3 times" in cp.output()


def test_csr_signed_by_the_csms_becomes_the_client_certificate(tmp_path, broker, recorder_factory, csms_factory,
                                                               cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP1")
    csms = csms_factory("--security-profile", "3", "--pki", str(pki.directory))
    cert, key = pki.client("CP1")
    cp = cp_factory(csms.url, broker.url, security_profile=3, ca_file=str(pki.ca), client_cert=str(cert),
                    client_key=str(key), ocpp={"CpoName": "Demo CPO"})
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    assert connections(csms, 1)["client_certificate_serial"] == serial(cert.read_bytes())

    answer = call(csms.api, "CP1", "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    assert answer["status"] == "Accepted"
    csr = x509.load_pem_x509_csr(wait_message(csms, "SignCertificate")["csr"].encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP1"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Demo CPO"
    renewed = connections(csms, 2)
    store = cp.directory / "certificates"
    new_chain = (store / "charge_point.pem").read_bytes()
    assert renewed["security_profile"] == 3 and renewed["client_certificate_serial"] == serial(new_chain)
    assert serial(new_chain) != serial(cert.read_bytes())
    assert x509.load_pem_x509_certificate(new_chain).public_key() == csr.public_key()
    assert (store / "charge_point.key").stat().st_mode & 0o777 == 0o600
    assert store.stat().st_mode & 0o777 == 0o700
    shown = Driver(rec).wait(T.cp_status("CP1"), lambda d: any(
        c["serial"] == serial(new_chain) for c in d.get("certificates", [])))
    assert [(c["type"], c["subject"]) for c in shown["certificates"]] == [
        ("ChargePointCertificate", "O=Demo CPO,CN=CP1")]


def test_certificate_signed_for_another_key_is_rejected(tmp_path, broker, csms, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki")
    cp = cp_factory(csms.url, broker.url, ca_file=str(pki.ca))
    wait_until(lambda: events(csms, "connected"), 15, what="the connection")
    ca = pki.authority()
    stranger_key = new_key()
    forged = ca.issue(stranger_key.public_key(), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP1")]),
                      client=True)
    chain = (cert_pem(forged) + cert_pem(ca.cert)).decode()
    assert call(csms.api, "CP1", "CertificateSigned", {"certificateChain": chain})["status"] == "Rejected"
    call(csms.api, "CP1", "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    wait_message(csms, "SignCertificate")  # a CSR is pending now, but for its own key
    assert call(csms.api, "CP1", "CertificateSigned", {"certificateChain": chain})["status"] == "Rejected"
    wait_until(lambda: len(security_events(csms, "InvalidChargePointCertificate")) >= 2, 15,
               what="two InvalidChargePointCertificate events")
    assert security_events(csms, "InvalidChargePointCertificate") == [
        "no certificate signing request is pending", "the certificate is not for the key of the pending CSR"]
    assert not (cp.directory / "certificates" / "charge_point.pem").exists()


def test_certificate_store_install_list_delete(tmp_path, broker, recorder_factory, csms, cp_factory) -> None:
    pki = make_pki(tmp_path / "pki", "CP9")
    rec = recorder_factory(broker.url)
    cp_factory(csms.url, broker.url)
    wait_until(lambda: events(csms, "connected"), 15, what="the connection")
    root = {"certificateType": "CentralSystemRootCertificate"}
    assert call(csms.api, "CP1", "GetInstalledCertificateIds", root)["status"] == "NotFound"
    leaf = pki.client("CP9")[0].read_text()
    assert call(csms.api, "CP1", "InstallCertificate", {**root, "certificate": leaf})["status"] == "Rejected"
    assert call(csms.api, "CP1", "InstallCertificate", {**root, "certificate": pki.ca.read_text()})["status"] == \
        "Accepted"
    listed = call(csms.api, "CP1", "GetInstalledCertificateIds", root)
    assert listed["status"] == "Accepted" and len(listed["certificateHashData"]) == 1
    hash_data = listed["certificateHashData"][0]
    assert hash_data["serialNumber"] == serial(pki.ca.read_bytes()) and hash_data["hashAlgorithm"] == "SHA256"
    shown = Driver(rec).wait(T.cp_status("CP1"), lambda d: d.get("certificates"))
    assert shown["certificates"][0]["type"] == "CentralSystemRootCertificate"
    assert shown["certificates"][0]["serial"] == hash_data["serialNumber"] and shown["security_profile"] == 0
    manufacturer = {"certificateType": "ManufacturerRootCertificate"}
    assert call(csms.api, "CP1", "GetInstalledCertificateIds", manufacturer)["status"] == "NotFound"
    assert call(csms.api, "CP1", "DeleteCertificate", {"certificateHashData": hash_data})["status"] == "Accepted"
    assert call(csms.api, "CP1", "DeleteCertificate", {"certificateHashData": hash_data})["status"] == "NotFound"
    assert call(csms.api, "CP1", "GetInstalledCertificateIds", root)["status"] == "NotFound"
    wait_until(lambda: rec.last_json(T.cp_status("CP1"))["certificates"] == [], 5, what="the deletion shown")


def test_authorization_key_is_write_only_and_a_new_one_is_used(tmp_path, broker, recorder_factory, csms_factory,
                                                               cp_factory) -> None:
    csms = csms_factory("--security-profile", "1", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)))
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    everything = call(csms.api, "CP1", "GetConfiguration", {})
    keys = {k["key"]: k for k in everything["configurationKey"]}
    assert "AuthorizationKey" not in keys and PASSWORD not in str(everything)
    assert keys["SecurityProfile"]["value"] == "1" and keys["CertificateStoreMaxLength"]["readonly"] is True
    assert {"CpoName", "AdditionalRootCertificateCheck"} <= keys.keys()
    asked = call(csms.api, "CP1", "GetConfiguration", {"key": ["AuthorizationKey"]})
    assert asked.get("configurationKey", []) == [] and asked["unknownKey"] == ["AuthorizationKey"]

    change = {"key": "AuthorizationKey"}
    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": "too-short"})["status"] == "Rejected"
    new_key_text = "the-new-password-1234"
    assert call(csms.api, "CP1", "ChangeConfiguration", {**change, "value": new_key_text})["status"] == "Accepted"
    assert connections(csms, 2)["security_profile"] == 1  # reconnected, with the new password
    assert security_section(cp)["basic_auth_password"] == new_key_text
    for log in (cp.directory / "ocpp.log", cp.directory / "chargepoint.log", csms.log,
                csms.log.with_suffix(".out")):
        assert new_key_text not in log.read_text(), log


def test_get_log_uploads_the_security_log(tmp_path, broker, recorder_factory, csms_factory, cp_factory) -> None:
    csms = csms_factory("--security-profile", "1", "--password-file",
                        str(password_file(tmp_path, CP1=PASSWORD, CP2="another-password-16")))
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password="wrong-password-0000")
    wait_until(lambda: "FailedToAuthenticateAtCentralSystem" in _read(cp.directory / "security.log"), 15,
               what="a security event")
    cp.stop()
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    with serve_http({}) as (base, handler):
        request = {"logType": "SecurityLog", "requestId": 42, "log": {"remoteLocation": f"{base}/logs"}}
        answer = call(csms.api, "CP1", "GetLog", request)
        assert answer["status"] == "Accepted" and answer["filename"].startswith("security-log-CP1-")
        wait_message(csms, "LogStatusNotification", lambda p: p["status"] == "Uploaded")
        how, data = handler.received["/logs"]
    statuses = [(p["status"], p.get("requestId")) for p in messages(csms, "LogStatusNotification")]
    assert statuses == [("Uploading", 42), ("Uploaded", 42)]
    assert how == f"POST {answer['filename']}"
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.namelist() == ["security.log"]
    assert b"FailedToAuthenticateAtCentralSystem" in archive.read("security.log")


def test_diagnostics_leave_keys_and_passwords_at_home(tmp_path, broker, recorder_factory, csms_factory,
                                                       cp_factory) -> None:
    csms = csms_factory("--security-profile", "1", "--password-file", str(password_file(tmp_path, CP1=PASSWORD)))
    cp = cp_factory(csms.url, broker.url, security_profile=1, basic_auth_password=PASSWORD)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    call(csms.api, "CP1", "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"})
    wait_until(lambda: (cp.directory / "certificates" / "pending.key").exists(), 10, what="the CSR's key")
    with serve_http({}) as (base, handler):
        call(csms.api, "CP1", "GetLog", {"logType": "DiagnosticsLog", "requestId": 1,
                                         "log": {"remoteLocation": f"{base}/diag"}})
        wait_message(csms, "LogStatusNotification", lambda p: p["status"] == "Uploaded")
        _, data = handler.received["/diag"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert "config.ini" in archive.namelist() and not any(n.endswith(".key") for n in archive.namelist())
    everything = b"".join(archive.read(n) for n in archive.namelist())
    assert PASSWORD.encode() not in everything and b"basic_auth_password = ***" in everything


def test_signed_firmware_update_checks_the_signature(tmp_path, broker, recorder_factory, csms, cp_factory) -> None:
    manufacturer = Authority.create("Simu Manufacturer Root")
    signing_key = new_key()
    signer = manufacturer.issue(signing_key.public_key(),
                                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firmware signing")]))
    image = b"firmware 2.5.0 " * 1000
    signature = base64.b64encode(signing_key.sign(image, ec.ECDSA(hashes.SHA256()))).decode()
    cp = cp_factory(csms.url, broker.url)
    rec = recorder_factory(broker.url)
    Driver(rec).status("Accepted")
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    with serve_http({"/simu-2.5.0.bin": image, "/tampered-2.6.0.bin": image + b"!"}) as (base, _):
        def update(request_id: int, name: str) -> str:
            firmware = {"location": f"{base}/{name}", "retrieveDateTime": now,
                        "signingCertificate": cert_pem(signer).decode(), "signature": signature}
            return call(csms.api, "CP1", "SignedUpdateFirmware",
                        {"requestId": request_id, "firmware": firmware, "retries": 1})["status"]

        assert update(1, "simu-2.5.0.bin") == "InvalidCertificate"  # no manufacturer root installed yet
        call(csms.api, "CP1", "InstallCertificate", {"certificateType": "ManufacturerRootCertificate",
                                                     "certificate": cert_pem(manufacturer.cert).decode()})
        assert update(2, "tampered-2.6.0.bin") == "Accepted"
        wait_message(csms, "SignedFirmwareStatusNotification", lambda p: p["status"] == "InvalidSignature")
        assert update(3, "simu-2.5.0.bin") == "Accepted"
        wait_message(csms, "SignedFirmwareStatusNotification", lambda p: p["status"] == "Installed", timeout=20)
    reports = [(p["status"], p["requestId"]) for p in messages(csms, "SignedFirmwareStatusNotification")]
    assert reports == [("Downloading", 2), ("Downloaded", 2), ("InvalidSignature", 2), ("Downloading", 3),
                       ("Downloaded", 3), ("SignatureVerified", 3), ("Installing", 3), ("Installed", 3)]
    boot = wait_message(csms, "BootNotification", lambda p: p.get("firmwareVersion") == "2.5.0", timeout=20)
    assert boot["firmwareVersion"] == "2.5.0"
    kinds = [p["type"] for p in messages(csms, "SecurityEventNotification")]
    assert "InvalidFirmwareSigningCertificate" in kinds and "InvalidFirmwareSignature" in kinds
    assert "InvalidSignature" in cp.output() or "does not match" in cp.output()


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""
