"""Users, roles and what each role may do; password hashing (Argon2id, memory-hard); tokens.

Sessions and API tokens are random 32-byte values given to the client once;
the database keeps only their SHA-256. Pages carry a per-session CSRF token
that every state-changing request from a page must echo (header
`X-CSRF-Token` or form field `csrf`); API clients authenticate with
`Authorization: Bearer <token>` and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Role(StrEnum):
    OPS_ADMIN = "ops-admin"
    OPS_VIEWER = "ops-viewer"
    EXAM_OPERATOR = "exam-operator"


class Perm(StrEnum):
    READ = "read"  # dashboard, cases, units, alerts, events
    STATS = "stats"  # the summary figures
    ACK = "ack"  # acknowledge an alert
    ADMIN = "admin"  # resolve alerts, remote commands, audit log, users, tokens, plate pool
    EXAM = "exam"  # the exam console: candidates, check-in, starting exams, sign-off, overrides
    EXAM_READ = "exam_read"  # exams, their results and tracks, cars, the live map, the exam summary (read only)
    PERSONAL_DATA = "personal_data"  # a case owner's ID number, phone, address, birth date, name unmasked (audited)


GRANTS: dict[Perm, frozenset[Role]] = {
    Perm.READ: frozenset({Role.OPS_ADMIN, Role.OPS_VIEWER}),
    Perm.STATS: frozenset({Role.OPS_ADMIN, Role.OPS_VIEWER, Role.EXAM_OPERATOR}),
    Perm.ACK: frozenset({Role.OPS_ADMIN, Role.OPS_VIEWER}),
    Perm.ADMIN: frozenset({Role.OPS_ADMIN}),
    Perm.EXAM: frozenset({Role.OPS_ADMIN, Role.EXAM_OPERATOR}),
    Perm.EXAM_READ: frozenset({Role.OPS_ADMIN, Role.OPS_VIEWER, Role.EXAM_OPERATOR}),
    # Watching lanes, alerts and case progress needs no one's identity: a viewer sees it masked. The admin handles
    # what does (a disputed rejection, a complaint, a request from the authorities), and each view is audited.
    Perm.PERSONAL_DATA: frozenset({Role.OPS_ADMIN}),
}

_hasher = PasswordHasher()  # Argon2id, 64 MiB, t=3 (argon2-cffi defaults)
_DUMMY = _hasher.hash("passlane-dummy-password")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time whether or not the user exists (a dummy hash is checked for unknown users)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    via: str  # "session" or "token"
    csrf: str | None = None

    def may(self, perm: Perm) -> bool:
        return self.role in GRANTS[perm]
