"""Waiting for a condition by polling, with a deadline that names what was awaited.

For the places where nothing announces the change we wait for (another
process's port, a stage seen through an HTTP API); never a fixed sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy and return that; past the
    deadline raise TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
