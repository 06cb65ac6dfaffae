"""Meter readings as the OCPP configuration asks for them: periodic (MeterValueSampleInterval)
and clock-aligned (ClockAlignedDataInterval) MeterValues, triggered ones, and the readings a
transaction keeps for its StopTransaction (StopTxnSampledData, StopTxnAlignedData).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from chargepoint.model.connector import ConnectorStateMachine, Transaction
from chargepoint.model.meter import Sample, estimated_soc

if TYPE_CHECKING:
    from chargepoint.station import Station

TX_DATA_MAX = 50  # readings a transaction keeps for its StopTransaction


class MeterReports:
    def __init__(self, station: Station) -> None:
        self.station = station

    def sample(self, connector: ConnectorStateMachine, context: str, key: str, at: float | None = None
               ) -> Sample | None:
        """A reading of the measurands configuration key `key` lists, dated now or `at`; None
        when it lists none."""
        measurands = tuple(self.station.config.items(key))
        return self.reading(connector, context, measurands, at) if measurands else None

    def reading(self, connector: ConnectorStateMachine, context: str, measurands: tuple[str, ...],
                at: float | None = None) -> Sample:
        """The connector's meter now (or dated `at`), for these measurands."""
        readings = connector.meter.read()
        tx = connector.transaction
        if self.station.definition.is_dc and tx is not None:  # only a DC station talks to the car's BMS
            ev = connector.car.ev
            soc = estimated_soc(readings.energy_wh - tx.meter_start) if ev is None else ev.soc_at(readings.energy_wh)
            readings = replace(readings, soc=soc)
        return Sample(self.station.clock() if at is None else at, context, measurands, readings)

    def record(self, connector: ConnectorStateMachine, context: str, tx: Transaction | None = None,
               at: float | None = None) -> None:
        """A StopTxnSampledData sample kept in the transaction for its StopTransaction; `at`:
        when the reading was the register's (a stop after a power loss: the time last saved)."""
        tx = tx or connector.transaction
        sample = self.sample(connector, context, "StopTxnSampledData", at)
        if sample is not None and tx is not None:
            _keep(tx, sample)

    def trigger(self, connector_id: int | None) -> None:
        """MeterValues (MeterValuesSampledData, context Trigger) for one connector or all."""
        for n, connector in self.station.connectors.items():
            sample = self.sample(connector, "Trigger", "MeterValuesSampledData")
            if sample is not None and connector_id in (None, n):
                self.station.adapter.meter_values(n, connector.transaction, [sample])

    # -- periodic: while a transaction runs -----------------------------------------------
    def arm_sampling(self, n: int, connector: ConnectorStateMachine) -> None:
        tx = connector.transaction
        interval = self.station.config.integer("MeterValueSampleInterval")
        if tx is None or interval <= 0:
            self.station.timers.cancel(f"sample{n}")
        else:
            self.station.timers.set(f"sample{n}", interval, lambda: self._sample_tick(n), key=(tx.ref, interval))

    def _sample_tick(self, n: int) -> None:
        connector = self.station.connectors[n]
        if connector.transaction is not None:
            sample = self.sample(connector, "Sample.Periodic", "MeterValuesSampledData")
            if sample is not None:
                self.station.adapter.meter_values(n, connector.transaction, [sample])
            self.record(connector, "Sample.Periodic")
        self.station.touch(n, save=True)

    # -- clock-aligned: for every connector -----------------------------------------------
    def arm_aligned(self) -> None:
        interval = self.station.config.integer("ClockAlignedDataInterval")
        if interval <= 0:
            self.station.timers.cancel("aligned")
            return
        now = self.station.clock()
        self.station.timers.set("aligned", (math.floor(now / interval) + 1) * interval - now, self._aligned_tick)

    def _aligned_tick(self) -> None:
        """Clock-aligned meter values (MeterValuesAlignedData) for every connector."""
        for n, connector in self.station.connectors.items():
            sample = self.sample(connector, "Sample.Clock", "MeterValuesAlignedData")
            if sample is not None:
                self.station.adapter.meter_values(n, connector.transaction, [sample])
            aligned = self.sample(connector, "Sample.Clock", "StopTxnAlignedData")
            if aligned is not None and connector.transaction is not None:
                _keep(connector.transaction, aligned)
        self.arm_aligned()


def _keep(tx: Transaction, sample: Sample) -> None:
    """A reading for the StopTransaction: Transaction.Begin and the most recent ones."""
    tx.data.append(sample.to_dict())
    if len(tx.data) > TX_DATA_MAX:
        del tx.data[1]
