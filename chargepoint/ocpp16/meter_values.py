"""Version-neutral meter samples → OCPP 1.6 MeterValue objects (snake_case, as the
`ocpp` library's call dataclasses take them)."""

from __future__ import annotations

from typing import Any

from chargepoint.core.message_log import utc_iso
from chargepoint.model.meter import Sample, measured_values


def _number(value: float) -> str:
    return f"{value:.1f}" if value % 1 else str(int(value))


def sampled_values(sample: Sample, dc: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in measured_values(sample, dc):
        item = {"value": _number(m.value), "context": sample.context, "format": "Raw",
                "measurand": m.measurand, "location": m.location, "unit": m.unit}
        if m.phase:
            item["phase"] = m.phase
        out.append(item)
    return out


def meter_value(sample: Sample, dc: bool) -> dict[str, Any]:
    return {"timestamp": utc_iso(sample.timestamp), "sampled_value": sampled_values(sample, dc)}
