"""MicroPython tick arithmetic (time.ticks_ms wraps at 2**30) for the pure cores.

The cores receive `now` as a number from their HAL; they compare times only
through ticks_diff/ticks_add so a wrap-around behaves as on the board.
"""

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
_HALF = TICKS_PERIOD // 2


def ticks_add(t, delta):
    return (t + delta) & TICKS_MAX


def ticks_diff(a, b):
    """Signed a - b, correct across one wrap (like time.ticks_diff)."""
    return ((a - b + _HALF) & TICKS_MAX) - _HALF


class Uptime:
    """Milliseconds since boot as the lane bus's u32 `uptime_ms`, wrapping at
    2**32 (49.7 days) although the tick counter wraps at 2**30 (12.4 days).

    `update(now)` counts the tick counter's wraps and must be called at
    least once per wrap period (the control loop calls it every step); it
    keeps only small ints, so it never allocates.  `ms()` builds the u32
    when a reply or STATUS needs it.
    """

    def __init__(self, now):
        self._boot = now
        self._last = now
        self._wraps = 0

    def update(self, now):
        if now < self._last:
            self._wraps += 1
        self._last = now

    def ms(self):
        return (self._wraps * TICKS_PERIOD + self._last - self._boot) & 0xFFFFFFFF
