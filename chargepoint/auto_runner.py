"""Automatic sessions on a running charge point: plays an `AutoSessions` plan.

One timer, armed at the next planned input; each input goes through the same path as the
MQTT inputs (`InputHandler`), so an automatic car behaves exactly like a published one.
Every input applied is appended to `auto.jsonl` in the instance directory and published
(not retained) on `cps/<id>/auto`: two runs with the same seed can be compared line by
line, and whoever drives the CSMS hears the remote starts it is asked for. Nothing is
published while automatic sessions are off.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chargepoint.model.auto_sessions import AutoInput, AutoSessions, InputKind
from chargepoint.model.ev import PRESETS
from cp_simu.models import SEED_MAX, AutoSettings, CarInput, IdTagInput, PayloadError

if TYPE_CHECKING:
    from chargepoint.station import Station

log = logging.getLogger(__name__)

AUTO_LOG_FILE = "auto.jsonl"
TIMER = "auto"


class AutoRunner:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.path: Path = station.directory / AUTO_LOG_FILE
        self.plan: AutoSessions | None = None
        self._started = 0.0  # loop time the plan's offsets count from
        self._next: AutoInput | None = None
        self._plugged: set[int] = set()  # connectors where the plan's car is plugged now

    @property
    def enabled(self) -> bool:
        return self.plan is not None

    def status_fields(self) -> dict[str, Any]:
        """The CP status's `auto` (and the seed in use, to run it again)."""
        return {"auto": self.enabled, **({"auto_seed": self.plan.seed} if self.plan else {})}

    def configure(self, settings: AutoSettings) -> None:
        """Start (again, with these settings) or stop; a stop unplugs the plan's cars."""
        self._stop()
        if settings.enabled:
            seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(SEED_MAX)
            d = self.station.definition
            self.plan = AutoSessions(_for_station(settings, dc=d.is_dc), seed, nb_connectors=d.nb_connectors,
                                     dc=d.is_dc, phases=d.nb_phases, capacity_of=preset_capacity)
            loop = self.station.timers.loop
            assert loop is not None
            self._started = loop.time()
            log.info("automatic sessions on (seed %d)", seed)
            self._write({"event": "enabled", "seed": seed, "settings": settings.with_seed(seed).to_dict()})
            self._arm()
        self.station.publish_status()

    def _stop(self) -> None:
        if self.plan is None:
            return
        self.station.timers.cancel(TIMER)
        for n in sorted(self._plugged):
            self._apply_car(n, {"cable": 0.0})
        self._plugged.clear()
        log.info("automatic sessions off")
        self._write({"event": "disabled", "seed": self.plan.seed})
        self.plan = self._next = None

    def _arm(self) -> None:
        assert self.plan is not None
        loop = self.station.timers.loop
        assert loop is not None
        self._next = next(self.plan)
        self.station.timers.set(TIMER, max(0.0, self._started + self._next.at - loop.time()), self._fire)

    def _fire(self) -> None:
        item = self._next
        assert item is not None
        try:
            self._apply(item)
        except PayloadError as exc:  # e.g. a pool tag too long for OCPP 1.6
            self.station.mqtt.report_error(f"automatic input {item.seq}", str(exc), json.dumps(item.payload))
        record = item.to_dict()
        self._write(record)
        self.station.mqtt.publish_auto(record)
        self._arm()

    def _apply(self, item: AutoInput) -> None:
        n = item.connector
        if item.kind is InputKind.PLUG:
            self._plugged.add(n)
            self._apply_car(n, item.payload)
        elif item.kind is InputKind.UNPLUG:
            self._plugged.discard(n)
            self._apply_car(n, item.payload)
        elif item.kind is InputKind.ID_TAG:
            self.station.mqtt.handler.on_id_tag(n, IdTagInput(str(item.payload["id"])))
        # REMOTE_START: the CSMS is to act; the record published on cps/<id>/auto asks for it

    def _apply_car(self, connector_id: int, payload: Any) -> None:
        """Parsed as the MQTT `car` input is: its `ev` means the same."""
        self.station.mqtt.handler.on_car(connector_id, CarInput.parse(json.dumps(payload)))

    def _write(self, record: dict[str, Any]) -> None:
        stamped = {**record, "time": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds")}
        try:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(stamped, separators=(",", ":")) + "\n")
        except OSError as exc:
            log.warning("cannot write %s: %s", self.path, exc)


def preset_capacity(preset: str) -> float | None:
    """The battery (kWh) of an EV preset: turns a driver's energy need into a target SoC."""
    spec = PRESETS.get(preset)
    return spec.capacity_kwh if spec else None


def _for_station(settings: AutoSettings, *, dc: bool) -> AutoSettings:
    """A DC station gets no car that cannot charge on DC (the plug-in hybrid), unless only those
    were asked for."""
    if not dc:
        return settings
    usable = {p: w for p, w in settings.ev.items() if PRESETS[p].dc_max_power > 0}
    return dataclasses.replace(settings, ev=usable) if usable else settings
