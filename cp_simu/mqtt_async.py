"""Drives a paho-mqtt client from an asyncio loop: no network thread per connection.

paho's own loop (`loop_start`) costs a thread per client; a process hosting a thousand
charge points would run a thousand threads. Here the loop watches the client's socket
(`add_reader` / `add_writer`) and calls paho's `loop_read` / `loop_write`, and one timer per
client runs `loop_misc` (keepalive pings) when paho's next keepalive duty is due, not more
often: an idle client costs one wake-up per ping. The blocking part
of a connection attempt (TCP connect, TLS handshake, CONNECT) runs in the loop's default
executor, a small pool shared by every client of the process; reconnection uses capped
exponential backoff like paho's loop does.

Every callback runs in the `contextvars` context the network was started in, so whatever
the owner keys on a context variable (a packed process's per-charge-point log file) follows
its MQTT events too.

`abort()` is the power cut: the socket closes with no DISCONNECT, so the broker publishes
the client's will, and no reconnection follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import socket
import time
from collections.abc import Callable

import paho.mqtt.client as paho

from cp_simu.failures import connection_failure

log = logging.getLogger(__name__)

MISC_MARGIN = 0.05  # s after a keepalive duty is due that loop_misc runs (a timer may fire a hair early)
MISC_FALLBACK_PER_KEEPALIVE = 3  # loop_misc runs per keepalive period when paho's clock is not readable


class AsyncioNetwork:
    """The network side of one paho client on one asyncio loop (use it on that loop's thread)."""

    def __init__(self, client: paho.Client, loop: asyncio.AbstractEventLoop, *, host: str, port: int,
                 keepalive: int, reconnect_min: float, reconnect_max: float,
                 describe: Callable[[], str]) -> None:
        self._client = client
        self._loop = loop
        self._host, self._port, self._keepalive = host, port, keepalive
        self._delay_min, self._delay_max = max(0.1, reconnect_min), max(reconnect_min, reconnect_max)
        self._delay = self._delay_min
        self._describe = describe  # the broker URL without secrets, for log lines
        self._context = contextvars.Context()
        self._sock: socket.socket | None = None
        self._writing = False
        self._timer: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Future[object] | None = None
        self._running = False
        self._closed = asyncio.Event()
        self._closed.set()
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        # No on_socket_register_write: paho then writes at once when it can; what it could not
        # write is left queued and flush() hands it to the loop.

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Connect soon and stay connected until stop() or abort()."""
        self._context = contextvars.copy_context()
        self._running = True
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive)
        self._loop.call_soon(self._connect, context=self._context)

    def stop(self) -> None:
        """No reconnection from now on; the caller's DISCONNECT then closes the socket."""
        self._running = False
        self._cancel_timer()

    def abort(self) -> None:
        """Drop the connection as a power cut would: no DISCONNECT, so the will fires."""
        self._running = False
        self._cancel_timer()
        sock, self._sock = self._sock, None
        if sock is not None:
            self._unwatch(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._closed.set()

    async def wait_closed(self, timeout: float) -> None:
        """Until the socket is closed (a clean stop's last bytes are written), at most `timeout` s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), timeout)

    def flush(self) -> None:
        """Write what paho queued (publishes from handlers, acks, pings); the loop takes the rest."""
        if self._sock is None or not self._client.want_write():
            return
        self._client.loop_write()
        if self._sock is not None and self._client.want_write() and not self._writing:
            self._writing = True
            self._loop.add_writer(self._sock, self._on_writable)

    # -- connecting ---------------------------------------------------------------------------
    def _connect(self) -> None:
        if not self._running or self._connecting is not None:
            return
        self._connecting = self._loop.run_in_executor(None, self._client.reconnect)
        self._connecting.add_done_callback(self._connect_done, context=self._context)

    def _connect_done(self, attempt: asyncio.Future[object]) -> None:
        self._connecting = None
        if attempt.cancelled():
            return
        exc = attempt.exception()
        if exc is None:  # _watch takes the socket (CONNACK comes through loop_read), or closes it
            return  # when stopped meanwhile
        delay = self._next_delay()
        log.warning("cannot reach broker %s (%s); retrying in %.0fs", self._describe(),
                    connection_failure(exc), delay)
        self._retry(delay)

    def connected(self) -> None:
        """The broker accepted the connection: the next failure starts the backoff anew."""
        self._delay = self._delay_min

    def _next_delay(self) -> float:
        delay = self._delay
        self._delay = min(self._delay_max, self._delay * 2)
        return delay

    def _retry(self, delay: float) -> None:
        if self._running:
            self._cancel_timer()
            self._timer = self._loop.call_later(delay, self._connect, context=self._context)

    # -- socket callbacks (paho calls them; _on_socket_open from the executor's thread) -------
    def _on_socket_open(self, _c: paho.Client, _u: object, sock: socket.socket) -> None:
        self._on_loop(self._watch, sock)

    def _on_loop(self, fn: Callable[[socket.socket], None], sock: socket.socket) -> None:
        """Run `fn` now on the loop's thread, else hand it over to that thread."""
        try:
            here = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            fn(sock)
        elif not self._loop.is_closed():  # (paho closes a dropped client's socket once more when freed)
            self._loop.call_soon_threadsafe(fn, sock, context=self._context)

    def _watch(self, sock: socket.socket) -> None:
        if sock.fileno() < 0:
            return
        if not self._running:  # stopped while connecting: nothing of it may stay open
            with contextlib.suppress(OSError):
                sock.close()
            return
        self._sock = sock
        self._closed.clear()
        self._loop.add_reader(sock, self._on_readable)
        self._schedule_misc()
        self.flush()

    def _on_socket_close(self, _c: paho.Client, _u: object, sock: socket.socket) -> None:
        """paho closes the socket (connection lost, keepalive timeout, clean DISCONNECT)."""
        self._on_loop(self._closed_by_paho, sock)

    def _closed_by_paho(self, sock: socket.socket) -> None:
        if sock is self._sock:
            self._sock = None
            self._unwatch(sock)
        self._closed.set()
        self._cancel_timer()
        if self._running:
            self._retry(self._next_delay())

    def _unwatch(self, sock: socket.socket) -> None:
        with contextlib.suppress(ValueError, OSError):  # a closed socket has no fd any more
            self._loop.remove_reader(sock)
            if self._writing:
                self._loop.remove_writer(sock)
        self._writing = False

    # -- loop callbacks -----------------------------------------------------------------------
    def _on_readable(self) -> None:
        self._client.loop_read()
        self.flush()

    def _on_writable(self) -> None:
        self._client.loop_write()
        if self._sock is not None and not self._client.want_write() and self._writing:
            self._writing = False
            self._loop.remove_writer(self._sock)

    def _schedule_misc(self) -> None:
        self._cancel_timer()
        if self._keepalive > 0:
            self._timer = self._loop.call_later(self._until_keepalive_duty(), self._misc, context=self._context)

    def _until_keepalive_duty(self) -> float:
        """Seconds until `loop_misc` has work: a PINGREQ once `keepalive` s passed without a
        packet out or bytes in, or giving up on a PINGREQ unanswered for `keepalive` s. Read
        from paho 2's own clock (time.monotonic, like the loop's); anything else: a few times
        per keepalive, as paho's own loop would."""
        client, keepalive = self._client, self._keepalive
        try:
            due = min(float(client._last_msg_out), float(client._last_bytes_received)) + keepalive
            if client._ping_t > 0:
                due = min(due, float(client._ping_t) + keepalive)
        except (AttributeError, TypeError, ValueError):
            return max(1.0, keepalive / MISC_FALLBACK_PER_KEEPALIVE)
        return min(keepalive, max(0.0, due - time.monotonic())) + MISC_MARGIN

    def _misc(self) -> None:
        self._timer = None
        if self._sock is None:
            return
        self._client.loop_misc()  # may close the socket (no PINGRESP): _on_socket_close retries
        if self._sock is not None:
            self.flush()
            self._schedule_misc()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
