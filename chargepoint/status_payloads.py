"""The retained MQTT statuses of a charge point and its connectors, built from the model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from chargepoint.model.connector import ConnectorStateMachine
from cp_simu.models import ChargePointDefinition, ConnectorStatus, CpStatus


def cp_status(definition: ChargePointDefinition, status: str, reason: str = "",
              security: Mapping[str, Any] | None = None, *, launcher: str = "") -> CpStatus:
    """`security`: the additive security fields (`security_profile`, `certificates`);
    `launcher`: the name of the launcher that runs the CP ("" = the unnamed one)."""
    return CpStatus.for_definition(definition, os.getpid(), status, reason,
                                   firmware_version=str(definition.extra.get("firmware_version", "")),
                                   launcher=launcher, **(security or {}))


def connector_status(c: ConnectorStateMachine, *, dc: bool, ocpp_status: str) -> ConnectorStatus:
    r = c.meter.read()
    measured = [r.power_w, 0.0, 0.0] if dc else [*r.currents, 0.0, 0.0, 0.0][:3]
    tx = c.transaction
    id_tag = tx.id_tag if tx else (c.authorized[0] if c.authorized else "")
    ev = c.car.ev
    wanted = c.car.consumption if ev is None else tuple(round(a, 3) for a in c.demand)  # the EV model's wish
    return ConnectorStatus(
        status=c.status.value, id_tag=id_tag, max_setpoint=float(c.max_setpoint),
        ocpp_setpoint=round(float(c.ocpp_limit), 3), setpoint=round(c.setpoint, 3),
        consumption_l1=round(measured[0], 3), consumption_l2=round(measured[1], 3),
        consumption_l3=round(measured[2], 3), car_consumption_l1=wanted[0],
        car_consumption_l2=wanted[1], car_consumption_l3=wanted[2],
        car_cable_capacity=c.car.cable, car_ready=c.car.ready, energy_wh=round(r.energy_wh, 1),
        power_w=round(r.power_w, 1),
        transaction_id=tx.transaction_id if tx else None, error_code=c.error_code, ocpp_status=ocpp_status,
        soc=None if ev is None else round(ev.soc_at(r.energy_wh), 2), ev="" if ev is None else ev.spec.name)
