"""OCPP 1.6-J protocol adapter (the only place a 1.6 charge point imports `ocpp.v16`)."""
