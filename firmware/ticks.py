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
