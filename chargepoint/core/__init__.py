"""Plumbing of a charge point process: connection, persistence, configuration, logs."""
