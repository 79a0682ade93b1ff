"""Dashboard sign-in: the password check, the back-off, sessions, API tokens, and a sign-in audit that cannot be flooded.

Back-off. Failed sign-ins are counted per (address, user name): the first
`http.login_max_failures` are free, then each further try must wait
`login_backoff_base_s`, twice that, four times that, ... up to
`login_lockout_s` after the previous failure. They are also counted per user
name across addresses, each address contributing at most
`login_max_failures`: past `login_user_max_failures` the same growing delay
applies to the name everywhere (a guessing attack spread over many
addresses). So a guesser at one address slows only itself, never the same
user at another address nor other users at the same address (an office
behind one NAT). Failures older than `login_window_s` are forgotten; a
successful sign-in forgives that address's failures for that name.
Refused tries (during a delay) check no password and record no failure.

Audit. Every failure or refusal cannot be one audit row (the log is
hash-chained and meant to be read): per address and window
(`login_audit_window_s`) the first `login_max_failures` failures and the
first refusal get their own row; the rest are summed into one summary row
per address, action and window with the count per user name, written when
the window has closed (at the next sign-in try, when the log is read, and at
shutdown). A process that dies loses at most one window of summaries; the
failures themselves are in `login_failures` and raise the `failed_logins`
alert as before.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from cloud_bridge.auth import Principal, Role, new_token, token_hash, verify_password
from cloud_bridge.config import HttpConfig
from cloud_bridge.rules import RiskRulesConfig, failed_logins_signal
from cloud_bridge.store import Store

SIGN_IN_FAILED = "user.sign_in_failed"
SIGN_IN_REFUSED = "user.sign_in_refused"


def backoff_wait(failures: int, last: float | None, *, free: int, now: float, base_s: float, cap_s: float) -> float:
    """Seconds until the next try is allowed: none for the first `free` failures, then base, 2 x base, 4 x base, ... capped."""
    if failures < free or last is None:
        return 0.0
    delay = min(cap_s, base_s * 2.0 ** min(failures - free, 64))
    return max(0.0, last + delay - now)


@dataclass
class _Window:
    start: float
    rows: int = 0  # tries written as their own audit row
    suppressed: int = 0
    users: dict[str, int] = field(default_factory=dict)
    others: int = 0  # suppressed tries for names beyond the first MAX_NAMES
    first: float = 0.0
    last: float = 0.0


@dataclass(frozen=True)
class Summary:
    action: str
    addr: str
    count: int
    users: dict[str, int]
    others: int
    first: float
    last: float


class SignInTally:
    """Which failed or refused sign-ins get their own audit row, and the summaries of the rest. Pure: time comes in."""

    MAX_NAMES = 20

    def __init__(self, window_s: float, max_windows: int = 10_000) -> None:
        self.window_s = window_s
        self.max_windows = max_windows
        self._windows: dict[tuple[str, str], _Window] = {}
        self._closed: list[Summary] = []

    def note(self, action: str, user: str, addr: str, *, budget: int, now: float) -> bool:
        """Count one try; True when it should be written as its own audit row (the first `budget` of its window)."""
        key = (action, addr)
        w = self._windows.get(key)
        if w is not None and now >= w.start + self.window_s:
            self._close(key, w)
            w = None
        if w is None:
            if len(self._windows) >= self.max_windows:  # bounded memory: close every window early
                for k, old in list(self._windows.items()):
                    self._close(k, old)
            w = self._windows[key] = _Window(start=now)
        if w.rows < budget:
            w.rows += 1
            return True
        if w.suppressed == 0:
            w.first = now
        w.suppressed += 1
        w.last = now
        if user in w.users or len(w.users) < self.MAX_NAMES:
            w.users[user] = w.users.get(user, 0) + 1
        else:
            w.others += 1
        return False

    def _close(self, key: tuple[str, str], w: _Window) -> None:
        del self._windows[key]
        if w.suppressed:
            self._closed.append(Summary(key[0], key[1], w.suppressed, dict(w.users), w.others, w.first, w.last))

    def due(self, now: float, *, everything: bool = False) -> list[Summary]:
        """Summaries of the windows that have closed (of all windows with `everything`); closed windows are forgotten."""
        for key, w in list(self._windows.items()):
            if everything or now >= w.start + self.window_s:
                self._close(key, w)
        out, self._closed = self._closed, []
        return out


class Outcome(StrEnum):
    SIGNED_IN = "signed_in"
    FAILED = "failed"
    REFUSED = "refused"


@dataclass(frozen=True)
class SignIn:
    outcome: Outcome
    token: str | None = None  # the session cookie's value (signed in)
    retry_after_s: float = 0.0  # refused: how long to wait


class Accounts:
    """Sign-in, sign-out, principals and API tokens over the store; time from `clock` and the failed-logins rule from `rules` (the service's)."""

    def __init__(
        self,
        store: Store,
        http: HttpConfig,
        clock: Callable[[], float] = time.time,
        rules: RiskRulesConfig | None = None,
    ) -> None:
        self.store = store
        self.records = store.accounts
        self.http = http
        self.clock = clock
        self.rules = rules or RiskRulesConfig()
        self.tally = SignInTally(http.login_audit_window_s)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ sign-in
    def retry_after(self, name: str, addr: str, now: float) -> float:
        """Seconds this address must wait before trying `name` again (0: it may try now)."""
        h = self.http
        c = self.records.failure_counts(f"dashboard/{name}", addr, now - h.login_window_s, h.login_max_failures)
        common = {"now": now, "base_s": h.login_backoff_base_s, "cap_s": float(h.login_lockout_s)}
        return max(
            backoff_wait(c["source_failures"], c["source_last"], free=h.login_max_failures, **common),
            backoff_wait(c["all_failures"], c["all_last"], free=h.login_user_max_failures, **common),
        )

    def sign_in(self, name: str, password: str, addr: str) -> SignIn:
        """Check a password unless the back-off says wait; record and audit the outcome (refusals and failures tallied)."""
        now = self.clock()
        self.flush_audit(now)
        wait = self.retry_after(name, addr, now)
        if wait > 0:
            self._audit_try(
                SIGN_IN_REFUSED,
                name,
                addr,
                now,
                budget=1,
                extra={"reason": "rate_limited", "retry_after_s": round(wait, 1)},
            )
            return SignIn(Outcome.REFUSED, retry_after_s=wait)
        user = self.records.user(name)
        if not verify_password(user["password_hash"] if user else None, password):
            self._failed(f"dashboard/{name}", addr, now)
            self._failed(f"addr/{addr}", addr, now)  # the same alert for one address guessing many names
            self._audit_try(SIGN_IN_FAILED, name, addr, now, budget=self.http.login_max_failures, extra={})
            return SignIn(Outcome.FAILED)
        self.records.clear_failures(f"dashboard/{name}", addr)
        token = new_token()
        self.records.add_session(token_hash(token), name, secrets.token_urlsafe(24), self.http.session_ttl_s)
        self.store.audit.append(name, "user.sign_in", "dashboard", {"addr": addr}, now)
        return SignIn(Outcome.SIGNED_IN, token=token)

    def _failed(self, who: str, addr: str, now: float) -> None:
        """Record a failed sign-in of `who`, and raise the failed_logins alert when the window holds too many."""
        n = self.records.record_failure(who, addr, now, self.rules.failed_logins_window_s)
        sig = failed_logins_signal(who, n, self.rules)
        if sig:
            self.store.alerts.raise_all([sig], now)

    def _audit_try(
        self, action: str, name: str, addr: str, now: float, *, budget: int, extra: dict[str, object]
    ) -> None:
        with self._lock:
            own_row = self.tally.note(action, name, addr, budget=budget, now=now)
        if own_row:
            self.store.audit.append(name or "?", action, "dashboard", {"addr": addr, **extra}, now)

    def flush_audit(self, now: float | None = None, *, everything: bool = False) -> int:
        """Write the summaries of closed windows (all with `everything`, e.g. at shutdown); returns how many."""
        now = self.clock() if now is None else now
        with self._lock:
            due = self.tally.due(now, everything=everything)
        for s in due:
            actor = next(iter(s.users)) if len(s.users) == 1 and not s.others else "*"
            self.store.audit.append(
                actor,
                s.action,
                "dashboard",
                {
                    "addr": s.addr,
                    "count": s.count,
                    "users": s.users,
                    "other_users": s.others,
                    "first": round(s.first, 3),
                    "last": round(s.last, 3),
                    "summary_of_s": self.http.login_audit_window_s,
                },
                now,
            )
        return len(due)

    def sign_out(self, session_token: str | None, who: str) -> None:
        if session_token:
            self.records.drop_session(token_hash(session_token))
        self.store.audit.append(who, "user.sign_out", "dashboard", None, self.clock())

    # ------------------------------------------------------------------ who is asking
    def principal(self, authorization: str, session_token: str | None) -> Principal | None:
        """The caller from a bearer token or a session cookie, or None."""
        if authorization.lower().startswith("bearer "):
            row = self.records.token(token_hash(authorization[7:].strip()))
            return Principal(row["user_name"], Role(row["role"]), "token") if row else None
        if session_token:
            row = self.records.session(token_hash(session_token))
            if row:
                return Principal(row["user_name"], Role(row["role"]), "session", row["csrf"])
        return None

    def create_token(self, who: str, label: str) -> str:
        """A new API token for `who` (shown once; the store keeps its hash); audited."""
        token = new_token()
        self.records.add_token(token_hash(token), who, label)
        self.store.audit.append(who, "token.create", f"user/{who}", {"label": label}, self.clock())
        return token
