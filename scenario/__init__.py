"""Scripted scenarios: a timeline of actions and expectations run against a CSMS (`ocpp-simu scenario`)."""
