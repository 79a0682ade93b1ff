"""What changed on a unit, for its live page, and the background tasks the unit owns (a lane, an exam vehicle).

`ChangeFeed` is a version number and a condition: every state change bumps
it, and the tablet's event stream waits for a version other than the one it
showed. `OwnedTasks` keeps every task the lane starts, so that stopping the
lane cancels and awaits them all: no fire-and-forget work outlives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class OwnedTasks:
    """The lane's background tasks: started here, cancelled and awaited together on stop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


class ChangeFeed:
    """A version that goes up on every change, and a way to wait for the next one."""

    def __init__(self, tasks: OwnedTasks) -> None:
        self.version = 0
        self._tasks = tasks
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Condition | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the lane's loop (on start): changes from other threads are posted to it."""
        self._loop = loop
        self._changed = asyncio.Condition()

    def bump(self) -> None:
        """A change on the lane's loop."""
        self.version += 1
        cond = self._changed
        if cond is not None:

            async def notify() -> None:
                async with cond:
                    cond.notify_all()

            self._tasks.start(notify())

    def bump_threadsafe(self) -> None:
        """A change seen on another thread (paho's, a command's)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.bump)

    async def wait(self, version: int, timeout: float) -> int:
        """The current version once it differs from `version`, or after `timeout` seconds."""
        assert self._changed is not None, "the lane is not started"
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version != version), timeout)
            except TimeoutError:
                pass
        return self.version
