"""The demo CSMS's side of the OCPP security profiles.

A charge point's connection is classified by what it presents: TLS + a client certificate
is profile 3 (its CN must be the charge point id), TLS + Basic auth profile 2, Basic auth
alone profile 1, nothing profile 0. Connections below the CSMS's `--security-profile` are
refused during the HTTP handshake, like wrong passwords (401) and foreign client
certificates (403). With a server certificate, one port serves both ws and wss (the first
byte tells a TLS ClientHello apart), so a charge point can move from profile 1 to 2 and 3
without a new URL. The CA signs charge point CSRs (SignCertificate → CertificateSigned).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cp_simu.pki import Authority, PkiError, cert_pem

LOGGER = logging.getLogger(__name__)
TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a ClientHello
PEEK_TIMEOUT = 10.0


class CsmsSecurityError(ValueError):
    """Settings the CSMS cannot start with; the message says which."""


@dataclass(frozen=True)
class Refusal:
    status: int
    reason: str


def load_passwords(path: Path) -> dict[str, str]:
    """A password table: a JSON object {"CP_1": "password", …} or lines `CP_1 = password`."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise CsmsSecurityError(f"cannot read the password file {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{"):
        try:
            table = json.loads(text)
        except ValueError as exc:
            raise CsmsSecurityError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise CsmsSecurityError(f"{path}: expected an object of charge point id -> password strings")
        return dict(table)
    table = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cp_id, sep, password = line.partition("=")
        if not sep or not cp_id.strip():
            raise CsmsSecurityError(f"{path}:{number}: expected `CP_ID = password`")
        table[cp_id.strip()] = password.strip()
    return table


@dataclass
class CsmsSecurity:
    """Minimum profile, password table, server TLS and the CA that signs CSRs."""

    minimum_profile: int = 0
    passwords: dict[str, str] = field(default_factory=dict)
    server_context: ssl.SSLContext | None = None
    authority: Authority | None = None

    @classmethod
    def configure(cls, minimum_profile: int, password_file: Path | None, cert: Path | None,
                  key: Path | None, ca: Path | None, ca_key: Path | None) -> CsmsSecurity:
        passwords = load_passwords(password_file) if password_file else {}
        if minimum_profile in (1, 2) and not passwords:
            raise CsmsSecurityError(f"security profile {minimum_profile} needs --password-file")
        if minimum_profile >= 2 and not (cert and key):
            raise CsmsSecurityError(f"security profile {minimum_profile} needs a server certificate "
                                    "(--pki DIR or --cert/--key)")
        if minimum_profile == 3 and not ca:
            raise CsmsSecurityError("security profile 3 needs the CA of the client certificates (--ca)")
        context = None
        if cert and key:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            try:
                context.load_cert_chain(cert, key)
                if ca:
                    context.load_verify_locations(cafile=str(ca))
                    context.verify_mode = ssl.CERT_OPTIONAL  # profile 3 presents one, 2 does not
            except (OSError, ssl.SSLError) as exc:
                raise CsmsSecurityError(f"cannot load the TLS certificate/key/CA: {exc}") from None
        authority = None
        if ca and ca_key:
            try:
                authority = Authority.load(ca, ca_key)
            except PkiError as exc:
                raise CsmsSecurityError(str(exc)) from None
        return cls(minimum_profile, passwords, context, authority)

    # -- handshake ---------------------------------------------------------------------------

    def check(self, cp_id: str, authorization: str | None, tls: bool, peer_cn: str | None
              ) -> tuple[int, Refusal | None]:
        """(the profile this connection uses, why it is refused or None)."""
        if peer_cn is not None:
            if peer_cn != cp_id:
                return 3, Refusal(403, f"the client certificate's CN {peer_cn!r} is not {cp_id!r}")
            return 3, None
        profile = 0
        if authorization is not None:
            user, password = _basic_credentials(authorization)
            expected = self.passwords.get(cp_id)
            if user != cp_id or expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
                return 1, Refusal(401, "wrong user or password (HTTP Basic auth)")
            profile = 2 if tls else 1
        if profile < self.minimum_profile:
            if self.minimum_profile == 3:
                return profile, Refusal(403, "this CSMS requires security profile 3 (TLS client certificate)")
            if self.minimum_profile == 2 and not tls:
                return profile, Refusal(403, "this CSMS requires TLS (security profile 2)")
            return profile, Refusal(401, "HTTP Basic auth required")
        return profile, None

    def call_answered(self, cp_id: str, action: str, payload: dict[str, Any], response: dict[str, Any]) -> None:
        """A new password the charge point accepted (1.6 ChangeConfiguration AuthorizationKey,
        2.0.1 SetVariables SecurityCtrlr.BasicAuthPassword) replaces the table's, as the CSMS
        that set it would remember it."""
        password = None
        if action == "ChangeConfiguration" and payload.get("key") == "AuthorizationKey" \
                and response.get("status") == "Accepted":
            password = str(payload.get("value", ""))
        elif action == "SetVariables":
            results = response.get("setVariableResult") or []
            for i, item in enumerate(payload.get("setVariableData") or []):
                if (_names(item) == ("SecurityCtrlr", "BasicAuthPassword") and i < len(results)
                        and results[i].get("attributeStatus") == "Accepted"):
                    password = str(item.get("attributeValue", ""))
        if password is not None:
            self.passwords[cp_id] = password
            LOGGER.info("%s: new Basic auth password", cp_id)

    def sign(self, cp_id: str, csr: str) -> str:
        """The PEM chain (leaf + CA) for a charge point's CSR; PkiError when it cannot be signed."""
        if self.authority is None:
            raise PkiError("no signing CA configured (--pki DIR or --ca/--ca-key)")
        leaf = self.authority.sign_csr(csr, expected_cn=cp_id)
        return (cert_pem(leaf) + cert_pem(self.authority.cert)).decode()


def _names(item: Any) -> tuple[str, str]:
    """(component, variable) names of a 2.0.1 SetVariableData / SetVariableResult."""
    if not isinstance(item, dict):
        return "", ""
    component, variable = item.get("component"), item.get("variable")
    return (str(component.get("name", "")) if isinstance(component, dict) else "",
            str(variable.get("name", "")) if isinstance(variable, dict) else "")


def _basic_credentials(header: str) -> tuple[str, str]:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


@dataclass(frozen=True)
class ClientCertificate:
    common_name: str
    serial: str  # hexadecimal, as OCPP CertificateHashData writes it


def client_certificate(ssl_object: ssl.SSLObject | None) -> ClientCertificate | None:
    """The verified client certificate of a TLS connection, None without one."""
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    if not cert:
        return None
    names = [str(value) for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    return ClientCertificate(names[0] if names else "", str(cert.get("serialNumber", "")).lower().lstrip("0"))


class FrontDoor:
    """One public port for ws and wss: each new connection is piped to the plain or the TLS
    WebSocket server (both on loopback ephemeral ports) after a look at its first byte."""

    def __init__(self, plain_port: int, tls_port: int) -> None:
        self.plain_port, self.tls_port = plain_port, tls_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._pipes):
                task.cancel()
            await asyncio.gather(*self._pipes, return_exceptions=True)
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            first = await asyncio.wait_for(reader.readexactly(1), PEEK_TIMEOUT)
            port = self.tls_port if first[0] == TLS_HANDSHAKE else self.plain_port
            back_reader, back_writer = await asyncio.open_connection("127.0.0.1", port)
            back_writer.write(first)
            await asyncio.gather(_pipe(reader, back_writer), _pipe(back_reader, writer))
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._pipes.discard(task)
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
