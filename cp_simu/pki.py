"""A demo public-key infrastructure for trying OCPP security profiles 2 and 3 in minutes.

`ocpp-simu pki DIR` writes a CA, a server certificate for the demo CSMS (localhost,
127.0.0.1) and client certificates whose CN is a charge point id; the demo CSMS signs
charge point CSRs (SignCertificate → CertificateSigned) with the same CA. Private keys are
written with mode 0600. Built on the `cryptography` library; nothing here is meant to
protect production systems.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.pem", "ca.key"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"
DEFAULT_DAYS = 365
PrivateKey = ec.EllipticCurvePrivateKey


class PkiError(ValueError):
    """A certificate, key or CSR that cannot be read or used; the message says which."""


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_private(path: Path, data: bytes) -> None:
    """A key file readable by its owner only, from the moment it exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def _name(common_name: str, organization: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _validity(days: int, not_before: dt.datetime | None) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return start, start + dt.timedelta(days=days)


@dataclass(frozen=True)
class Authority:
    """A CA: its certificate and key, able to issue certificates and sign CSRs."""

    cert: x509.Certificate
    key: PrivateKey

    @classmethod
    def create(cls, common_name: str = "ocpp-simu demo CA", days: int = 10 * DEFAULT_DAYS) -> Authority:
        key = new_key()
        start, end = _validity(days, None)
        name = _name(common_name, "ocpp-simu")
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return cls(cert, key)

    @classmethod
    def load(cls, cert_file: Path, key_file: Path) -> Authority:
        try:
            cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
            key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise PkiError(f"cannot load the CA from {cert_file} / {key_file}: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PkiError(f"{key_file}: expected an EC private key")
        return cls(cert, key)

    def issue(self, public_key: ec.EllipticCurvePublicKey, subject: x509.Name, *, server_names: tuple[str, ...] = (),
              client: bool = False, days: int = DEFAULT_DAYS, not_before: dt.datetime | None = None
              ) -> x509.Certificate:
        """A leaf certificate: for a TLS server (`server_names` as SANs) or a client (CN = CP id)."""
        start, end = _validity(days, not_before)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                                  critical=False))
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in server_names]),
                                            critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def sign_csr(self, csr_pem: str | bytes, *, expected_cn: str | None = None, days: int = DEFAULT_DAYS
                 ) -> x509.Certificate:
        """A client certificate for a charge point's CSR; its CN must be `expected_cn` if given."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
        except ValueError as exc:
            raise PkiError(f"not a PEM certificate signing request: {exc}") from None
        if not csr.is_signature_valid:
            raise PkiError("the CSR's signature does not match its key")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        cn = str(names[0].value) if names else ""
        if expected_cn is not None and cn != expected_cn:
            raise PkiError(f"the CSR's CN {cn!r} is not the charge point id {expected_cn!r}")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise PkiError("the demo CA signs EC keys only")
        return self.issue(public_key, csr.subject, client=True, days=days)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def create_demo_pki(directory: Path, cp_ids: tuple[str, ...] = (), *,
                    server_names: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = DEFAULT_DAYS
                    ) -> list[Path]:
    """CA, server certificate and one client certificate per charge point id, in `directory`.
    An existing CA there is reused, so new client certificates join an existing PKI."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if (directory / CA_CERT).exists() and (directory / CA_KEY).exists():
        ca = Authority.load(directory / CA_CERT, directory / CA_KEY)
    else:
        ca = Authority.create()
        written += _write_pair(directory, CA_CERT, CA_KEY, ca.cert, ca.key)
    key = new_key()
    server = ca.issue(key.public_key(), _name(server_names[0], "ocpp-simu"), server_names=server_names, days=days)
    written += _write_pair(directory, SERVER_CERT, SERVER_KEY, server, key)
    for cp_id in cp_ids:
        key = new_key()
        client = ca.issue(key.public_key(), _name(cp_id, "ocpp-simu"), client=True, days=days)
        written += _write_pair(directory, f"{cp_id}.pem", f"{cp_id}.key", client, key)
    return written


def _write_pair(directory: Path, cert_name: str, key_name: str, cert: x509.Certificate,
                key: PrivateKey) -> list[Path]:
    (directory / cert_name).write_bytes(cert_pem(cert))
    write_private(directory / key_name, key_pem(key))
    return [directory / cert_name, directory / key_name]
