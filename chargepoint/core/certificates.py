"""The charge point's certificate store, in `<instance>/certificates/` (mode 0700).

Root certificates installed by the CSMS (InstallCertificate) are kept one PEM file per
certificate, named by use and hash; the charge point's own key pair from SignCertificate /
CertificateSigned is `charge_point.key` (0600, written when the CSR is made) and
`charge_point.pem` (the signed chain, once accepted). Everything is plain X.509 work with
the `cryptography` library, version-neutral: both OCPP adapters answer from here. The library
is imported by the functions that parse or make certificates, so a charge point that never
holds one does not load it (start-up time and memory of every process).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)

STORE_DIR = "certificates"
OWN_CERT, OWN_KEY, PENDING_KEY = "charge_point.pem", "charge_point.key", "pending.key"
CSMS_ROOT = "CentralSystemRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
ROOT_USES = (CSMS_ROOT, MANUFACTURER_ROOT, "V2GRootCertificate", "MORootCertificate")  # the last two: 2.0.1
OWN_USE = "ChargePointCertificate"


class CertificateError(ValueError):
    """A certificate, chain or signature that is refused; the message says why."""


@dataclass(frozen=True)
class HashData:
    """OCPP CertificateHashDataType: SHA-256 of the issuer name and key, and the serial."""

    issuer_name_hash: str
    issuer_key_hash: str
    serial_number: str
    hash_algorithm: str = "SHA256"

    @classmethod
    def of(cls, cert: x509.Certificate, issuer: x509.Certificate | None = None) -> HashData:
        from cryptography.hazmat.primitives import hashes

        issuer = issuer or cert  # a root is its own issuer
        name_hash = hashes.Hash(hashes.SHA256())
        name_hash.update(issuer.subject.public_bytes())
        key_hash = hashes.Hash(hashes.SHA256())
        key_hash.update(_public_key_bits(issuer))
        return cls(name_hash.finalize().hex(), key_hash.finalize().hex(), format(cert.serial_number, "x"))

    def to_wire(self) -> dict[str, str]:
        return {"hashAlgorithm": self.hash_algorithm, "issuerNameHash": self.issuer_name_hash,
                "issuerKeyHash": self.issuer_key_hash, "serialNumber": self.serial_number}

    def matches(self, wire: dict[str, str]) -> bool:
        return (wire.get("issuerNameHash", "").lower() == self.issuer_name_hash
                and wire.get("issuerKeyHash", "").lower() == self.issuer_key_hash
                and wire.get("serialNumber", "").lower().lstrip("0") == self.serial_number.lstrip("0"))


def _public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey bits (what OCSP-style issuer key hashes are taken over)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pem_chain(pem: str | bytes) -> list[x509.Certificate]:
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise CertificateError(f"not a PEM certificate: {exc}") from None
    if not certs:
        raise CertificateError("no certificate in the PEM data")
    return certs


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_validity(cert: x509.Certificate, what: str = "certificate") -> None:
    now = _now()
    if now < cert.not_valid_before_utc:
        raise CertificateError(f"the {what} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z")
    if now > cert.not_valid_after_utc:
        raise CertificateError(f"the {what} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z")


def verify_chain(chain: list[x509.Certificate], roots: list[x509.Certificate]) -> None:
    """Each certificate issued by the next, the last by one of `roots`, all within their dates."""
    if not roots:
        raise CertificateError("no root certificate to verify the chain against")
    for cert in chain:
        check_validity(cert)
    for child, parent in itertools.pairwise(chain):
        _issued_by(child, parent)
    last = chain[-1]
    for root in roots:
        if last == root:
            return
        try:
            _issued_by(last, root)
            return
        except CertificateError:
            continue
    raise CertificateError(f"{last.issuer.rfc4514_string()} is not an installed root certificate")


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> None:
    from cryptography.exceptions import InvalidSignature

    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError) as exc:
        raise CertificateError(f"{child.subject.rfc4514_string()} is not signed by "
                               f"{parent.subject.rfc4514_string()} ({exc or 'bad signature'})") from None


def verify_signature(data: bytes, signature_b64: str, signing_cert: x509.Certificate) -> None:
    """A firmware image's signature (base64, SHA-256 with RSA PKCS#1 v1.5 or ECDSA)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise CertificateError("the signature is not base64") from None
    key = signing_cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            raise CertificateError("unsupported signing key type")
    except InvalidSignature:
        raise CertificateError("the firmware signature does not match the image") from None


def describe(use: str, cert: x509.Certificate) -> dict[str, str]:
    """A certificate as people read it (the CP status's `certificates`)."""
    return {"type": use, "subject": cert.subject.rfc4514_string(), "serial": format(cert.serial_number, "x"),
            "valid_until": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z")}


class CertificateStore:
    def __init__(self, directory: Path, max_length: int = 10) -> None:
        self.directory = directory / STORE_DIR
        self.max_length = max_length  # CertificateStoreMaxLength

    def _ensure(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)

    # -- root certificates ----------------------------------------------------------------
    def roots(self, use: str) -> list[x509.Certificate]:
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob(f"{use}-*.pem")):
            try:
                out.extend(load_pem_chain(path.read_bytes()))
            except (OSError, CertificateError) as exc:
                log.warning("ignoring %s: %s", path.name, exc)
        return out

    def roots_pem(self, use: str) -> str:
        roots = self.roots(use)
        if not roots:
            return ""  # (without loading the library: asked before every connection)
        from cp_simu.pki import cert_pem

        return "".join(cert_pem(c).decode() for c in roots)

    def install(self, use: str, pem: str) -> str:
        """InstallCertificate: Accepted, Rejected (not a valid CA certificate, store full) or Failed."""
        from cryptography import x509

        from cp_simu.pki import cert_pem

        try:
            certs = load_pem_chain(pem)
            if len(certs) != 1:
                raise CertificateError("expected exactly one certificate")
            cert = certs[0]
            check_validity(cert)
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if not constraints.ca:
                raise CertificateError("not a CA certificate")
        except (CertificateError, x509.ExtensionNotFound) as exc:
            log.warning("InstallCertificate %s refused: %s", use, exc)
            return "Rejected"
        installed = sum(len(self.roots(u)) for u in ROOT_USES)
        known = any(c == cert for c in self.roots(use))
        if not known and installed >= self.max_length:
            log.warning("InstallCertificate %s refused: the store holds %d certificates (CertificateStoreMaxLength)",
                        use, installed)
            return "Rejected"
        try:
            self._ensure()
            (self.directory / f"{use}-{HashData.of(cert).serial_number}.pem").write_bytes(cert_pem(cert))
        except OSError as exc:
            log.error("cannot store the certificate: %s", exc)
            return "Failed"
        log.info("installed %s %s", use, cert.subject.rfc4514_string())
        return "Accepted"

    def installed(self, use: str) -> list[HashData]:
        return [HashData.of(c) for c in self.roots(use)]

    def delete(self, wire: dict[str, str]) -> str:
        """DeleteCertificate: Accepted, NotFound, or Failed (the charge point's own certificate)."""
        own = self.own_chain()
        if own and HashData.of(own[0], own[1] if len(own) > 1 else None).matches(wire):
            return "Failed"
        if not self.directory.is_dir():
            return "NotFound"
        for path in sorted(self.directory.glob("*-*.pem")):
            try:
                cert = load_pem_chain(path.read_bytes())[0]
            except (OSError, CertificateError):
                continue
            if HashData.of(cert).matches(wire):
                path.unlink()
                log.info("deleted %s", path.name)
                return "Accepted"
        return "NotFound"

    # -- the charge point's own certificate -----------------------------------------------
    def new_csr(self, cp_id: str, organization: str) -> str:
        """A CSR (PEM) for a new key pair, whose private key waits in the store (0600)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        from cp_simu.pki import key_pem, new_key, write_private

        key = new_key()
        self._ensure()
        write_private(self.directory / PENDING_KEY, key_pem(key))
        attributes = [x509.NameAttribute(NameOID.COMMON_NAME, cp_id)]
        if organization:
            attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def accept_signed(self, chain_pem: str, cp_id: str, roots: list[x509.Certificate]) -> None:
        """CertificateSigned: the chain must belong to the pending key, name this charge point and
        chain to a trusted root; then it becomes the client certificate. CertificateError if not."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.x509.oid import NameOID

        from cp_simu.pki import cert_pem

        pending = self.directory / PENDING_KEY
        if not pending.is_file():
            raise CertificateError("no certificate signing request is pending")
        chain = load_pem_chain(chain_pem)
        key = serialization.load_pem_private_key(pending.read_bytes(), password=None)
        if chain[0].public_key() != key.public_key():
            raise CertificateError("the certificate is not for the key of the pending CSR")
        names = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not names or names[0].value != cp_id:
            raise CertificateError(f"the certificate's CN is not the charge point id {cp_id!r}")
        verify_chain(chain, roots)
        (self.directory / OWN_CERT).write_bytes(b"".join(cert_pem(c) for c in chain))
        pending.replace(self.directory / OWN_KEY)
        log.info("new charge point certificate, serial %x, valid until %s", chain[0].serial_number,
                 chain[0].not_valid_after_utc.isoformat())

    def own_chain(self) -> list[x509.Certificate]:
        path = self.directory / OWN_CERT
        try:
            return load_pem_chain(path.read_bytes()) if path.is_file() else []
        except (OSError, CertificateError):
            return []

    def summary(self) -> list[dict[str, str]]:
        """Every certificate held, for people to read: use, subject, serial, expiry."""
        if not self.directory.is_dir():
            return []  # (none installed yet: one look, not one per kind)
        held = [(use, cert) for use in ROOT_USES for cert in self.roots(use)]
        own = self.own_chain()
        if own:
            held.append((OWN_USE, own[0]))
        return [describe(use, cert) for use, cert in held]

    def own_files(self) -> tuple[str, str] | None:
        """(certificate, key) paths of the signed client certificate, None before one is accepted."""
        cert, key = self.directory / OWN_CERT, self.directory / OWN_KEY
        return (str(cert), str(key)) if cert.is_file() and key.is_file() else None
