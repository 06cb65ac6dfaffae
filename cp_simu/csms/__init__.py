"""Demo CSMS (OCPP 1.6 / 2.0.1 Central System) for demos and tests: `ocpp-simu csms`.

Kept independent of the rest of `cp_simu` (stdlib, ocpp, websockets and click only), so it
behaves like any third-party CSMS under test.
"""
