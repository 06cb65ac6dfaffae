"""Version-neutral meter samples → OCPP 1.6 MeterValue objects (snake_case, as the
`ocpp` library's call dataclasses take them)."""

from __future__ import annotations

from typing import Any

from chargepoint.core.message_log import utc_iso
from chargepoint.model.meter import Sample

PHASES = ("L1", "L2", "L3")


def _number(value: float) -> str:
    return f"{value:.1f}" if value % 1 else str(int(value))


def sampled_values(sample: Sample, dc: bool) -> list[dict[str, Any]]:
    r = sample.readings
    out: list[dict[str, Any]] = []

    def add(measurand: str, value: float, unit: str, phase: str | None = None, location: str = "Outlet") -> None:
        item = {"value": _number(value), "context": sample.context, "format": "Raw",
                "measurand": measurand, "location": location, "unit": unit}
        if phase:
            item["phase"] = phase
        out.append(item)

    for measurand in sample.measurands:
        if measurand == "Energy.Active.Import.Register":
            add(measurand, round(r.energy_wh), "Wh")
        elif measurand == "Power.Active.Import":
            add(measurand, r.power_w, "W")
        elif measurand == "Power.Offered":
            add(measurand, r.offered_power_w, "W")
        elif measurand == "SoC":
            if r.soc is not None:  # AC, or no session: the station does not know it
                add(measurand, round(r.soc), "Percent", location="EV")
        elif measurand == "Current.Offered":
            add(measurand, r.offered / r.voltage if dc else r.offered, "A")
        elif measurand in ("Current.Import", "Voltage"):
            unit = "A" if measurand == "Current.Import" else "V"
            if dc:
                add(measurand, r.currents[0] if unit == "A" else r.voltage, unit)
            else:
                for phase, current in zip(PHASES, r.currents, strict=False):
                    add(measurand, current if unit == "A" else r.voltage, unit,
                        phase if unit == "A" else f"{phase}-N")
    return out


def meter_value(sample: Sample, dc: bool) -> dict[str, Any]:
    return {"timestamp": utc_iso(sample.timestamp), "sampled_value": sampled_values(sample, dc)}
