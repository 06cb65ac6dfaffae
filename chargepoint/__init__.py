"""One simulated charge point: domain model, plumbing, protocol adapters and the MQTT API.

`model/` knows nothing of sockets or OCPP versions, `core/` is the plumbing (WebSocket,
offline queue, persistence, configuration), `ocpp16/` maps OCPP 1.6 onto the model, and
`station.py` wires everything for one process.
"""
