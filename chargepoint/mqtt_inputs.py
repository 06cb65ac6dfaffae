"""The MQTT inputs (validated by `MqttApi`) acting on the station: the `InputHandler`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargepoint.model.ev import EvSpec
from cp_simu.models import CarInput, CpCommand, CpCommandType, FaultedInput, IdTagInput

if TYPE_CHECKING:
    from chargepoint.station import Station


class MqttInputs:
    def __init__(self, station: Station) -> None:
        self.station = station

    def on_car(self, connector_id: int, car: CarInput) -> None:
        connector = self.station.connectors[connector_id]
        if car.ev is not None or car.remove_ev:  # first: a car plugged in with it draws as the model says
            connector.set_ev(None if car.ev is None else EvSpec.from_settings(car.ev))
        connector.car_input(
            car.cable, car.ready, (car.consumption_l1, car.consumption_l2, car.consumption_l3))
        self.station.touch(connector_id)

    def on_id_tag(self, connector_id: int, tag: IdTagInput) -> None:
        tag.check_length(self.station.definition.ocpp_version)  # refused on the error topic
        self.station.authorizer.present(connector_id, tag.id, token_type=tag.type)

    def on_faulted(self, connector_id: int, faulted: FaultedInput) -> None:
        self.station.connectors[connector_id].set_fault(faulted.faulted)
        self.station.touch(connector_id, save=True)  # a fault survives a restart

    def on_command(self, command: CpCommand) -> None:
        if command.type is CpCommandType.CLOSE:
            self.station.close()
        elif command.type is CpCommandType.OCPP_CONFIG:
            self.station.mqtt.publish_ocpp_config(self.station.config.dump())
        elif command.auto is not None:
            self.station.auto.configure(command.auto)
        elif command.network is not None:
            self.station.network.apply(command.network)
