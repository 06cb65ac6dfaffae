"""Throwaway PKIs and the demo CSMS in its security modes, for the security profile tests."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from cp_simu.pki import Authority, cert_pem, create_demo_pki, key_pem, new_key, write_private

PASSWORD = "a-sixteen-char-password"


@dataclass
class Pki:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    def client(self, cp_id: str) -> tuple[Path, Path]:
        return self.directory / f"{cp_id}.pem", self.directory / f"{cp_id}.key"

    def authority(self) -> Authority:
        return Authority.load(self.directory / "ca.pem", self.directory / "ca.key")

    def server(self, name: str, *, names: tuple[str, ...], days: int = 30,
               not_before: dt.datetime | None = None) -> tuple[Path, Path]:
        """Another server certificate from this CA (e.g. for the wrong host, or expired)."""
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
        cert = self.authority().issue(key.public_key(), subject, server_names=names, days=days,
                                      not_before=not_before)
        (self.directory / f"{name}.pem").write_bytes(cert_pem(cert))
        write_private(self.directory / f"{name}.key", key_pem(key))
        return self.directory / f"{name}.pem", self.directory / f"{name}.key"


def self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed server certificate for `host` (as a lab CSMS would have), and its key."""
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "self.pem").write_bytes(cert_pem(cert))
    write_private(directory / "self.key", key_pem(key))
    return directory / "self.pem", directory / "self.key"


def make_pki(directory: Path, *cp_ids: str) -> Pki:
    create_demo_pki(directory, cp_ids)
    return Pki(directory)


def password_file(directory: Path, **passwords: str) -> Path:
    path = directory / "passwords.json"
    path.write_text(json.dumps(passwords))
    return path


def events(csms: Any, event: str, cp_id: str = "CP1") -> list[dict[str, Any]]:
    """Connection events (connected, refused…) of the demo CSMS's journal."""
    if not csms.log.exists():
        return []
    out = []
    for line in csms.log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == event and entry.get("cp_id") == cp_id:
            out.append(entry)
    return out
