"""The launcher: starts, kills and restarts charge point processes on MQTT command."""
