"""Colours of charge point and connector states, shared by the fleet list and the cards.

Plain hex strings (no Qt import) so the mapping is one table a reader can check at a glance.
"""

from __future__ import annotations

# CP registration state -> (background, text)
CP_STATE_COLOURS: dict[str, tuple[str, str]] = {
    "Accepted": ("#d4edda", "#155724"),
    "Pending": ("#fff3cd", "#7a5b00"),
    "Rejected": ("#f8d7da", "#721c24"),
    "Disconnected": ("#e2e3e5", "#383d41"),
    "Dead": ("#3b3f45", "#f1f3f5"),
}
UNKNOWN_COLOURS = ("#ffffff", "#6c757d")

# OCPP connector status -> badge background (text is white on all of them)
CONNECTOR_COLOURS: dict[str, str] = {
    "Available": "#2e9e4f",
    "Preparing": "#1795a8",
    "Charging": "#1565c0",
    "SuspendedEV": "#e67700",
    "SuspendedEVSE": "#b8860b",
    "Finishing": "#6f42c1",
    "Reserved": "#0f9d8a",
    "Unavailable": "#6c757d",
    "Faulted": "#c62828",
}
CONNECTOR_UNKNOWN = "#9e9e9e"

# Broker / launcher indicators
INDICATOR_COLOURS: dict[str, str] = {
    "connected": "#2e9e4f", "Alive": "#2e9e4f",
    "connecting": "#e67700", "reconnecting": "#e67700",
    "disconnected": "#9e9e9e", "unknown": "#9e9e9e",
    "Dead": "#c62828",
}


def cp_colours(state: str) -> tuple[str, str]:
    return CP_STATE_COLOURS.get(state, UNKNOWN_COLOURS)


def connector_colour(status: str) -> str:
    return CONNECTOR_COLOURS.get(status, CONNECTOR_UNKNOWN)


def badge_css(background: str, foreground: str = "#ffffff") -> str:
    """Style sheet of a rounded status badge (QLabel)."""
    return (f"background-color: {background}; color: {foreground}; border-radius: 4px; "
            "padding: 2px 8px; font-weight: bold;")
