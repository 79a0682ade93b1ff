"""SIGTERM and SIGINT for `passlane demo`: a request to stop the whole site, within seconds.

A service manager sends SIGTERM to the demo's process only (its children run in
their own sessions), so the demo must take them down itself, whenever the signal
comes:

- while the site is starting: the start gives up at its next step or readiness
  check, and what has started is stopped;
- while vehicles are driving: the run winds down (vehicles on their way are
  counted as unfinished) and the events are accounted for, briefly; a second
  signal skips the accounting;
- while the site is stopping: the signal is only noted, so the stop itself is
  never cut short and no process is left behind.

The handlers never raise (an exception from a signal handler can land anywhere,
a `finally` included); they only set flags and call back. They are installed
with `signal.signal` for the demo's whole life, not with
`loop.add_signal_handler`, which lasts only as long as its event loop and leaves
SIGTERM at its default (instant death, children orphaned) afterwards.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# what signal.signal returns: a Python handler, SIG_DFL or SIG_IGN, or None for a handler not installed from Python
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class StopSignals:
    """Turns SIGTERM/SIGINT into calls: `on_first` for the first signal, `on_again` for later ones."""

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.received: list[int] = []
        self.on_first = on_first  # must be safe to call from a signal handler (set flags, wake loops)
        self.on_again: Callable[[], None] | None = None
        self._previous: dict[int, _Handler] = {}

    @property
    def requested(self) -> bool:
        return bool(self.received)

    @property
    def name(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else ""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        callback = self.on_first if len(self.received) == 1 else self.on_again
        if callback is not None:
            callback()

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if previous is None else previous)  # None cannot be reinstalled
