"""`ocpp-simu pki`: a demo CA, server and client certificates that chain, with private keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import NameOID

from cp_simu.cli import main
from cp_simu.pki import Authority, PkiError
from cp_simu.security_settings import SecuritySettings, SecuritySettingsError, without_secrets


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_command_writes_a_chaining_pki_with_private_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pki", str(tmp_path / "pki"), "--client", "CP_1"])
    assert result.exit_code == 0, result.output
    pki = tmp_path / "pki"
    assert sorted(p.name for p in pki.iterdir()) == ["CP_1.key", "CP_1.pem", "ca.key", "ca.pem", "server.key",
                                                      "server.pem"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in pki.glob("*.key"))
    ca, server, client = load(pki / "ca.pem"), load(pki / "server.pem"), load(pki / "CP_1.pem")
    server.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP_1"

    again = CliRunner().invoke(main, ["pki", str(pki), "--client", "CP_2"])
    assert again.exit_code == 0 and load(pki / "ca.pem") == ca  # the CA is kept
    load(pki / "CP_2.pem").verify_directly_issued_by(ca)


def test_pki_command_refuses_an_id_that_is_a_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["pki", str(tmp_path / "pki"), "--client", "../evil"])
    assert result.exit_code == 2 and "invalid charge point id" in result.output
    assert not (tmp_path / "evil.pem").exists()


def test_csr_signing_binds_the_cn_to_the_charge_point(tmp_path: Path) -> None:
    from chargepoint.core.certificates import CertificateStore

    ca = Authority.create()
    csr = CertificateStore(tmp_path).new_csr("CP_1", "Demo CPO")
    cert = ca.sign_csr(csr, expected_cn="CP_1")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "CP_1"
    with pytest.raises(PkiError, match="is not the charge point id 'CP_2'"):
        ca.sign_csr(csr, expected_cn="CP_2")


def test_security_settings_read_json_and_ini_values() -> None:
    from_json = SecuritySettings.from_mapping({"security_profile": 2.0, "tls_allow_self_signed": True})
    from_ini = SecuritySettings.from_mapping({"security_profile": "2", "tls_allow_self_signed": "true"})
    assert from_json == from_ini and from_json.security_profile == 2
    for bad, message in (({"security_profile": 4}, "must be 0, 1, 2 or 3"),
                         ({"security_profile": True}, "expected an integer"),
                         ({"tls_skip_hostname_check": "maybe"}, "expected true or false"),
                         ({"basic_auth_password": "x\ny"}, "control characters")):
        with pytest.raises(SecuritySettingsError, match=message):
            SecuritySettings.from_mapping(bad)


def test_without_secrets_blanks_only_the_password() -> None:
    text = "[Security]\nsecurity_profile = 1\nbasic_auth_password = s3cret-s3cret-16\nca_file =\n"
    assert without_secrets(text) == "[Security]\nsecurity_profile = 1\nbasic_auth_password = ***\nca_file =\n"
