"""OCPP 2.0.1 adapter: the device model, provisioning and the 2.0.1 glue over the shared domain model."""
