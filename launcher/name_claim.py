"""One launcher per name on a broker, the unnamed one included: two launchers on the same
topics (two hosts given the same `--name`, or two unnamed launchers) would both obey every
command and start each charge point twice.

Before it announces itself, a launcher reads the retained status and info of its own topics:
`Alive` there means another launcher of that name (or another unnamed one) serves the broker,
unless that info names this host and a process that is gone (an `Alive` whose will never
fired, e.g. a broker restarted with persistence after the launcher died). A broker that does
not answer yet is waited for (its retries said on stderr, as the launcher's own are): a
launcher that went ahead would announce itself over the other one's status once it came.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

import psutil

from cp_simu.broker_access import BrokerAccess
from cp_simu.models import LauncherStatus
from cp_simu.mqtt import Message, MqttClient
from cp_simu.topics import LauncherTopics

log = logging.getLogger(__name__)

REFUSAL_CHECK = 0.5  # s between two looks at whether the broker refused us (credentials)
RETAINED_WAIT = 0.5  # retained messages follow the subscription at once; none may exist


def other_launcher(access: BrokerAccess, own: LauncherTopics) -> str:
    """Who else serves `own`'s topics now, else ""."""
    label = f"'{own.name}'" if own.name else "(unnamed)"
    seen: dict[str, bytes] = {}
    status_seen, info_seen = threading.Event(), threading.Event()

    def keep(msg: Message) -> None:
        seen[msg.topic] = msg.payload
        (status_seen if msg.topic == own.status else info_seen).set()

    client = MqttClient(access, f"ocpp-simu-launcher-check-{socket.gethostname()[:20]}-{os.getpid()}")
    client.subscribe(own.status, keep)
    client.subscribe(own.info, keep)
    client.start()
    try:
        while not client.connected.wait(REFUSAL_CHECK):
            if client.refusal:  # the launcher's own connection will say so, and keep trying
                log.warning("cannot check that no other launcher %s runs (the broker refused: %s)",
                            label, client.refusal)
                return ""
        if status_seen.wait(RETAINED_WAIT) and seen[own.status] == LauncherStatus.ALIVE.value.encode():
            info_seen.wait(RETAINED_WAIT)
        else:
            return ""
    finally:
        client.stop()
    try:
        info = json.loads(seen.get(own.info) or b"{}")
    except (ValueError, RecursionError):  # not what a launcher publishes: whose it is stays unknown
        info = {}
    host, pid = (info.get("host"), info.get("pid")) if isinstance(info, dict) else (None, None)
    if host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and _gone(pid):
        log.info("launcher %s (pid %d of this host) is gone though its status says Alive", label, pid)
        return ""
    who, fix = ((f"a launcher named '{own.name}'", "give this one another --name") if own.name else
                ("an unnamed launcher", "both would obey every command: give this one a --name"))
    return (f"{who} is already Alive on this broker (host {host or '?'}, pid {pid or '?'}); {fix}, or, if "
            f"that launcher is really gone, clear its retained status (mosquitto_pub -r -n -t {own.status})")


def _gone(pid: int) -> bool:
    """No such process, or one that exited and waits to be reaped (its will may still be on its way)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:  # another user's: it runs
        return False
