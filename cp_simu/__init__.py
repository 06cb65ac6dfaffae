"""ocpp-simu shared contract: MQTT topics and payloads, MQTT client helper, broker, config, CLI."""

__version__ = "0.1.0"
