"""The unit's local SQLite journal: business events, the outbox, case state, remote commands.

Every business event is written in the *same transaction* as the state change
it records (:meth:`Journal.record`), gets the next per-unit sequence number and
a row in ``outbox``; the outbox row is deleted only when the cloud's Ack
watermark covers it. ``events`` is the lane's own permanent record (the case
timeline), ``outbox`` is what still has to reach the cloud.

The file is opened in WAL mode with ``synchronous=FULL`` (docs/deploy.md, "The
SD card"): a committed transaction survives kill -9 and a power cut, because
the WAL is fsynced at every commit; ``NORMAL`` would keep the file consistent
too but could lose the last commits to a power cut, after the barrier had
opened or the plates were made. ``journal_size_limit`` gives the WAL back to
the card after a checkpoint. `PRAGMAS` is the one statement of these settings.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.contract import GENESIS_HASH, MAX_EVENT_BYTES, EventEnvelope, EventKind, PayloadError, event_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL,
    case_id TEXT, station TEXT, actor TEXT, data TEXT NOT NULL, prev TEXT, hash TEXT
);
CREATE INDEX IF NOT EXISTS events_case ON events(case_id);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, sent_at REAL, attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS cases (
    case_id TEXT PRIMARY KEY, station TEXT NOT NULL, stage TEXT NOT NULL, open INTEGER NOT NULL,
    opened_at REAL NOT NULL, updated_at REAL NOT NULL, state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_open ON cases(open);
CREATE TABLE IF NOT EXISTS commands (
    request_id TEXT PRIMARY KEY, command TEXT NOT NULL, received_at REAL NOT NULL,
    status TEXT NOT NULL, detail TEXT NOT NULL, body TEXT NOT NULL
);
"""


PRAGMAS: dict[str, str | int] = {
    "journal_mode": "wal",  # readers never block the writer; a commit appends to the WAL, one fsync
    "synchronous": 2,  # FULL: fsync the WAL at every commit, so a power cut keeps every committed event
    "journal_size_limit": 64 * 1024 * 1024,  # after a checkpoint the WAL is cut back to this (bytes)
    "cache_size": -1024,  # KiB of page cache: the unit reads back only recent events; SQLite's 2 MiB grew a soak's RSS
}
"""The journal's SQLite settings, set on its connection at open and read back by :meth:`Journal.pragmas`."""


class EventInvalid(PayloadError):
    """An event that must not be journaled: it breaks the contract (a field too long, NaN, ...)."""


class EventTooLarge(EventInvalid):
    """An event larger than MAX_EVENT_BYTES: the bridge could not accept it, so it is never journaled."""


@dataclass(frozen=True)
class NewEvent:
    kind: EventKind
    case_id: str | None = None
    station: str | None = None
    actor: str | None = None
    data: dict[str, Any] | None = None
    ts: float | None = None


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    station: str
    stage: str
    open: bool
    state: dict[str, Any]


class Journal:
    """One SQLite file; safe to call from several threads (one connection, one lock)."""

    def __init__(self, path: Path | str, unit: str) -> None:
        self.path = Path(path)
        self.unit = unit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=30)
        for name, value in PRAGMAS.items():
            self._db.execute(f"PRAGMA {name}={value}")
        self._db.executescript(SCHEMA)
        self._add_chain_columns()
        self._lock = threading.RLock()
        self.listeners: list = []  # called (no args) after each commit that added outbox rows

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rollback(self) -> None:
        """Undo the open transaction; SQLite has already rolled it back itself after some errors (a full disk:
        SQLITE_FULL), and a second ROLLBACK would replace that error with "no transaction is active"."""
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def pragmas(self) -> dict[str, str | int]:
        """The settings in force on the journal's own connection (``synchronous`` is per connection)."""
        with self._lock:
            return {name: self._db.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}

    def _add_chain_columns(self) -> None:
        """Journals written before events were chained get the columns (their old events stay unchained)."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(events)")}
        for column in ("prev", "hash"):
            if column not in have:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")

    # ------------------------------------------------------------ writing
    def _meta(self, key: str, default: str = "0") -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _envelope(self, ev: NewEvent, seq: int, now: float, prev: str | None) -> tuple[EventEnvelope, bytes]:
        """The envelope as the bridge will parse it, and its bytes; refuses what the bridge could not accept."""
        try:
            built = EventEnvelope(
                unit=self.unit,
                seq=seq,
                ts=ev.ts if ev.ts is not None else now,
                kind=ev.kind,
                case_id=ev.case_id,
                station=ev.station,
                actor=ev.actor,
                data=ev.data or {},
                prev=prev,
            )
            raw = built.to_bytes()
        except (ValidationError, ValueError, TypeError) as exc:
            raise EventInvalid(f"{ev.kind.value} event not journaled: {str(exc)[:300]}") from None
        if len(raw) > MAX_EVENT_BYTES:
            raise EventTooLarge(f"{ev.kind.value} event of {len(raw)} bytes exceeds {MAX_EVENT_BYTES}: not journaled")
        return EventEnvelope.model_validate_json(raw), raw

    def record(
        self,
        events: Iterable[NewEvent],
        case: CaseRow | None = None,
        now: float | None = None,
        also: tuple[str, tuple[Any, ...]] | None = None,
    ) -> list[EventEnvelope]:
        """Write events (and the case state they record, and ``also``: one more SQL statement) in one transaction."""
        now = time.time() if now is None else now
        out: list[EventEnvelope] = []
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                seq = int(self._meta("last_seq"))
                prev = self._meta("last_hash", GENESIS_HASH if seq == 0 else "")
                for ev in events:
                    seq += 1
                    env, raw = self._envelope(ev, seq, now, prev or None)
                    prev = event_hash(env)
                    data = json.dumps(env.data, ensure_ascii=False, separators=(",", ":"))
                    cur.execute(
                        "INSERT INTO events(seq, ts, kind, case_id, station, actor, data, prev, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                        (seq, env.ts, env.kind.value, env.case_id, env.station, env.actor, data, env.prev, prev),
                    )
                    cur.execute("INSERT INTO outbox(seq, payload) VALUES (?,?)", (seq, raw))
                    out.append(env)
                if out:
                    cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_seq', ?)", (str(seq),))
                    cur.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_hash', ?)", (prev,))
                if also is not None:
                    cur.execute(*also)
                if case is not None:
                    cur.execute(
                        "INSERT INTO cases(case_id, station, stage, open, opened_at, updated_at, state) VALUES (?,?,?,?,?,?,?) "
                        "ON CONFLICT(case_id) DO UPDATE SET stage=excluded.stage, open=excluded.open, updated_at=excluded.updated_at, state=excluded.state",
                        (
                            case.case_id,
                            case.station,
                            case.stage,
                            int(case.open),
                            case.state.get("opened_at", now),
                            now,
                            json.dumps(case.state, ensure_ascii=False),
                        ),
                    )
                cur.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        if out:
            for fn in list(self.listeners):
                fn()
        return out

    # ------------------------------------------------------------ cases
    def open_cases(self) -> list[CaseRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id, station, stage, open, state FROM cases WHERE open=1 ORDER BY opened_at"
            ).fetchall()
        return [CaseRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4])) for r in rows]

    def case(self, case_id: str) -> CaseRow | None:
        with self._lock:
            r = self._db.execute(
                "SELECT case_id, station, stage, open, state FROM cases WHERE case_id=?", (case_id,)
            ).fetchone()
        return CaseRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4])) if r else None

    def recent_cases(self, limit: int = 20) -> list[CaseRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT case_id, station, stage, open, state FROM cases ORDER BY updated_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [CaseRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4])) for r in rows]

    def list_cases(self, open_: bool | None = None, limit: int = 100) -> list[CaseRow]:
        where = "" if open_ is None else f"WHERE open={int(open_)}"
        with self._lock:
            rows = self._db.execute(
                f"SELECT case_id, station, stage, open, state FROM cases {where} ORDER BY opened_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [CaseRow(r[0], r[1], r[2], bool(r[3]), json.loads(r[4])) for r in rows]

    def case_events(self, case_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, kind, actor, data FROM events WHERE case_id=? ORDER BY seq", (case_id,)
            ).fetchall()
        return [{"seq": r[0], "ts": r[1], "kind": r[2], "actor": r[3], "data": json.loads(r[4])} for r in rows]

    def events_of_kinds(self, kinds: Iterable[EventKind]) -> list[dict[str, Any]]:
        """Every event of these kinds, in seq order (seq, ts, kind, case_id): e.g. which exams were started and ended."""
        names = [k.value for k in kinds]
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, ts, kind, case_id FROM events WHERE kind IN ({','.join('?' * len(names))}) ORDER BY seq",
                names,
            ).fetchall()
        return [{"seq": r[0], "ts": r[1], "kind": r[2], "case_id": r[3]} for r in rows]

    def events(self, since_seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, ts, kind, case_id, actor, data FROM events WHERE seq>? ORDER BY seq LIMIT ?",
                (since_seq, limit),
            ).fetchall()
        return [
            {"seq": r[0], "ts": r[1], "kind": r[2], "case_id": r[3], "actor": r[4], "data": json.loads(r[5])}
            for r in rows
        ]

    # ------------------------------------------------------------ outbox
    def last_seq(self) -> int:
        with self._lock:
            return int(self._meta("last_seq"))

    def acked_seq(self) -> int:
        with self._lock:
            return int(self._meta("acked_seq"))

    def outbox_depth(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox").fetchone()[0]

    def outbox_inflight(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]

    def outbox_oldest_sent(self) -> float | None:
        with self._lock:
            return self._db.execute("SELECT min(sent_at) FROM outbox WHERE sent_at IS NOT NULL").fetchone()[0]

    def outbox_unsent(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            return self._db.execute(
                "SELECT seq, payload FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()

    def mark_sent(self, seqs: list[int], now: float) -> None:
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "UPDATE outbox SET sent_at=?, attempts=attempts+1 WHERE seq=?", [(now, s) for s in seqs]
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def mark_all_unsent(self) -> None:
        """After a reconnect or a timeout: everything unacknowledged goes out again, in order."""
        with self._lock:
            self._db.execute("UPDATE outbox SET sent_at=NULL WHERE sent_at IS NOT NULL")

    def ack(self, acked_seq: int) -> int:
        """Apply the cloud's watermark: delete every outbox row up to it that was sent (since the last connect). Returns rows deleted.

        A row not sent yet stays: the watermark can cover a seq this unit has not sent, when the bridge put a refused
        message from someone else in its place (docs/mqtt.md, refused events); this unit's own event must still go
        out and take that place. After a reconnect every row counts as unsent, so what the retained Ack covers goes
        out once more and is deleted by the Ack for the repeat (the bridge counts it a duplicate)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                n = self._db.execute("DELETE FROM outbox WHERE seq<=? AND sent_at IS NOT NULL", (acked_seq,)).rowcount
                if acked_seq > int(self._meta("acked_seq")):
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('acked_seq', ?)", (str(acked_seq),)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
        return n

    def delivered(self, case_id: str, closed: bool = False) -> bool:
        """Whether the cloud has acknowledged every event of this case or exam (and, with ``closed``, the case is
        closed): only then may its files go (`edge.storage.sweep`). False for an id the journal does not know."""
        with self._lock:
            last, waiting = self._db.execute(
                "SELECT max(e.seq), count(o.seq) FROM events e LEFT JOIN outbox o ON o.seq = e.seq WHERE e.case_id=?",
                (case_id,),
            ).fetchone()
            acked = int(self._meta("acked_seq"))
            if closed:
                row = self._db.execute("SELECT open FROM cases WHERE case_id=?", (case_id,)).fetchone()
                if row is None or row[0]:
                    return False
        return last is not None and waiting == 0 and last <= acked

    # ------------------------------------------------------------ remote commands
    def command(self, request_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute(
                "SELECT command, received_at, status, detail, body FROM commands WHERE request_id=?", (request_id,)
            ).fetchone()
        return (
            {"command": r[0], "received_at": r[1], "status": r[2], "detail": r[3], "body": json.loads(r[4])}
            if r
            else None
        )

    def record_command(
        self,
        request_id: str,
        command: str,
        status: str,
        detail: str,
        body: dict[str, Any],
        now: float,
        events: Iterable[NewEvent] = (),
    ) -> list[EventEnvelope]:
        sql = (
            "INSERT INTO commands(request_id, command, received_at, status, detail, body) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(request_id) DO UPDATE SET status=excluded.status, detail=excluded.detail, body=excluded.body",
            (request_id, command, now, status, detail, json.dumps(body, ensure_ascii=False)),
        )
        return self.record(events, now=now, also=sql)  # the command's state and its event in one transaction
