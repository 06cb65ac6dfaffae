"""A charge point's security: how the next connection is secured, profile upgrades with
fallback, its certificates, and the security events and log.

Version-neutral: the protocol adapter asks `transport()` before every connection attempt
and reports the outcome (`connected`, `connection_failed`); its handlers call the
certificate operations and `check_profile` / `raise_profile`. The profile and the Basic auth password live
in the OCPP configuration (SecurityProfile, AuthorizationKey), persisted in [Security].
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from websockets.exceptions import InvalidStatus

from chargepoint.core.certificates import (
    CSMS_ROOT,
    MANUFACTURER_ROOT,
    OWN_USE,
    CertificateError,
    CertificateStore,
    describe,
    load_pem_chain,
    verify_chain,
    verify_signature,
)
from chargepoint.core.message_log import utc_iso
from chargepoint.core.ocpp_config import ChangeResult, OcppConfiguration
from chargepoint.core.transport_security import SecurityConfigError, TransportSecurity
from cp_simu import failures
from cp_simu.config import ocpp_integer
from cp_simu.security_settings import SecuritySettings

log = logging.getLogger(__name__)

SECURITY_LOG = "security.log"
UPGRADE_ATTEMPTS = 3  # failed connections with a new profile before falling back to the previous one
MAX_PENDING_EVENTS = 100


@dataclass(frozen=True)
class SecurityEvent:
    type: str
    timestamp: str
    tech_info: str = ""


class Security:
    def __init__(self, directory: Path, cp_id: str, settings: SecuritySettings, config: OcppConfiguration,
                 fallback_ca_file: str = "") -> None:
        self.cp_id = cp_id
        self.directory = directory  # the instance directory, where security files are kept
        self.settings = settings
        self.config = config
        self.ca_file = settings.ca_file or fallback_ca_file
        self.store = CertificateStore(directory, config.integer("CertificateStoreMaxLength", 10))
        self.log_path = directory / SECURITY_LOG
        self.pending_events: list[SecurityEvent] = []
        self.event_listeners: list[Callable[[], None]] = []  # an event waits to be sent
        self.changed_listeners: list[Callable[[], None]] = []  # the profile or the certificates changed
        self._trial: tuple[int, int] | None = None  # (new profile, previous) until a connection succeeds
        self._trial_failures = 0
        self._held: list[dict[str, str]] | None = None  # the certificates held, read until they change
        if settings.tls_skip_hostname_check:
            log.warning("tls_skip_hostname_check is on: the CSMS certificate's host name is not checked "
                        "(lab use only)")
        if settings.tls_allow_self_signed:
            log.warning("tls_allow_self_signed is on: a self-signed CSMS certificate is trusted (lab use only)")

    @property
    def profile(self) -> int:
        return self.config.integer("SecurityProfile")

    def status_fields(self) -> dict[str, Any]:
        """What the CP status shows: the profile in use and the certificates it holds (the
        configured client certificate until the CSMS signed one). The certificates are read
        from the store once, then again only after they changed: every status publication
        asks for them, and reading them takes a directory scan and a parse of each file."""
        if self._held is None:
            self._held = self.store.summary()
            if self.store.own_files() is None and self.settings.client_cert:
                try:
                    configured = load_pem_chain(Path(self.settings.client_cert).read_bytes())[0]
                    self._held.append(describe(OWN_USE, configured))
                except (OSError, CertificateError) as exc:
                    log.warning("cannot read client_cert %s: %s", self.settings.client_cert, exc)
        return {"security_profile": self.profile, "certificates": list(self._held)}

    def _changed(self) -> None:
        self._held = None
        for listener in self.changed_listeners:
            listener()

    # -- the next connection --------------------------------------------------------------
    def transport(self) -> TransportSecurity:
        own = self.store.own_files()
        cert, key = own or (self.settings.client_cert, self.settings.client_key)
        return TransportSecurity(
            profile=self.profile, cp_id=self.cp_id, password=self.config.get("AuthorizationKey"),
            ca_pem=self._trusted_pem(), client_cert=cert, client_key=key,
            skip_hostname_check=self.settings.tls_skip_hostname_check,
            allow_self_signed=self.settings.tls_allow_self_signed)

    def _trusted_pem(self) -> str:
        """The configured CA bundle and every installed CentralSystemRootCertificate."""
        configured = ""
        if self.ca_file:
            try:
                configured = Path(self.ca_file).read_text()
            except OSError as exc:
                log.error("cannot read ca_file %s: %s", self.ca_file, exc.strerror)
        return configured + self.store.roots_pem(CSMS_ROOT)

    def connected(self) -> None:
        if self._trial is not None:
            log.warning("connected with security profile %d", self._trial[0])
            self._trial = None

    def connection_failed(self, exc: BaseException) -> None:
        """Record a failed attempt (a security event when security made it fail). After
        UPGRADE_ATTEMPTS failures with a new profile, the previous profile comes back."""
        why = failures.connection_failure(exc)
        if isinstance(exc, ssl.SSLCertVerificationError):
            self.event("InvalidCentralSystemCertificate", why)
        elif isinstance(exc, ssl.SSLError) and failures.tls_version_refused(exc):
            self.event("InvalidTLSVersion", why)
        elif isinstance(exc, InvalidStatus) and exc.response.status_code == 401:
            self.event("FailedToAuthenticateAtCentralSystem", why)
        if self._trial is not None:
            self._trial_failures += 1
            if self._trial_failures >= UPGRADE_ATTEMPTS:
                new, previous = self._trial
                self._trial = None
                self.config.change("SecurityProfile", str(previous))
                log.error("security profile %d failed %d times (%s): back to profile %d", new,
                          UPGRADE_ATTEMPTS, why, previous)
                self._changed()
                self.event("ReconfigurationOfSecurityParameters",
                           f"fell back from security profile {new} to {previous}")

    # -- profile changes ------------------------------------------------------------------
    def check_profile(self, value: str) -> ChangeResult:
        """ChangeConfiguration(SecurityProfile): only upwards, and only to a profile whose
        credentials are there (password for 1-2, trusted CA for 2-3, client certificate for 3)."""
        new = ocpp_integer(value)
        if new is None or not 0 <= new <= 3 or new < self.profile:
            return ChangeResult.REJECTED
        candidate = replace(self.transport(), profile=new)
        try:
            candidate.check()
        except SecurityConfigError as exc:
            log.warning("SecurityProfile %d refused: %s", new, exc)
            return ChangeResult.REJECTED
        if new >= 2 and not candidate.ca_pem:
            log.warning("SecurityProfile %d refused: no CentralSystemRootCertificate installed nor ca_file", new)
            return ChangeResult.REJECTED
        return ChangeResult.ACCEPTED

    def raise_profile(self, value: str) -> bool:
        """Switch to the accepted profile; True when the connection must be renewed."""
        previous, new = self.profile, int(value)
        if new == previous:
            return False
        self.config.change("SecurityProfile", str(new))
        self._trial, self._trial_failures = (new, previous), 0
        log.warning("security profile %d -> %d: reconnecting", previous, new)
        self.event("ReconfigurationOfSecurityParameters", f"security profile {previous} -> {new}")
        self._changed()
        return True

    # -- certificates ---------------------------------------------------------------------
    def install_certificate(self, use: str, pem: str) -> str:
        status = self.store.install(use, pem)
        if status == "Accepted":
            self._changed()
        return status

    def installed_certificates(self, use: str) -> list[dict[str, str]]:
        return [h.to_wire() for h in self.store.installed(use)]

    def delete_certificate(self, hash_data: dict[str, str]) -> str:
        status = self.store.delete(hash_data)
        if status == "Accepted":
            self._changed()
        return status

    def new_csr(self) -> str:
        return self.store.new_csr(self.cp_id, self.config.get("CpoName"))

    def certificate_signed(self, chain_pem: str) -> bool:
        """Accepted when the chain is for the pending key and chains to a trusted root."""
        try:
            trusted = self._trusted_pem()
            roots = load_pem_chain(trusted) if trusted else []
            self.store.accept_signed(chain_pem, self.cp_id, roots)
        except (CertificateError, OSError, ValueError) as exc:
            log.warning("CertificateSigned refused: %s", exc)
            self.event("InvalidChargePointCertificate", str(exc)[:255])
            return False
        self._changed()
        return True

    def check_firmware_certificate(self, pem: str) -> str:
        """SignedUpdateFirmware: Accepted when the signing certificate chains to an installed
        ManufacturerRootCertificate, else InvalidCertificate (and a security event)."""
        try:
            verify_chain(load_pem_chain(pem), self.store.roots(MANUFACTURER_ROOT))
        except CertificateError as exc:
            log.warning("SignedUpdateFirmware refused: %s", exc)
            self.event("InvalidFirmwareSigningCertificate", str(exc))
            return "InvalidCertificate"
        return "Accepted"

    def firmware_verifier(self, signing_cert_pem: str, signature: str) -> Callable[[Path], str | None]:
        """Checks a downloaded image against the request's signature (a security event if bad)."""
        signing_cert = load_pem_chain(signing_cert_pem)[0]

        def verify(image: Path) -> str | None:
            try:
                verify_signature(image.read_bytes(), signature, signing_cert)
            except (CertificateError, OSError) as exc:
                self.event("InvalidFirmwareSignature", str(exc))
                return str(exc)
            return None
        return verify

    # -- security events ------------------------------------------------------------------
    def event(self, kind: str, tech_info: str = "") -> None:
        """Into security.log at once; to the CSMS (SecurityEventNotification) when online. The
        same event repeated while offline (every failed reconnection) is kept once."""
        event = SecurityEvent(kind, utc_iso(), tech_info[:255])
        last = self.pending_events[-1] if self.pending_events else None
        if last is not None and (last.type, last.tech_info) == (event.type, event.tech_info):
            return
        try:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{event.timestamp} {kind} {event.tech_info}\n")
        except OSError as exc:
            log.warning("cannot write %s: %s", self.log_path, exc)
        self.pending_events = [*self.pending_events, event][-MAX_PENDING_EVENTS:]
        for listener in self.event_listeners:
            listener()

    def next_event(self) -> SecurityEvent | None:
        """The oldest event the CSMS has not acknowledged yet."""
        return self.pending_events[0] if self.pending_events else None

    def event_sent(self, event: SecurityEvent) -> None:
        if self.pending_events and self.pending_events[0] is event:
            self.pending_events.pop(0)
