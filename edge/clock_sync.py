"""Whether the unit's clock is synchronised, and the gate that keeps cases and exams from starting until it is.

A Raspberry Pi has no battery-backed clock: after a power cut it boots at the
last time it saved, and case ids, event times and exam times would be wrong
until NTP (or, on an exam car, the GNSS receiver) sets it. The probe is the
kernel's own flag, read with ``adjtimex(2)`` through ctypes: systemd-timesyncd
and chrony clear ``STA_UNSYNC`` once they have disciplined the clock, and
reading it needs neither systemd nor D-Bus. ``[clock] sync_command`` replaces
it with a command whose exit status says it (a site's own check; the tests'
controllable probe). ``[clock] require_sync = false`` lets work start on any
clock (the demo and the tests on machines without NTP).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.unit_config import ClockConfig

log = logging.getLogger("passlane.clock")

STA_UNSYNC = 0x0040
"""adjtimex status bit: the clock is not synchronised (include/uapi/linux/timex.h)."""
TIME_ERROR = 5
"""adjtimex return value: the clock is not synchronised."""
COMMAND_TIMEOUT_S = 10.0


class _Timex(ctypes.Structure):
    """struct timex (Linux, LP64 and ILP32: every field is a C long or int, then 11 reserved ints)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True)
class ClockState:
    """One reading of the clock's state: whether work may start on it, and in words why (for the status page)."""

    synced: bool
    source: str  # "kernel", "command", "gnss", "not required"
    detail: str


def kernel_synchronised() -> ClockState:
    """The kernel's flag through adjtimex (modes=0 only reads); not synchronised where it cannot be read."""
    if not sys.platform.startswith("linux"):
        return ClockState(False, "kernel", "adjtimex is Linux only: set [clock] sync_command")
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    tx = _Timex()
    rc = libc.adjtimex(ctypes.byref(tx))
    if rc < 0:
        return ClockState(False, "kernel", f"adjtimex failed (errno {ctypes.get_errno()})")
    if rc == TIME_ERROR or tx.status & STA_UNSYNC:
        return ClockState(False, "kernel", "the kernel clock is not synchronised (no NTP answer yet)")
    return ClockState(True, "kernel", f"synchronised (max error {tx.maxerror / 1000:.0f} ms)")


def command_synchronised(command: list[str]) -> ClockState:
    """The site's own probe: exit status 0 means synchronised."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return ClockState(False, "command", f"{command[0]}: {exc}")
    if done.returncode == 0:
        return ClockState(True, "command", f"{command[0]} says synchronised")
    said = (done.stdout or done.stderr).strip().splitlines()
    return ClockState(
        False, "command", f"{command[0]} exited {done.returncode}" + (f": {said[-1][:120]}" if said else "")
    )


class ClockGate:
    """The clock's state, probed at most every ``check_interval_s``; ``refusal()`` is what a refused start says.

    ``extra`` is another source that may vouch for the time (the exam car's GNSS receiver); it is asked only when
    the probe says not synchronised.
    """

    def __init__(
        self,
        cfg: ClockConfig,
        *,
        extra: Callable[[], ClockState | None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.extra = extra
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._state: ClockState | None = None
        self._checked_at = -float("inf")

    def probe(self) -> ClockState:
        """Ask the sources now (blocking: a command may take up to its timeout)."""
        if not self.cfg.require_sync:
            return ClockState(True, "not required", "[clock] require_sync is false: work starts on any clock")
        state = command_synchronised(self.cfg.sync_command) if self.cfg.sync_command else kernel_synchronised()
        if not state.synced and self.extra is not None and (other := self.extra()) is not None and other.synced:
            state = other
        with self._lock:
            if self._state is None or self._state.synced != state.synced:
                log.log(logging.INFO if state.synced else logging.WARNING, "clock: %s (%s)", state.detail, state.source)
            self._state, self._checked_at = state, self.monotonic()
        return state

    def state(self) -> ClockState:
        """The last state, probed again when older than the check interval."""
        with self._lock:
            fresh = self._state is not None and self.monotonic() - self._checked_at < self.cfg.check_interval_s
            if fresh and self._state is not None:
                return self._state
        return self.probe()

    def known(self) -> ClockState:
        """The last state without probing again (for a page served on the event loop); probed once if never."""
        with self._lock:
            state = self._state
        return state if state is not None else self.probe()

    def refusal(self, what: str) -> str | None:
        """Why ``what`` (a case, an exam) cannot start now, or None when it may."""
        state = self.state()
        if state.synced:
            return None
        return f"clock not synchronised: no {what} starts until it is ({state.detail})"
