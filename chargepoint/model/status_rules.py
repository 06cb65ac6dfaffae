"""Which connector status may follow which: the OCPP 1.6 transition table (section 4.9).

A connector's status is derived from its facts, so one input can change it to a status the
table does not allow next (a remote start with the car still plugged: Finishing to
Charging). `announced_path` gives the statuses to announce instead: through Preparing or
Available, the statuses a real charge point passes on its way, never through a status that
would claim a fact (Faulted, Charging…).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum


class ConnectorState(StrEnum):
    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


S = ConnectorState
_IN_SESSION = frozenset({S.CHARGING, S.SUSPENDED_EV, S.SUSPENDED_EVSE})

# from -> the statuses allowed next (OCPP 1.6 edition 2, section 4.9, connectors > 0)
OCPP16_TRANSITIONS: dict[ConnectorState, frozenset[ConnectorState]] = {
    S.AVAILABLE: _IN_SESSION | {S.PREPARING, S.RESERVED, S.UNAVAILABLE, S.FAULTED},
    S.PREPARING: _IN_SESSION | {S.AVAILABLE, S.FINISHING, S.FAULTED},
    S.CHARGING: frozenset({S.AVAILABLE, S.SUSPENDED_EV, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE, S.FAULTED}),
    S.SUSPENDED_EV: frozenset({S.AVAILABLE, S.CHARGING, S.SUSPENDED_EVSE, S.FINISHING, S.UNAVAILABLE, S.FAULTED}),
    S.SUSPENDED_EVSE: frozenset({S.AVAILABLE, S.CHARGING, S.SUSPENDED_EV, S.FINISHING, S.UNAVAILABLE, S.FAULTED}),
    S.FINISHING: frozenset({S.AVAILABLE, S.PREPARING, S.UNAVAILABLE, S.FAULTED}),
    S.RESERVED: frozenset({S.AVAILABLE, S.PREPARING, S.UNAVAILABLE, S.FAULTED}),
    S.UNAVAILABLE: _IN_SESSION | {S.AVAILABLE, S.PREPARING, S.FAULTED},
    S.FAULTED: frozenset(set(S) - {S.FAULTED}),
}

# What may be announced on the way, in order of preference: they claim no session or fault.
_STEPPING_STONES = (S.PREPARING, S.AVAILABLE)


def announced_path(old: ConnectorState, new: ConnectorState) -> list[ConnectorState]:
    """The statuses to announce, in order, to go from `old` to `new` (ending with `new`)."""
    if new in OCPP16_TRANSITIONS[old]:
        return [new]
    came_from: dict[ConnectorState, ConnectorState] = {}
    queue = deque([old])
    while queue:
        status = queue.popleft()
        if new in OCPP16_TRANSITIONS[status]:
            path = [new, status]
            while path[-1] != old:
                path.append(came_from[path[-1]])
            return path[-2::-1]
        for stone in _STEPPING_STONES:
            if stone in OCPP16_TRANSITIONS[status] and stone not in came_from and stone != old:
                came_from[stone] = status
                queue.append(stone)
    return [new]  # no allowed way (none is known): say where it is
