"""Keeping the lane's memory flat on a 2 GB Pi: glibc arenas and freed frame buffers."""

from __future__ import annotations

import ctypes
import ctypes.util

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if ctypes.util.find_library("c") else None


def release_memory() -> None:
    """Give freed frame buffers back to the OS (glibc keeps them otherwise): keeps the lane's RSS flat."""
    if _libc is not None and hasattr(_libc, "malloc_trim"):
        _libc.malloc_trim(0)


def limit_malloc_arenas(n: int = 2) -> None:
    """Fewer glibc arenas: threads that touch big frames do not each keep their own heap."""
    if _libc is not None and hasattr(_libc, "mallopt"):
        _libc.mallopt(-8, n)  # M_ARENA_MAX
