"""Telling systemd how a unit is doing (sd_notify): READY once it really serves, a watchdog fed by the event loop.

The units (`passlane lane run`, `passlane exam run`, `passlane bridge serve`) run as `Type=notify`
services with `WatchdogSec=` (deploy/systemd/). systemd passes the address of its notify socket in
`$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace) and the watchdog period in
`$WATCHDOG_USEC`; each message is one datagram of `KEY=value` lines. Without `$NOTIFY_SOCKET`
(a shell, the tests, the simulated site) every call here does nothing.

The watchdog is fed by a task on the unit's own asyncio loop at half the period, so a loop stuck in
a blocking call stops feeding it and systemd restarts the process. No dependency: the protocol is
one `sendto` on an AF_UNIX datagram socket.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("passlane.systemd")


def notify_address(environ: Mapping[str, str]) -> str | None:
    """The socket address `$NOTIFY_SOCKET` names (`@name` is the abstract namespace: a leading NUL), or None."""
    raw = environ.get("NOTIFY_SOCKET", "")
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    log.warning("NOTIFY_SOCKET=%r is neither a path nor @abstract: not notifying systemd", raw)
    return None


def watchdog_interval(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between watchdog pings (half of `$WATCHDOG_USEC`), or None when no watchdog is asked of this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and owner != str(pid):  # the watchdog is another process's (e.g. a wrapper's)
        return None
    return int(usec) / 2_000_000


class SystemdNotifier:
    """One unit's line to systemd; `enabled` only under a `Type=notify` service (NOTIFY_SOCKET set)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = notify_address(env)
        self.watchdog_s = watchdog_interval(env, os.getpid()) if self.address else None
        self._feeder: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *states: str) -> bool:
        """Send `states` (e.g. "READY=1", "STATUS=...") as one datagram; False when disabled or it could not be sent."""
        if self.address is None:
            return False
        message = "\n".join(states).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, self.address)
        except OSError as exc:  # systemd gone or the socket unreadable: the unit goes on serving
            log.warning("could not notify systemd at %r: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> None:
        """The unit serves: READY=1 and its status line; then the watchdog feeder starts on the running loop."""
        if not self.enabled:
            return
        self.notify("READY=1", f"STATUS={status}")
        if self.watchdog_s is not None and self._feeder is None:
            self._feeder = asyncio.get_running_loop().create_task(
                feed_watchdog(self, self.watchdog_s), name="systemd-watchdog"
            )

    def stopping(self) -> None:
        """The unit is shutting down: stop feeding the watchdog and say STOPPING=1 (systemd then waits, not restarts)."""
        if self._feeder is not None:
            self._feeder.cancel()
            self._feeder = None
        self.notify("STOPPING=1")


async def feed_watchdog(notifier: SystemdNotifier, interval_s: float) -> None:
    """WATCHDOG=1 every `interval_s` for as long as this loop runs its tasks; a blocked loop sends nothing."""
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval_s)
