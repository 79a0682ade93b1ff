"""Dashboard and API accounts: users, sessions, API tokens, and failed sign-ins (dashboard users and lane inspectors)."""

from __future__ import annotations

import time
from typing import Any

from cloud_bridge.store.engine import Cur, Engine


class AccountRecords:
    """The `users`, `sessions`, `api_tokens` and `login_failures` tables. Sessions and tokens are kept by hash only."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users
    def add_user(self, name: str, role: str, password_hash: str) -> None:
        """Add a user, or give an existing one a new role and password."""
        with self.engine.tx() as cur:
            cur.x(
                "INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?) ON CONFLICT (name) DO UPDATE SET "
                "role = excluded.role, password_hash = excluded.password_hash",
                (name, role, password_hash, time.time()),
            )

    def user(self, name: str) -> dict[str, Any] | None:
        """An enabled user, or None."""
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT * FROM users WHERE name = ? AND disabled = 0", (name,))

    def users(self) -> list[dict[str, Any]]:
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT name, role, created_at, disabled FROM users ORDER BY name")

    # -- sessions and tokens
    def add_session(self, token_hash: str, user: str, csrf: str, ttl_s: float) -> None:
        """A new session (expired ones are dropped on the way)."""
        now = time.time()
        with self.engine.tx() as cur:
            cur.x("DELETE FROM sessions WHERE expires_at < ?", (now,))
            cur.x(
                "INSERT INTO sessions (token_hash, user_name, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
                (token_hash, user, csrf, now, now + ttl_s),
            )

    def session(self, token_hash: str) -> dict[str, Any] | None:
        """A live session of an enabled user, with the user's role."""
        with self.engine.tx(write=False) as cur:
            return cur.one(
                "SELECT s.user_name, s.csrf, s.expires_at, u.role FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
                (token_hash, time.time()),
            )

    def drop_session(self, token_hash: str) -> None:
        with self.engine.tx() as cur:
            cur.x("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def add_token(self, token_hash: str, user: str, label: str) -> None:
        with self.engine.tx() as cur:
            cur.x(
                "INSERT INTO api_tokens (token_hash, user_name, label, created_at) VALUES (?,?,?,?)",
                (token_hash, user, label, time.time()),
            )

    def token(self, token_hash: str) -> dict[str, Any] | None:
        """The enabled user an API token belongs to, with the user's role."""
        with self.engine.tx(write=False) as cur:
            return cur.one(
                "SELECT t.user_name, u.role FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE t.token_hash = ? AND u.disabled = 0",
                (token_hash,),
            )

    # -- failed sign-ins
    def record_failure(self, who: str, source: str | None, ts: float, window_s: float) -> int:
        """Record a failed sign-in of `who` (dashboard/<user>, addr/<address> or <unit>/<inspector>); returns the failures in the window."""
        with self.engine.tx() as cur:
            return self.record_failure_in(cur, who, source, ts, window_s)

    @staticmethod
    def record_failure_in(cur: Cur, who: str, source: str | None, ts: float, window_s: float) -> int:
        """`record_failure` inside the caller's transaction (the ingest fold records lane inspectors' failures with their event)."""
        cur.x("INSERT INTO login_failures (who, source, ts) VALUES (?, ?, ?)", (who, source, ts))
        return int(
            cur.scalar("SELECT COUNT(*) AS n FROM login_failures WHERE who = ? AND ts > ?", (who, ts - window_s)) or 0
        )

    def failure_counts(self, who: str, source: str, since: float, per_source_cap: int) -> dict[str, Any]:
        """What the sign-in back-off needs in one read: failures of `who` from `source`, and from every source with each
        source counted at most `per_source_cap` times (so one address alone cannot start a user-wide back-off)."""
        with self.engine.tx(write=False) as cur:
            here = (
                cur.one(
                    "SELECT COUNT(*) AS n, MAX(ts) AS last FROM login_failures WHERE who = ? AND source = ? AND ts > ?",
                    (who, source, since),
                )
                or {}
            )
            everywhere = (
                cur.one(
                    "SELECT COALESCE(SUM(CASE WHEN n > ? THEN ? ELSE n END), 0) AS n, MAX(last) AS last FROM "
                    "(SELECT COUNT(*) AS n, MAX(ts) AS last FROM login_failures WHERE who = ? AND ts > ? GROUP BY source) per_source",
                    (per_source_cap, per_source_cap, who, since),
                )
                or {}
            )
        return {
            "source_failures": int(here.get("n") or 0),
            "source_last": here.get("last"),
            "all_failures": int(everywhere.get("n") or 0),
            "all_last": everywhere.get("last"),
        }

    def clear_failures(self, who: str, source: str) -> None:
        """A successful sign-in from `source` forgives that address's earlier failures for `who` (not other addresses')."""
        with self.engine.tx() as cur:
            cur.x("DELETE FROM login_failures WHERE who = ? AND source = ?", (who, source))
