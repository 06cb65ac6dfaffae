"""Setup files in the reference supervisor's exact shape, both ways.

The reference launcher reads `max_setpoint`, `max_setpoint_per_connector`, `nb_phases` and
`nb_connectors` as JSON integers, so whole numbers are written without a fraction, and each
entry carries the `smart_charge_enabled` flag the reference supervisor writes. Files of the
older reference (`max_current`, `max_current_per_connector`) load too.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cp_simu import redact
from cp_simu.models import ChargePointDefinition, PayloadError, Setup, decode_object
from supervisor.fleet_model import Fleet

_LEGACY_KEYS = {"max_current": "max_setpoint", "max_current_per_connector": "max_setpoint_per_connector"}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def reference_entry(definition: ChargePointDefinition) -> dict[str, Any]:
    """A start entry as the reference supervisor saves it, plus our additive keys."""
    entry: dict[str, Any] = {
        "id": definition.id, "type": definition.type, "vendor": definition.vendor,
        "model": definition.model, "serial": definition.serial, "nb_phases": definition.nb_phases,
        "nb_connectors": definition.nb_connectors, "max_setpoint": _number(definition.max_setpoint),
        "voltage": float(definition.voltage), "smart_charge_enabled": True,
        "max_setpoint_per_connector": _number(definition.max_setpoint_per_connector),
        "central_system": definition.central_system, "ocpp_version": definition.ocpp_version,
    }
    return {**definition.extra, **entry}


def fleet_setup(fleet: Fleet, started: Mapping[str, ChargePointDefinition] | None = None, *,
                secrets: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The setup document of every CP with a known definition, and why others were left out.

    A CP status carries no security settings: those of the CPs this supervisor `started`
    come from their definitions. Passwords (basic auth, a CSMS URL's) are left out unless
    `secrets` is asked for."""
    entries, skipped = [], []
    for entry in fleet.cps.values():
        try:
            saved = reference_entry(entry.definition())
        except PayloadError as exc:
            skipped.append(str(exc))
            continue
        known = (started or {}).get(entry.id)
        if known is not None:
            saved = {**known.extra, **saved, "central_system": known.central_system}
        entries.append(saved if secrets else _without_secrets(saved))
    return {"charge_points": entries}, skipped


def _without_secrets(entry: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in entry.items() if not redact.is_secret_key(k)}
    if isinstance(kept.get("central_system"), str):
        kept["central_system"] = redact.url(kept["central_system"])
    return kept


def save_setup(fleet: Fleet, path: Path, started: Mapping[str, ChargePointDefinition] | None = None, *,
               secrets: bool = False) -> tuple[int, list[str]]:
    """Write the fleet's setup to `path`; (number saved, problems). A file with passwords is
    readable by its owner only."""
    document, skipped = fleet_setup(fleet, started, secrets=secrets)
    if secrets:
        path.touch(mode=0o600)
        path.chmod(0o600)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return len(document["charge_points"]), skipped


def read_setup(path: Path) -> Setup:
    """A setup file's definitions (and the launcher it names); PayloadError naming every bad
    entry, OSError if unreadable."""
    data = decode_object(path.read_bytes(), f"setup file {path.name}")
    entries = data.get("charge_points")
    if isinstance(entries, list):
        data["charge_points"] = [_modernise(e) for e in entries]
    setup = Setup.parse(json.dumps(data))
    repeated = sorted(i for i, n in Counter(d.id for d in setup.charge_points).items() if n > 1)
    if repeated:
        raise PayloadError(f"charge_points: id repeated: {', '.join(repeated)}")
    return setup


def _modernise(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    renamed = {_LEGACY_KEYS[k]: v for k, v in entry.items() if k in _LEGACY_KEYS
               and _LEGACY_KEYS[k] not in entry}
    return {**{k: v for k, v in entry.items() if k not in _LEGACY_KEYS}, **renamed}
