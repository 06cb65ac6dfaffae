"""The certificate store and checks on their own: hostile or wrong input is refused with a
reason, never an exception that would reach the OCPP handlers."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chargepoint.core.certificates import (
    CSMS_ROOT,
    CertificateError,
    CertificateStore,
    HashData,
    load_pem_chain,
    verify_chain,
    verify_signature,
)
from cp_simu.pki import Authority, cert_pem, new_key

GARBAGE = ["", "not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "\x00" * 64]


@pytest.mark.parametrize("pem", GARBAGE)
def test_garbage_is_refused_everywhere(tmp_path: Path, pem: str) -> None:
    store = CertificateStore(tmp_path)
    assert store.install(CSMS_ROOT, pem) == "Rejected"
    with pytest.raises(CertificateError):
        load_pem_chain(pem)
    store.new_csr("CP1", "")
    with pytest.raises(CertificateError):
        store.accept_signed(pem, "CP1", [Authority.create().cert])
    assert store.delete({"hashAlgorithm": "SHA256", "issuerNameHash": pem[:10], "issuerKeyHash": "",
                         "serialNumber": "../x"}) == "NotFound"
    assert not any(p.suffix == ".pem" for p in store.directory.iterdir())


def test_store_limit_and_hash_data(tmp_path: Path) -> None:
    store = CertificateStore(tmp_path, max_length=2)
    roots = [Authority.create(f"root {i}").cert for i in range(3)]
    assert [store.install(CSMS_ROOT, cert_pem(r).decode()) for r in roots] == ["Accepted", "Accepted", "Rejected"]
    assert store.install(CSMS_ROOT, cert_pem(roots[0]).decode()) == "Accepted"  # already there: no new entry
    listed = store.installed(CSMS_ROOT)
    assert len(listed) == 2 and HashData.of(roots[0]) in listed
    assert store.directory.stat().st_mode & 0o777 == 0o700
    assert store.delete(HashData.of(roots[1]).to_wire()) == "Accepted"
    assert store.installed(CSMS_ROOT) == [HashData.of(roots[0])]


def test_chain_and_signature_checks_say_why(tmp_path: Path) -> None:
    ca, other = Authority.create("ca"), Authority.create("other")
    key = new_key()
    leaf = ca.issue(key.public_key(), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")]))
    verify_chain([leaf], [ca.cert])
    with pytest.raises(CertificateError, match="is not an installed root"):
        verify_chain([leaf], [other.cert])
    with pytest.raises(CertificateError, match="no root certificate"):
        verify_chain([leaf], [])
    data = os.urandom(1000)
    signature = base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()
    verify_signature(data, signature, leaf)
    with pytest.raises(CertificateError, match="does not match"):
        verify_signature(data + b"x", signature, leaf)
    with pytest.raises(CertificateError, match="not base64"):
        verify_signature(data, "%%%", leaf)


def test_signed_certificate_must_be_for_the_pending_key_and_this_cp(tmp_path: Path) -> None:
    ca = Authority.create()
    store = CertificateStore(tmp_path)
    with pytest.raises(CertificateError, match="no certificate signing request is pending"):
        store.accept_signed(cert_pem(ca.cert).decode(), "CP1", [ca.cert])
    csr = store.new_csr("CP1", "")
    assert (store.directory / "pending.key").stat().st_mode & 0o777 == 0o600
    other_cp = ca.sign_csr(csr)  # right key, but pretend the CSMS named another CP
    renamed = ca.issue(other_cp.public_key(), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CP2")]),
                       client=True)
    with pytest.raises(CertificateError, match="CN is not the charge point id"):
        store.accept_signed(cert_pem(renamed).decode(), "CP1", [ca.cert])
    with pytest.raises(CertificateError, match="is not an installed root"):
        store.accept_signed(cert_pem(other_cp).decode(), "CP1", [Authority.create("x").cert])
    store.accept_signed((cert_pem(other_cp) + cert_pem(ca.cert)).decode(), "CP1", [ca.cert])
    assert store.own_files() is not None and not (store.directory / "pending.key").exists()


def test_a_charge_point_without_certificates_never_loads_the_library(tmp_path: Path) -> None:
    """Start-up time and memory of every process: `cryptography` comes with the first certificate."""
    code = f"""
import sys
from pathlib import Path
from chargepoint.core.ocpp_config import OcppConfiguration
from chargepoint.ocpp16.config_keys import REGISTRY
from chargepoint.security import Security
from cp_simu.security_settings import SecuritySettings
import chargepoint.station, chargepoint.cli, chargepoint.ocpp201.adapter
security = Security(Path({str(tmp_path)!r}), "CP1", SecuritySettings(1, "password-0123456789"),
                    OcppConfiguration(REGISTRY, {{"SecurityProfile": "1", "AuthorizationKey": "password-0123456789"}}))
security.transport(); security.status_fields(); security.event("StartupOfTheDevice")
assert not [m for m in sys.modules if m.startswith("cryptography")], "cryptography loaded"
security.new_csr()
assert "cryptography.x509" in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
