"""Signed-in tablet sessions, kept on the lane so that signing out really ends one.

A session token is random; the lane stores only its HMAC under the session secret, with the inspector and
the expiry, in a small SQLite file beside the journal. Signing out deletes the row, so a copied token or
cookie dies with the session (a stateless signed token lived on for its 12 hours). With ``ui.session_secret``
configured, sessions survive a restart of the lane; with the random secret of each start, a restart ends them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SESSION_S = 12 * 3600
MAX_TOKEN = 128  # a token is 43 characters; anything much longer is not one of ours


class SessionStore:
    def __init__(
        self, path: Path, secret: bytes, *, clock: Callable[[], float] = time.time, lifetime_s: float = SESSION_S
    ) -> None:
        self.secret = secret
        self.clock = clock
        self.lifetime_s = lifetime_s
        new = not path.exists()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        if new:
            os.chmod(path, 0o600)
        self._lock = threading.Lock()
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sessions (key TEXT PRIMARY KEY, inspector TEXT NOT NULL, name TEXT NOT NULL, "
            "expires REAL NOT NULL)"
        )

    def _key(self, token: str) -> str:
        return hmac.new(self.secret, token.encode(), hashlib.sha256).hexdigest()

    def issue(self, inspector_id: str, name: str) -> str:
        """A new session for a signed-in inspector; returns its token (cookie value, or bearer token)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (self._key(token), inspector_id, name, now + self.lifetime_s),
            )
        return token

    def check(self, token: str | None) -> dict[str, Any] | None:
        """The signed-in inspector ``{"id", "name", "exp"}`` of a live session, else None."""
        if not token or len(token) > MAX_TOKEN:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT inspector, name, expires FROM sessions WHERE key = ?", (self._key(token),)
            ).fetchone()
        if row is None or row[2] <= self.clock():
            return None
        return {"id": row[0], "name": row[1], "exp": row[2]}

    def revoke(self, token: str | None) -> None:
        """Sign out: the token is refused from now on."""
        if token and len(token) <= MAX_TOKEN:
            with self._lock:
                self._db.execute("DELETE FROM sessions WHERE key = ?", (self._key(token),))

    def close(self) -> None:
        with self._lock:
            self._db.close()
