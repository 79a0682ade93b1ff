"""Keeping the lane's memory flat on a 2 GB Pi: glibc arenas, fixed mmap/trim thresholds, freed frame buffers."""

from __future__ import annotations

import ctypes
import ctypes.util

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if ctypes.util.find_library("c") else None

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
# A camera frame (1280x960x3 = 3.7 MB) and the reader's activations are far above this: each gets its own
# mapping and goes back to the OS when freed. Left dynamic, glibc raises the threshold to the largest block
# ever freed, after which frames come from the heap and leave it fragmented (measured: ~4 MB more RSS).
MMAP_THRESHOLD = 128 * 1024
TRIM_THRESHOLD = 128 * 1024  # free heap at the top above this goes back to the OS at once


def release_memory() -> None:
    """Give freed frame buffers back to the OS (glibc keeps them otherwise): keeps the lane's RSS flat."""
    if _libc is not None and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


def limit_malloc_arenas(n: int = 2) -> bool:
    """Fewer glibc arenas (threads that touch big frames do not each keep their own heap) and fixed
    thresholds, so big buffers are mapped and unmapped rather than carved from the heap. Call at start.
    False when this C library has no mallopt (musl) or refused a setting."""
    if _libc is None or not hasattr(_libc, "mallopt"):
        return False
    settings = ((_M_ARENA_MAX, n), (_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return all(_libc.mallopt(param, value) == 1 for param, value in settings)
