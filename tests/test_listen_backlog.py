"""The demo CSMS and the embedded broker queue a boot storm's connections: a listening socket
with asyncio's default backlog (100) drops some of hundreds of simultaneous connects, which
the charge points' kernels then retry a second or more later."""

from __future__ import annotations

import subprocess

from cp_simu.broker import LISTEN_BACKLOG as BROKER_BACKLOG
from cp_simu.csms.server import LISTEN_BACKLOG as CSMS_BACKLOG


def _listen_backlog(port: int) -> int:
    """The accept queue's size of the socket listening on `port` (`ss`: Send-Q of a LISTEN socket)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return int(out.split()[2])


def _expected(backlog: int) -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return min(backlog, int(f.read()))


def test_the_demo_csms_listens_with_a_deep_accept_queue(csms):
    assert _listen_backlog(csms.port) == _expected(CSMS_BACKLOG) > 100


def test_the_embedded_broker_listens_with_a_deep_accept_queue(amqtt_broker):
    assert _listen_backlog(amqtt_broker.port) == _expected(BROKER_BACKLOG) > 100
