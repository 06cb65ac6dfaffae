"""PySide6 desktop supervisor: watch and drive a fleet of simulated charge points over MQTT only."""
