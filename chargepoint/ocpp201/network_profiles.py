"""OCPP 2.0.1 network connection profiles (A05, B09): the slots SetNetworkProfile fills, the
order NetworkConfigurationPriority gives, and the fallback to the next slot when one fails.

Slot data is kept in `network_profiles.json` of the instance directory (mode 0600: an APN or
VPN password may be in it). A slot nobody set is the station's own configuration (the
definition's `central_system` and the [Security] profile), so priority "1" behaves as before.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cp_simu.config import atomic_write
from cp_simu.models import PayloadError, validate_central_system

log = logging.getLogger(__name__)

PROFILES_FILE = "network_profiles.json"


@dataclass(frozen=True)
class Slot:
    number: int
    url: str  # the CSMS URL, without the station id
    security_profile: int


class NetworkProfiles:
    def __init__(self, directory: Path) -> None:
        self.path = directory / PROFILES_FILE
        self._slots: dict[int, dict[str, Any]] = {}
        self.current: int | None = None  # the slot of the connection being tried / in use
        self._failures = 0
        try:
            stored = json.loads(self.path.read_text()) if self.path.exists() else {}
            self._slots = {int(k): v for k, v in stored.items() if isinstance(v, dict)}
        except (OSError, ValueError) as exc:
            log.error("ignoring %s: %s", self.path, exc)

    def check(self, slot: int, data: dict[str, Any], current_profile: int) -> str | None:
        """Why SetNetworkProfile must be Rejected, None when it can be stored."""
        if slot < 1:
            return f"configuration slot {slot} does not exist"
        if data.get("ocppVersion") != "OCPP20" or data.get("ocppTransport") != "JSON":
            return "only OCPP20 over JSON is supported"
        try:
            validate_central_system(str(data.get("ocppCsmsUrl", "")), "ocppCsmsUrl")
        except PayloadError as exc:
            return str(exc)
        profile = data.get("securityProfile")
        if not isinstance(profile, int) or not 0 <= profile <= 3:
            return "securityProfile must be 0-3"
        if profile < current_profile:
            return f"security profile {profile} is lower than the one in use ({current_profile})"
        if slot == self.current:
            return f"slot {slot} is the one in use"
        return None

    def store(self, slot: int, data: dict[str, Any], own_url: str, own_profile: int) -> None:
        """Keep a slot. The first one set also writes down slot 1 as the station is configured
        now (its URL and profile), so falling back to it keeps meaning what it meant."""
        if 1 not in self._slots and slot != 1:
            self._slots[1] = {"ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": own_url,
                              "messageTimeout": 30, "securityProfile": own_profile, "ocppInterface": "Wired0"}
        self._slots[slot] = dict(data)
        atomic_write(self.path, json.dumps({str(k): v for k, v in sorted(self._slots.items())}, indent=1))

    def slot(self, number: int, own_url: str, own_profile: int) -> Slot:
        """A slot's URL and profile (an unset slot 1: the station's own configuration)."""
        data = self._slots.get(number)
        if data is None:
            return Slot(number, own_url, own_profile)
        return Slot(number, str(data["ocppCsmsUrl"]), int(data["securityProfile"]))

    def restart(self) -> None:
        """After a reboot the first slot of NetworkConfigurationPriority is tried first."""
        self.current, self._failures = None, 0

    def next_slot(self, priority: list[int], attempts: int) -> int:
        """The slot to try now: the current one until it failed `attempts` times in a row,
        then the next in `priority` (round robin); the first one at start."""
        order = [n for n in priority if n == 1 or n in self._slots] or [1]
        if self.current not in order:
            self.current, self._failures = order[0], 0
        elif self._failures >= attempts:
            following = order[(order.index(self.current) + 1) % len(order)]
            log.warning("network profile slot %d failed %d times: trying slot %d", self.current,
                        self._failures, following)
            self.current, self._failures = following, 0
        return self.current

    def failed(self) -> None:
        self._failures += 1

    def connected(self) -> None:
        self._failures = 0
