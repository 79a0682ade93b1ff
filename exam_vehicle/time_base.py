"""The unit's judging time base: the one clock every judge input is stamped on (`[exam] time_base`).

`unit`: the unit's own clock on arrival, as the unit has always done.

`gnss`: the receiver's GNSS time. A test car's Pi has no real-time clock and its
NTP may be far away; the RTK receiver's UTC is the best clock in the car. Each
epoch is stamped with its own fix time (when the position was measured, not when
its sentences arrived). A signal change is stamped by interpolating between
epochs: the last epoch's fix time plus the local time since it arrived, scaled by
the rate of GNSS seconds per local second over the last epochs (a disciplined
clock, as chrony disciplines a clock to a reference). While epochs come (for
`HOLD_S` after the last one arrived) a signal is kept inside the epoch it arrived
in, before the next fix is due, so the judge sees inputs in the order they
arrived; stamps never go backwards. Without epochs (the receiver lost) the clock
runs on at the last rate.

Both are pure: the threads stamp inputs with `local` as they arrive, and the
unit's loop turns those stamps into judging time in arrival order.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections import deque
from collections.abc import Callable

from exam_vehicle.gnss import Epoch
from exam_vehicle.signals import SignalChange

WINDOW = 10
"""Epochs the rate is measured over (1 s at 10 Hz)."""
GAP_S = 2.0
"""Local seconds without an epoch after which the rate is measured afresh (the receiver was lost)."""
HOLD_S = 0.5
"""Local seconds after an epoch's arrival during which a signal change belongs to that epoch (the next one is late,
not missing); later the clock runs on at the last rate."""


def fix_time(epoch: Epoch) -> float | None:
    """The epoch's fix time in unix seconds, or None when the receiver gave no date yet."""
    if "T" not in epoch.time:
        return None
    return dt.datetime.fromisoformat(epoch.time.replace("Z", "+00:00")).timestamp()


class UnitTimeBase:
    """Inputs keep the unit clock's stamp of their arrival."""

    name = "unit"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.local = clock

    def epoch(self, epoch: Epoch) -> Epoch:
        return epoch

    def signal(self, change: SignalChange) -> SignalChange:
        return change

    def now(self) -> float:
        return self.local()

    @property
    def locked(self) -> bool:
        return True


class GnssTimeBase:
    """Judging time from the receiver's fix times; `local` (monotonic) stamps arrivals between them."""

    name = "gnss"

    def __init__(self, local: Callable[[], float] = time.monotonic, fallback: Callable[[], float] = time.time) -> None:
        self.local = local
        self.fallback = fallback  # before the first dated epoch: nothing is judged then, the page still shows times
        self.rate = 1.0
        self.cycle = 0.1
        self._pairs: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (local arrival, fix time)
        self._last_stamp = float("-inf")

    @property
    def locked(self) -> bool:
        """Whether a dated epoch has been seen (judging time is GNSS time)."""
        return bool(self._pairs)

    def epoch(self, epoch: Epoch) -> Epoch:
        """`epoch` (stamped `local` on arrival) stamped with its fix time; the rate and the cycle learnt from it."""
        fix = fix_time(epoch)
        if fix is None:
            return epoch.model_copy(update={"t": self._at(epoch.t)})
        arrived = epoch.t
        if self._pairs and fix <= self._pairs[-1][1]:  # a repeated or earlier fix time: nothing to learn
            return epoch.model_copy(update={"t": self._issue(fix)})
        if self._pairs and arrived - self._pairs[-1][0] > GAP_S:
            self._pairs.clear()  # after a gap the rate is measured afresh (the last one holds meanwhile)
        self._pairs.append((arrived, fix))
        if len(self._pairs) >= 2:
            (l0, f0), (l1, f1) = self._pairs[0], self._pairs[-1]
            if l1 > l0 and f1 > f0:
                self.rate = (f1 - f0) / (l1 - l0)
            steps = [b[1] - a[1] for a, b in zip(self._pairs, list(self._pairs)[1:]) if b[1] > a[1]]
            if steps:
                self.cycle = statistics.median(steps)
        return epoch.model_copy(update={"t": self._issue(fix)})

    def signal(self, change: SignalChange) -> SignalChange:
        """`change` (stamped `local` on arrival) on judging time."""
        return change.model_copy(update={"t": self._at(change.t)})

    def now(self) -> float:
        return self._at(self.local())

    def _at(self, local_t: float) -> float:
        if not self._pairs:
            return self.fallback()
        arrived, fix = self._pairs[-1]
        since = max(0.0, (local_t - arrived) * self.rate)
        if local_t - arrived < HOLD_S:  # the next epoch is due: stay inside this one
            since = min(since, max(0.0, self.cycle - 0.001))
        return self._issue(fix + since)

    def _issue(self, t: float) -> float:
        self._last_stamp = max(self._last_stamp, round(t, 4))
        return self._last_stamp


TimeBase = UnitTimeBase | GnssTimeBase


def time_base(name: str, clock: Callable[[], float] = time.time) -> TimeBase:
    """The configured time base; `clock` is the unit's wall clock (the `unit` base, and `gnss` before its first fix)."""
    return GnssTimeBase(fallback=clock) if name == "gnss" else UnitTimeBase(clock)
