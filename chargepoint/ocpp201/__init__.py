"""OCPP 2.0.1 charging station: the device model, provisioning and the 2.0.1 glue over the shared
domain model (the only place a 2.0.1 station imports `ocpp.v201`)."""
