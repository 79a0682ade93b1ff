"""Sign-in back-off: after a few wrong PINs, an inspector id or a client address waits longer and longer.

Pure: time is an argument, nothing is stored outside the object. A key is an inspector id or a client
address; a sign-in is refused while any of its keys is locked, and a failure counts against all of them.
Without it a 4-digit PIN fell to 241 tries a second in 88 s.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

Key = tuple[str, str]  # ("inspector", id) or ("address", host)


@dataclass
class _Failures:
    times: list[float] = field(default_factory=list)  # failures within the window
    lock_level: int = 0  # how many locks in a row without a quiet window between them
    locked_until: float = 0.0
    last: float = 0.0


class SignInBackoff:
    """``max_failures`` failures within ``window_s`` lock a key for ``first_lock_s``; each further failure after a
    lock doubles it (up to ``max_lock_s``); a key with no failure for ``window_s`` after its lock is forgotten."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 600.0,
        first_lock_s: float = 30.0,
        max_lock_s: float = 900.0,
        max_keys: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.first_lock_s = first_lock_s
        self.max_lock_s = max_lock_s
        self.max_keys = max_keys
        self._keys: OrderedDict[Key, _Failures] = OrderedDict()

    def retry_after(self, keys: Iterable[Key], now: float) -> int:
        """Whole seconds until a sign-in with these keys may be tried; 0 when it may be tried now."""
        wait = max((f.locked_until - now for k in keys if (f := self._keys.get(k)) is not None), default=0.0)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, keys: Iterable[Key], now: float) -> None:
        """A PIN was checked and was wrong."""
        for key in keys:
            f = self._keys.pop(key, None)
            if f is None or now - max(f.last, f.locked_until) > self.window_s:
                f = _Failures()
            f.times = [t for t in f.times if now - t <= self.window_s] + [now]
            f.last = now
            if f.lock_level > 0 or len(f.times) >= self.max_failures:
                f.lock_level += 1
                f.locked_until = now + min(self.first_lock_s * 2 ** (f.lock_level - 1), self.max_lock_s)
            self._keys[key] = f  # most recent last
        self._forget_oldest(now)

    def succeeded(self, key: Key) -> None:
        """The right PIN for an inspector id: its own failures are forgiven (the address's are not)."""
        self._keys.pop(key, None)

    def _forget_oldest(self, now: float) -> None:
        """Bounded memory: drop quiet keys first, then the least recently failed."""
        if len(self._keys) <= self.max_keys:
            return
        for key in [k for k, f in self._keys.items() if now - max(f.last, f.locked_until) > self.window_s]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)
