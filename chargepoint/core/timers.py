"""Named one-shot timers and background tasks on the station's event loop.

A timer exists only while it has work: re-arming one by name replaces it, unless its
`key` says it already waits for the same thing. Tasks end with the process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Timers:
    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None  # set by start(), in the running loop
        self._handles: dict[str, asyncio.TimerHandle] = {}
        self._keys: dict[str, object] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __contains__(self, name: str) -> bool:
        return name in self._handles

    def set(self, name: str, delay: float, callback: Callable[[], object], *, key: object = None) -> None:
        """(Re)arm a named one-shot timer; a running one with an equal non-None `key` is kept."""
        if key is not None and name in self._handles and self._keys.get(name) == key:
            return
        self.cancel(name)
        assert self.loop is not None

        def fire() -> None:
            self._handles.pop(name, None)
            self._keys.pop(name, None)
            callback()
        self._handles[name] = self.loop.call_later(delay, fire)
        self._keys[name] = key

    def cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        self._keys.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task that ends with the process (cancelled by `stop_tasks`)."""
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_failure)
        return task

    async def stop_tasks(self, *others: asyncio.Task[Any]) -> None:
        """Cancel `others` and every spawned task, and wait for them all."""
        for task in (*others, *self._tasks):
            task.cancel()
        await asyncio.gather(*others, *self._tasks, return_exceptions=True)


def log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s failed", task.get_coro().__qualname__, exc_info=task.exception())  # type: ignore[union-attr]
