"""How one WebSocket connection to the CSMS is secured: OCPP security profiles 0–3.

Profile 0: plain ws. 1: HTTP Basic auth (user = charge point id). 2: TLS 1.2+ verifying
the CSMS certificate (chain to the CA, hostname) plus Basic auth. 3: TLS with the charge
point's client certificate. A wss:// URL is verified the same way under every profile.
What went wrong is told by `cp_simu.failures` (the CP status's `reason`).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

log = logging.getLogger(__name__)
# already announced in the log of that charge point (several may share a process)
_TRUSTED_SELF_SIGNED: set[tuple[str, str, int, bytes]] = set()


class SecurityConfigError(ValueError):
    """The settings cannot make the requested profile (no password, no client certificate…)."""


@dataclass(frozen=True)
class TransportSecurity:
    profile: int = 0
    cp_id: str = ""
    password: str = ""
    ca_pem: str = ""  # trusted CAs (PEM); empty: the system's
    client_cert: str = ""  # PEM file paths
    client_key: str = ""
    skip_hostname_check: bool = False
    allow_self_signed: bool = False

    def check(self) -> None:
        """Raise SecurityConfigError when the profile lacks what it needs."""
        if self.profile in (1, 2) and not self.password:
            raise SecurityConfigError(f"security profile {self.profile} needs a basic auth password "
                                      "(basic_auth_password / AuthorizationKey)")
        if self.profile == 3 and not (self.client_cert and self.client_key):
            raise SecurityConfigError("security profile 3 needs a client certificate and key")

    def target(self, url: str) -> str:
        """Profiles 2 and 3 speak TLS: a ws:// URL becomes wss:// on the same host and port."""
        parts = urlsplit(url)
        if self.profile >= 2 and parts.scheme == "ws":
            return urlunsplit(parts._replace(scheme="wss"))
        return url

    def headers(self) -> dict[str, str]:
        """The Authorization header of profiles 1 and 2 (RFC 7617, UTF-8)."""
        if self.profile not in (1, 2):
            return {}
        token = base64.b64encode(f"{self.cp_id}:{self.password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def ssl_context(self, extra_trusted_pem: str = "") -> ssl.SSLContext:
        """TLS 1.2 or newer, the server verified against the CA (and its name, unless the lab
        switch says otherwise); the client certificate under profile 3."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = not self.skip_hostname_check
        if self.ca_pem:
            context.load_verify_locations(cadata=self.ca_pem)
        else:
            context.load_default_certs()
        if extra_trusted_pem:
            context.load_verify_locations(cadata=extra_trusted_pem)
        if self.profile == 3:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    async def context_for(self, url: str) -> ssl.SSLContext | None:
        """The TLS context for `url` (None for ws://). With `allow_self_signed`, a self-signed
        certificate the server presents is trusted for this connection (name and dates still
        checked); any other certificate must still chain to the CA."""
        parts = urlsplit(url)
        if parts.scheme != "wss":
            return None
        extra = ""
        if self.allow_self_signed:
            extra = await asyncio.to_thread(self._self_signed_server_pem, parts.hostname or "",
                                            parts.port or 443)
        return self.ssl_context(extra)

    def _self_signed_server_pem(self, host: str, port: int) -> str:
        from cryptography import x509  # loaded only for this lab switch (start-up time of every CP)
        from cryptography.exceptions import InvalidSignature

        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        probe.check_hostname = False
        probe.verify_mode = ssl.CERT_NONE
        probe.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.profile == 3:
            probe.load_cert_chain(self.client_cert, self.client_key)
        try:
            with socket.create_connection((host, port), timeout=10) as raw, \
                    probe.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
        except OSError:
            return ""  # the real connection attempt reports the problem
        if not der:
            return ""
        cert = x509.load_der_x509_certificate(der)
        try:
            if cert.issuer != cert.subject:
                return ""
            cert.verify_directly_issued_by(cert)
        except (InvalidSignature, ValueError, TypeError):  # not self-signed: it must chain to the CA
            return ""
        if (self.cp_id, host, port, der) not in _TRUSTED_SELF_SIGNED:
            _TRUSTED_SELF_SIGNED.add((self.cp_id, host, port, der))
            log.warning("tls_allow_self_signed: trusting the self-signed certificate of %s:%d (%s)", host, port,
                        cert.subject.rfc4514_string())
        return ssl.DER_cert_to_PEM_cert(der)
