"""The bridge's database: one schema and one set of migrations, two engines.

`SqliteStore` (WAL, the embedded default) and `PostgresStore` (several
workers, several machines) share every SQL statement; they differ only in
how they connect, lock and spell an auto-increment key. Written with `?`
placeholders; the PostgreSQL store rewrites them to `%s`.

Uniqueness that matters is the database's job, not the caller's:
events by (unit, seq); one row per plate number, issued rows never change
hands; one open alert per key (partial unique index); one callback per
nonce; audit ids contiguous under a lock.
"""

from __future__ import annotations

import json
import logging
import random
import hashlib
import secrets
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cloud_bridge import audit as audit_chain
from cloud_bridge.ingest import (
    Inbound,
    StoredLink,
    chain_link_problem,
    dead_letter_keep,
    payload_text,
    refusal_marker,
    refused_seq,
    track_sequences,
)
from cloud_bridge.rules import (
    CASE_COLUMNS,
    AlertSignal,
    CaseFacts,
    RiskRulesConfig,
    case_of_another_unit_signal,
    check_event,
    failed_logins_signal,
    integrity_signals,
    is_person,
    issued_number,
    override_rate_signal,
    plate_issued_twice_signal,
    project,
    _vin_confirm_fields,
)
from edge.contract import (
    MAX_SEQ_AHEAD,
    CommandResult,
    EventEnvelope,
    EventKind,
    Leaf,
    Telemetry,
    UnitStatus,
    case_owner,
    event_hash,
)

log = logging.getLogger("passlane.bridge")

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE events (
  unit TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
  kind TEXT NOT NULL, case_id TEXT, station TEXT, actor TEXT, data TEXT NOT NULL,
  received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (unit, seq));
CREATE INDEX events_case ON events (case_id);
CREATE TABLE unfolded (unit TEXT NOT NULL, seq BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (unit, seq));
CREATE TABLE units (
  unit TEXT PRIMARY KEY, site TEXT NOT NULL, role TEXT, state TEXT, software TEXT,
  last_status_at DOUBLE PRECISION, last_seen_at DOUBLE PRECISION, acked_seq BIGINT NOT NULL DEFAULT 0,
  max_seq BIGINT NOT NULL DEFAULT 0, stored BIGINT NOT NULL DEFAULT 0, duplicates BIGINT NOT NULL DEFAULT 0,
  gaps BIGINT NOT NULL DEFAULT 0, out_of_order BIGINT NOT NULL DEFAULT 0, telemetry TEXT,
  telemetry_at DOUBLE PRECISION, stage TEXT, outbox_depth BIGINT, boards_offline TEXT);
CREATE TABLE dead_letters (
  id {pk_auto}, topic TEXT NOT NULL, unit TEXT, reason TEXT NOT NULL, payload TEXT NOT NULL,
  size BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL);
CREATE TABLE cases (
  case_id TEXT PRIMARY KEY, unit TEXT, site TEXT, opened_at DOUBLE PRECISION, admitted_at DOUBLE PRECISION,
  first_item_at DOUBLE PRECISION, inspected_at DOUBLE PRECISION, closed_at DOUBLE PRECISION, outcome TEXT,
  stage TEXT, stage_since DOUBLE PRECISION, vin TEXT, cert_vin TEXT, plate TEXT, owner_name TEXT,
  id_number TEXT, paid INTEGER NOT NULL DEFAULT 0, vin_image TEXT, events BIGINT NOT NULL DEFAULT 0,
  stage_times TEXT NOT NULL DEFAULT '{}');
CREATE INDEX cases_vin ON cases (vin);
CREATE INDEX cases_plate ON cases (plate);
CREATE INDEX cases_closed ON cases (closed_at);
CREATE TABLE partner_owners (
  id_number TEXT PRIMARY KEY, name TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE partner_vehicles (
  vin TEXT PRIMARY KEY, id_number TEXT, booking_number TEXT, record TEXT NOT NULL);
CREATE INDEX partner_vehicles_owner ON partner_vehicles (id_number);
CREATE INDEX partner_vehicles_booking ON partner_vehicles (booking_number);
CREATE TABLE plates (
  number TEXT PRIMARY KEY, authority TEXT NOT NULL, plate_kind TEXT NOT NULL, status TEXT NOT NULL,
  case_id TEXT, unit TEXT, reserved_at DOUBLE PRECISION, reserved_until DOUBLE PRECISION,
  issued_at DOUBLE PRECISION, notified INTEGER NOT NULL DEFAULT 0);
CREATE INDEX plates_case ON plates (case_id);
CREATE TABLE payments (
  payment_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, unit TEXT NOT NULL, site TEXT NOT NULL,
  amount_cents BIGINT NOT NULL, items TEXT NOT NULL, status TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, paid_at DOUBLE PRECISION);
CREATE INDEX payments_case ON payments (case_id);
CREATE TABLE payment_nonces (nonce TEXT PRIMARY KEY, seen_at DOUBLE PRECISION NOT NULL);
CREATE TABLE commands (
  request_id TEXT PRIMARY KEY, site TEXT NOT NULL, unit TEXT NOT NULL, command TEXT NOT NULL,
  args TEXT NOT NULL, issued_by TEXT NOT NULL, reason TEXT NOT NULL, issued_at DOUBLE PRECISION NOT NULL,
  expires_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL, detail TEXT, result_at DOUBLE PRECISION);
CREATE TABLE alerts (
  id {pk_auto}, dedup_key TEXT NOT NULL, rule TEXT NOT NULL, severity TEXT NOT NULL, site TEXT,
  unit TEXT, case_id TEXT, title TEXT NOT NULL, detail TEXT NOT NULL, count BIGINT NOT NULL,
  first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL, status TEXT NOT NULL,
  acked_by TEXT, acked_at DOUBLE PRECISION, resolved_by TEXT, resolved_at DOUBLE PRECISION);
CREATE UNIQUE INDEX alerts_open_key ON alerts (dedup_key) WHERE resolved_at IS NULL;
CREATE TABLE inspector_stats (
  inspector TEXT PRIMARY KEY, inspections BIGINT NOT NULL DEFAULT 0, vin_corrections BIGINT NOT NULL DEFAULT 0);
CREATE TABLE login_failures (id {pk_auto}, who TEXT NOT NULL, source TEXT, ts DOUBLE PRECISION NOT NULL);
CREATE INDEX login_failures_who ON login_failures (who, ts);
CREATE TABLE audit (
  id BIGINT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE TABLE users (
  name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
  created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE TABLE api_tokens (
  token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, label TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""),
    (2, """
ALTER TABLE events ADD COLUMN prev TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
CREATE TABLE event_conflicts (
  id {pk_auto}, unit TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL, stored_hash TEXT, hash TEXT NOT NULL, prev TEXT,
  payload TEXT NOT NULL, received_at DOUBLE PRECISION NOT NULL);
CREATE UNIQUE INDEX event_conflicts_version ON event_conflicts (unit, seq, hash);
ALTER TABLE units ADD COLUMN conflicts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN chain_breaks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN refused BIGINT NOT NULL DEFAULT 0;
ALTER TABLE units ADD COLUMN dead_dropped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE dead_letters ADD COLUMN seq BIGINT;
ALTER TABLE dead_letters ADD COLUMN sha256 TEXT;
ALTER TABLE dead_letters ADD COLUMN kept BIGINT;
ALTER TABLE dead_letters ADD COLUMN encoding TEXT NOT NULL DEFAULT 'utf-8';
CREATE TABLE dead_letter_budget (unit TEXT NOT NULL, hour BIGINT NOT NULL, n BIGINT NOT NULL, bytes BIGINT NOT NULL, PRIMARY KEY (unit, hour));
CREATE TABLE plate_offers (
  case_id TEXT NOT NULL, number TEXT NOT NULL, unit TEXT NOT NULL, offered_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (case_id, number));
CREATE INDEX plate_offers_time ON plate_offers (offered_at);
CREATE TABLE case_requests (case_id TEXT NOT NULL, kind TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (case_id, kind));
ALTER TABLE audit ADD COLUMN mac TEXT;
"""),
]


class StoreError(RuntimeError):
    pass


class AuditKeyMissing(StoreError):
    """An entry would be appended unsigned to a signed audit log (and make `audit verify` fail for good)."""


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    gaps: int = 0
    out_of_order: int = 0
    watermarks: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, unit) -> acked seq (changed only)
    alerts: list[AlertSignal] = field(default_factory=list)
    dead_reasons: list[str] = field(default_factory=list)
    conflicts: int = 0
    chain_breaks: int = 0
    refused: int = 0


@dataclass
class ReserveOutcome:
    ok: bool
    number: str
    error: str | None = None
    reserved_until: float | None = None
    released: list[str] = field(default_factory=list)


class Arrived(NamedTuple):
    """One event of a batch: its site, the event, when it arrived, its chain hash (None for a refusal marker)."""

    site: str
    ev: EventEnvelope
    received_at: float
    hash: str | None


@dataclass
class _Conflict:
    """A (unit, seq) that arrived again with other content than the stored event."""

    site: str
    unit: str
    seq: int
    stored_hash: str | None
    incoming: EventEnvelope
    incoming_hash: str | None
    received_at: float


@dataclass
class _Batch:
    """A batch of received messages sorted by what the store does with them."""

    events: dict[tuple[str, int], Arrived] = field(default_factory=dict)  # (unit, seq) -> the event (or a refusal marker)
    statuses: list[Inbound] = field(default_factory=list)
    telemetry: dict[str, Inbound] = field(default_factory=dict)
    results: list[Inbound] = field(default_factory=list)
    dead: list[Inbound] = field(default_factory=list)
    in_batch_dupes: int = 0
    batch_dupes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: list[_Conflict] = field(default_factory=list)
    superseded: set[tuple[str, int]] = field(default_factory=set)  # refusal markers replaced by a valid event
    dead_dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # per unit: dead letters only counted

    @classmethod
    def of(cls, items: list[Inbound]) -> "_Batch":
        b = cls()
        for i in items:
            if i.payload is None:
                b.dead.append(i)
                seq = refused_seq(i)
                if seq is not None and (i.unit or "", seq) not in b.events:
                    b.events[(i.unit or "", seq)] = Arrived(i.site or "", refusal_marker(i, seq), i.received_at, None)
            elif i.leaf == Leaf.EVENTS:
                ev = i.payload
                assert isinstance(ev, EventEnvelope)
                b._add_event(i.site or "", ev, i.received_at)
            elif i.leaf == Leaf.STATUS:
                b.statuses.append(i)
            elif i.leaf == Leaf.TELEMETRY:
                b.telemetry[i.unit or ""] = i
            elif i.leaf == Leaf.CMD_RESULT:
                b.results.append(i)
        return b

    def _add_event(self, site: str, ev: EventEnvelope, received_at: float) -> None:
        key = (ev.unit, ev.seq)
        h = event_hash(ev)
        known = self.events.get(key)
        if known is None or known.hash is None:  # new, or a valid event in place of a refusal
            self.events[key] = Arrived(site, ev, received_at, h)
        elif known.hash == h:
            self.in_batch_dupes += 1
            self.batch_dupes[ev.unit] += 1
        else:
            self.conflicts.append(_Conflict(site, ev.unit, ev.seq, known.hash, ev, h, received_at))


class Cur:
    """A thin cursor wrapper: dict rows, `?` placeholders."""

    def __init__(self, raw: Any, pg: bool) -> None:
        self.raw = raw
        self.pg = pg

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def x(self, sql: str, params: Sequence[Any] = ()) -> int:
        self.raw.execute(self._sql(sql), tuple(params))
        return self.raw.rowcount

    def many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.raw.executemany(self._sql(sql), [tuple(r) for r in rows])

    def q(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.raw.execute(self._sql(sql), tuple(params))
        if self.pg:
            return list(self.raw.fetchall())
        cols = [d[0] for d in self.raw.description] if self.raw.description else []
        return [dict(zip(cols, r)) for r in self.raw.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.q(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(row.values()))


def _placeholders(n: int, width: int) -> str:
    row = "(" + ",".join("?" * width) + ")"
    return ",".join([row] * n)


def _event_of_row(row: dict[str, Any]) -> EventEnvelope:
    """A stored event as its envelope (unvalidated: rows stored under older limits stay readable)."""
    data = row["data"]
    return EventEnvelope.model_construct(v=1, unit=row["unit"], seq=int(row["seq"]), ts=float(row["ts"]), kind=EventKind(row["kind"]),
                                         case_id=row["case_id"], station=row["station"], actor=row["actor"],
                                         data=json.loads(data) if isinstance(data, str) else data, prev=row.get("prev"))


def _facts_from_row(row: dict[str, Any]) -> CaseFacts:
    f = CaseFacts(**{k: row[k] for k in CASE_COLUMNS if k in row})
    f.paid = bool(f.paid)
    f.stage_times = json.loads(row.get("stage_times") or "{}")
    return f


class Store:
    """Everything the bridge keeps. Subclasses: `SqliteStore`, `PostgresStore`."""

    pg = False
    pk_auto = ""
    greatest = "MAX"

    def __init__(self, rules: RiskRulesConfig | None = None) -> None:
        self.rules = rules or RiskRulesConfig()
        self.audit_key: bytes | None = None  # signs audit entries; set from [audit] in bridge.toml, never stored here
        self._local = threading.local()

    # -- engine specifics
    def _connect(self) -> Any:
        raise NotImplementedError

    @contextmanager
    def tx(self, write: bool = True, fast: bool = False) -> Iterator[Cur]:
        """A transaction; `fast`: derived data that may be rebuilt, committed without waiting for the disk (PostgreSQL)."""
        raise NotImplementedError

    def _lock(self, cur: Cur, name: str) -> None:
        """Serialise writers of one thing (audit chain, migrations) across workers."""

    def for_update(self) -> str:
        return ""

    def close(self) -> None:
        raise NotImplementedError

    # -- schema
    def migrate(self) -> int:
        with self.tx() as cur:
            self._lock(cur, "migrate")
            cur.x("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)")
            done = {r["version"] for r in cur.q("SELECT version FROM schema_migrations")}
            applied = 0
            for version, script in MIGRATIONS:
                if version in done:
                    continue
                for stmt in script.replace("{pk_auto}", self.pk_auto).split(";"):
                    if stmt.strip():
                        cur.x(stmt)
                cur.x("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", (version, time.time()))
                applied += 1
        return applied

    def schema_version(self) -> int:
        with self.tx(write=False) as cur:
            return int(cur.scalar("SELECT MAX(version) AS v FROM schema_migrations") or 0)

    # ------------------------------------------------------------------ ingest
    def ingest_batch(self, items: list[Inbound], now: float | None = None) -> IngestResult:
        """Store a batch; after it returns, every item may be acknowledged.

        Two transactions. The first is the durable one: the events (insert-or-ignore
        by (unit, seq)), dead letters, unit status and command results; it takes no
        lock that another worker's batch needs, except on the very same event key.
        The second folds the newly stored events into the unit counters, the
        watermark, the case view and the risk alerts: it locks the unit and case
        rows it touches, and on PostgreSQL commits without waiting for the WAL
        flush, so those locks are held for milliseconds rather than for a disk
        flush. Each event is folded exactly once: the first transaction lists it in
        `unfolded`, and the fold claims it by deleting it from there. An event stored but not
        folded (a worker killed between the two) is folded when its message is
        delivered again, or by `fold_pending()` in the periodic sweep.
        """
        now = time.time() if now is None else now
        batch = _Batch.of(items)
        self._retrying(lambda cur: self._store_durable(cur, batch), fast=False)
        return self._retrying(lambda cur: self._fold(cur, batch, now), fast=True)

    def _retrying(self, fn: Any, *, fast: bool) -> Any:
        for attempt in range(5):
            try:
                with self.tx(fast=fast) as cur:
                    return fn(cur)
            except Exception as exc:  # noqa: BLE001 - retried only for engine-level conflicts
                if not self._retryable(exc) or attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1) * random.random())
        raise StoreError("unreachable")

    def _retryable(self, exc: Exception) -> bool:
        return False

    def _store_durable(self, cur: Cur, b: "_Batch") -> None:
        if b.events:
            self._refuse_far_ahead(cur, b)
        if b.dead:
            self._store_dead_letters(cur, b)
        if b.events:
            ordered = sorted(b.events.values(), key=lambda t: (t.ev.unit, t.ev.seq))
            stored: set[tuple[str, int]] = set()
            for start in range(0, len(ordered), 400):
                chunk = ordered[start:start + 400]
                params: list[Any] = []
                for a in chunk:
                    ev = a.ev
                    params += [ev.unit, ev.seq, a.site, ev.ts, ev.kind.value, ev.case_id, ev.station, ev.actor,
                               json.dumps(ev.data, ensure_ascii=False, separators=(",", ":")), a.received_at, ev.prev, a.hash]
                rows = cur.q(f"INSERT INTO events (unit, seq, site, ts, kind, case_id, station, actor, data, received_at, prev, hash) VALUES "
                             f"{_placeholders(len(chunk), 12)} ON CONFLICT (unit, seq) DO NOTHING RETURNING unit, seq, received_at", params)
                if rows:  # stored now, folded by the second transaction
                    cur.x(f"INSERT INTO unfolded (unit, seq, received_at) VALUES {_placeholders(len(rows), 3)}",
                          [v for r in rows for v in (r["unit"], r["seq"], r["received_at"])])
                stored.update((r["unit"], int(r["seq"])) for r in rows)
            again = [k for k in b.events if k not in stored]
            if again:
                self._judge_repeats(cur, b, again)
        if b.conflicts:
            self._keep_conflicts(cur, b.conflicts)
        if b.statuses or b.results:
            names = sorted({i.unit or "" for i in b.statuses + b.results})
            sites = {i.unit or "": i.site or "" for i in b.statuses + b.results}
            cur.x(f"INSERT INTO units (unit, site) VALUES {_placeholders(len(names), 2)} ON CONFLICT (unit) DO NOTHING",
                  [v for u in names for v in (u, sites[u])])
        for i in b.statuses:
            st = i.payload
            assert isinstance(st, UnitStatus)
            cur.x("UPDATE units SET state = ?, role = ?, software = ?, last_status_at = ?, last_seen_at = ? WHERE unit = ?",
                  (st.state.value, st.role, st.software, st.ts, i.received_at, st.unit))
        for i in b.results:
            r = i.payload
            assert isinstance(r, CommandResult)
            cur.x("UPDATE commands SET status = ?, detail = ?, result_at = ? WHERE request_id = ? AND unit = ?",
                  (r.status.value, r.detail, r.ts, r.request_id, r.unit))

    def _refuse_far_ahead(self, cur: Cur, b: "_Batch") -> None:
        """An event far beyond its unit's watermark is a dead letter: stored, it would make every later real event out of order."""
        units = sorted({u for u, _ in b.events})
        acked = {r["unit"]: int(r["acked_seq"]) for r in cur.q(f"SELECT unit, acked_seq FROM units WHERE unit IN ({','.join('?' * len(units))})", units)}
        for key in [k for k in b.events if k[1] > acked.get(k[0], 0) + MAX_SEQ_AHEAD]:
            a = b.events.pop(key)
            if a.hash is not None:  # a refusal marker's message is a dead letter already
                raw = a.ev.to_bytes()
                b.dead.append(Inbound(f"passlane/v1/{a.site}/{a.ev.unit}/events", a.site, a.ev.unit, Leaf.EVENTS, None, raw, a.received_at,
                                      f"seq_ahead: seq {a.ev.seq} is more than {MAX_SEQ_AHEAD} beyond the watermark {acked.get(key[0], 0)}"))

    def _store_dead_letters(self, cur: Cur, b: "_Batch") -> None:
        """Dead letters with their full content, within an hourly budget per unit; beyond it a head, then only a count."""
        per_unit: dict[str, list[Inbound]] = defaultdict(list)
        for d in b.dead:
            per_unit[d.unit or "?"].append(d)
        rows = []
        for unit in sorted(per_unit):
            items = per_unit[unit]
            hour = int(items[0].received_at // 3600)
            used = cur.one("INSERT INTO dead_letter_budget (unit, hour, n, bytes) VALUES (?, ?, ?, ?) ON CONFLICT (unit, hour) DO UPDATE SET "
                           "n = dead_letter_budget.n + excluded.n, bytes = dead_letter_budget.bytes + excluded.bytes RETURNING n, bytes",
                           (unit, hour, len(items), sum(len(d.raw) for d in items))) or {}
            n = int(used.get("n", 0)) - len(items)
            nbytes = int(used.get("bytes", 0)) - sum(len(d.raw) for d in items)
            for d in items:
                keep = dead_letter_keep(n, nbytes, len(d.raw))
                n += 1
                nbytes += len(d.raw)
                if not keep.store_row:
                    b.dead_dropped[unit] += 1
                    continue
                text, encoding = payload_text(d.raw[:keep.keep_bytes])
                rows.append((d.topic, d.unit, d.reason, text, len(d.raw), d.received_at, refused_seq(d), hashlib.sha256(d.raw).hexdigest(),
                             keep.keep_bytes, encoding))
        cur.many("INSERT INTO dead_letters (topic, unit, reason, payload, size, received_at, seq, sha256, kept, encoding) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def _judge_repeats(self, cur: Cur, b: "_Batch", keys: list[tuple[str, int]]) -> None:
        """Events whose (unit, seq) is stored already: a duplicate when the content is the same, else a conflict.

        A refusal marker is replaced by a valid event with its seq (the valid one is what the unit meant to
        send; the refused message stays a dead letter), and a refused message never replaces a stored event.
        """
        stored = self._stored_events(cur, keys)
        for key in keys:
            a = b.events[key]
            row = stored.get(key)
            if row is None:
                continue
            if row["kind"] == EventKind.EVENT_REFUSED.value:
                if a.hash is not None:
                    self._replace_marker(cur, a)
                    b.superseded.add(key)
                continue
            if a.hash is None:
                continue  # a refused message for a stored event: its dead letter is all there is to keep
            stored_hash = row["hash"] or event_hash(_event_of_row(row))
            if stored_hash != a.hash:
                b.conflicts.append(_Conflict(a.site, key[0], key[1], stored_hash, a.ev, a.hash, a.received_at))
                del b.events[key]  # not a duplicate: kept apart, counted and alerted as a conflict

    def _stored_events(self, cur: Cur, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        out: dict[tuple[str, int], dict[str, Any]] = {}
        by_unit: dict[str, list[int]] = defaultdict(list)
        for unit, seq in keys:
            by_unit[unit].append(seq)
        for unit in sorted(by_unit):
            seqs = sorted(by_unit[unit])
            for start in range(0, len(seqs), 500):
                chunk = seqs[start:start + 500]
                for r in cur.q(f"SELECT unit, seq, site, ts, kind, case_id, station, actor, data, prev, hash FROM events "
                               f"WHERE unit = ? AND seq IN ({','.join('?' * len(chunk))})", [unit, *chunk]):
                    out[(r["unit"], int(r["seq"]))] = r
        return out

    def _replace_marker(self, cur: Cur, a: Arrived) -> None:
        ev = a.ev
        cur.x("UPDATE events SET site = ?, ts = ?, kind = ?, case_id = ?, station = ?, actor = ?, data = ?, received_at = ?, prev = ?, hash = ? "
              "WHERE unit = ? AND seq = ? AND kind = ?",
              (a.site, ev.ts, ev.kind.value, ev.case_id, ev.station, ev.actor, json.dumps(ev.data, ensure_ascii=False, separators=(",", ":")),
               a.received_at, ev.prev, a.hash, ev.unit, ev.seq, EventKind.EVENT_REFUSED.value))
        cur.x("INSERT INTO unfolded (unit, seq, received_at) VALUES (?, ?, ?) ON CONFLICT (unit, seq) DO NOTHING", (ev.unit, ev.seq, a.received_at))

    def _keep_conflicts(self, cur: Cur, conflicts: list["_Conflict"]) -> None:
        """Both versions are kept: the stored one in `events`, every other one here, once per content."""
        cur.many("INSERT INTO event_conflicts (unit, seq, site, stored_hash, hash, prev, payload, received_at) VALUES (?,?,?,?,?,?,?,?) "
                 "ON CONFLICT (unit, seq, hash) DO NOTHING",
                 [(c.unit, c.seq, c.site, c.stored_hash, c.incoming_hash, c.incoming.prev, c.incoming.model_dump_json(), c.received_at)
                  for c in conflicts])

    def _claim(self, cur: Cur, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
        """Take stored, not yet folded events off `unfolded`; returns the keys this transaction claimed (and so folds)."""
        claimed: set[tuple[str, int]] = set()
        by_unit: dict[str, list[int]] = defaultdict(list)
        for unit, seq in keys:
            by_unit[unit].append(seq)
        for unit in sorted(by_unit):
            seqs = sorted(by_unit[unit])
            for start in range(0, len(seqs), 500):
                chunk = seqs[start:start + 500]
                rows = cur.q(f"DELETE FROM unfolded WHERE unit = ? AND seq IN ({','.join('?' * len(chunk))}) RETURNING seq", [unit, *chunk])
                claimed.update((unit, int(r["seq"])) for r in rows)
        return claimed

    def _fold(self, cur: Cur, b: "_Batch", now: float) -> IngestResult:
        res = IngestResult(dead=len(b.dead), dead_reasons=[d.reason or "" for d in b.dead], conflicts=len(b.conflicts))
        events = b.events
        # units first, in a fixed order (PostgreSQL row locks; no deadlock between workers)
        unit_site: dict[str, str] = {}
        for a in events.values():
            unit_site[a.ev.unit] = a.site
        for c in b.conflicts:
            unit_site.setdefault(c.unit, c.site)
        for d in b.dead:
            if d.unit and d.unit in b.dead_dropped:
                unit_site.setdefault(d.unit, d.site or "")
        for i in list(b.telemetry.values()):
            unit_site.setdefault(i.unit or "", i.site or "")
        units_before: dict[str, dict[str, Any]] = {}
        if unit_site:
            names = sorted(unit_site)
            cur.x(f"INSERT INTO units (unit, site) VALUES {_placeholders(len(names), 2)} ON CONFLICT (unit) DO NOTHING",
                  [v for u in names for v in (u, unit_site[u])])
            for row in cur.q(f"SELECT unit, acked_seq, max_seq FROM units WHERE unit IN ({','.join('?' * len(names))}) ORDER BY unit{self.for_update()}", names):
                units_before[row["unit"]] = row

        # cases touched, locked in a fixed order
        case_ids = sorted({a.ev.case_id for a in events.values() if a.ev.case_id and case_owner(a.ev.case_id) == a.ev.unit})
        facts: dict[str, CaseFacts] = {}
        for chunk_start in range(0, len(case_ids), 500):
            chunk = case_ids[chunk_start:chunk_start + 500]
            # make the rows exist first, so that two workers with events of a new case serialise on its row
            cur.x(f"INSERT INTO cases (case_id) VALUES {_placeholders(len(chunk), 1)} ON CONFLICT (case_id) DO NOTHING", chunk)
            for row in cur.q(f"SELECT * FROM cases WHERE case_id IN ({','.join('?' * len(chunk))}) ORDER BY case_id{self.for_update()}", chunk):
                facts[row["case_id"]] = _facts_from_row(row)

        # the events this transaction folds: stored and not folded before (exactly once, whoever stored them)
        claimed = self._claim(cur, list(events)) if events else set()
        inserted = [t for k, t in events.items() if k in claimed]  # arrival order, for gap / reorder bookkeeping
        res.stored = len(inserted)
        res.duplicates = len(events) - len(inserted) + b.in_batch_dupes
        dupes_per_unit: dict[str, int] = defaultdict(int, b.batch_dupes)
        for (unit, seq) in events:
            if (unit, seq) not in claimed:
                dupes_per_unit[unit] += 1

        per_unit: dict[str, list[int]] = defaultdict(list)
        for a in inserted:
            per_unit[a.ev.unit].append(a.ev.seq)
        breaks = self._check_chain(cur, [a for a in inserted if a.hash is not None])
        integrity = self._integrity_counts(b, inserted, breaks)
        res.chain_breaks = sum(n for n, _, _ in breaks.values())
        res.refused = sum(1 for a in inserted if a.hash is None)
        touched_units = sorted(set(per_unit) | set(dupes_per_unit) | set(integrity))
        new_marks = self._advance_watermarks(cur, {u: int(units_before.get(u, {"acked_seq": 0})["acked_seq"]) for u in touched_units})
        unit_rows = []
        for unit in touched_units:
            before = units_before.get(unit, {"acked_seq": 0, "max_seq": 0})
            prog = track_sequences(int(before["max_seq"]), per_unit.get(unit, []))
            res.gaps += prog.gaps
            res.out_of_order += prog.out_of_order
            acked = int(before["acked_seq"])
            new_acked = new_marks.get(unit, acked)
            new_rows = len(per_unit.get(unit, [])) - sum(1 for u, _ in b.superseded if u == unit)  # a replaced marker adds no row
            unit_rows.append((prog.max_seq, new_rows, dupes_per_unit.get(unit, 0), prog.gaps, prog.out_of_order, new_acked,
                              *integrity.get(unit, (0, 0, 0, 0)), now, unit))
            superseded = any(u == unit for u, _ in b.superseded)  # its watermark covered the refusal already: say it again
            if new_acked > acked or superseded or (dupes_per_unit.get(unit) and not per_unit.get(unit)):
                res.watermarks[(unit_site.get(unit, ""), unit)] = new_acked
        cur.many(f"UPDATE units SET max_seq = {self.greatest}(max_seq, ?), stored = stored + ?, duplicates = duplicates + ?, "
                 f"gaps = gaps + ?, out_of_order = out_of_order + ?, acked_seq = {self.greatest}(acked_seq, ?), conflicts = conflicts + ?, "
                 f"chain_breaks = chain_breaks + ?, refused = refused + ?, dead_dropped = dead_dropped + ?, last_seen_at = ? WHERE unit = ?",
                 unit_rows)
        replaced = [events[k] for k in sorted(b.superseded) if k in claimed]
        res.alerts += integrity_signals(b.conflicts + [_Conflict(a.site, a.ev.unit, a.ev.seq, None, a.ev, a.hash, a.received_at) for a in replaced],
                                        [a for a in inserted if a.hash is None], breaks, b.dead_dropped, unit_site, self.rules)

        # case projection and the per-event risk rules
        if inserted:
            self._project_and_judge(cur, inserted, facts, res, now)

        for unit, i in b.telemetry.items():
            tm = i.payload
            assert isinstance(tm, Telemetry)
            offline = [bd.name for bd in tm.boards if not bd.online]
            cur.x("UPDATE units SET telemetry = ?, telemetry_at = ?, stage = ?, outbox_depth = ?, boards_offline = ?, last_seen_at = ? WHERE unit = ?",
                  (tm.model_dump_json(), tm.ts, tm.stage, tm.outbox_depth, json.dumps(offline), now, unit))
        self._raise_many(cur, res.alerts, now)
        return res

    @staticmethod
    def _integrity_counts(b: "_Batch", inserted: list[Arrived], breaks: dict[str, tuple[int, int, str]]) -> dict[str, tuple[int, int, int, int]]:
        """Per unit: (conflicts, chain breaks, refused events, dead letters only counted) of this batch."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for c in b.conflicts:
            out[c.unit][0] += 1
        for unit, (n, _, _) in breaks.items():
            out[unit][1] += n
        for a in inserted:
            if a.hash is None:
                out[a.ev.unit][2] += 1
        for unit, n in b.dead_dropped.items():
            if unit != "?":
                out[unit][3] += n
        return {u: (v[0], v[1], v[2], v[3]) for u, v in out.items()}

    def _check_chain(self, cur: Cur, fresh: list[Arrived]) -> dict[str, tuple[int, int, str]]:
        """Chain links of newly stored events, to the stored event before and after each: unit -> (breaks, a seq, why)."""
        if not fresh:
            return {}
        keys = [(a.ev.unit, a.ev.seq + d) for a in fresh for d in (-1, 1) if a.ev.seq + d >= 1]
        stored = self._stored_links(cur, keys)
        for a in fresh:
            stored[(a.ev.unit, a.ev.seq)] = StoredLink(a.hash, a.ev.prev, a.ev.kind.value)
        out: dict[str, tuple[int, int, str]] = {}
        seen: set[tuple[str, int]] = set()
        for a in fresh:
            unit, seq = a.ev.unit, a.ev.seq
            for later in (seq, seq + 1):  # this event's own link, and the stored successor's link to it
                succ = stored.get((unit, later))
                if succ is None or (unit, later) in seen:
                    continue
                seen.add((unit, later))
                why = chain_link_problem(stored.get((unit, later - 1)), succ.prev, later)
                if why:
                    n, _, _ = out.get(unit, (0, 0, ""))
                    out[unit] = (n + 1, later, why)
        return out

    def _stored_links(self, cur: Cur, keys: list[tuple[str, int]]) -> dict[tuple[str, int], StoredLink]:
        out: dict[tuple[str, int], StoredLink] = {}
        by_unit: dict[str, list[int]] = defaultdict(list)
        for unit, seq in keys:
            by_unit[unit].append(seq)
        for unit in sorted(by_unit):
            seqs = sorted(set(by_unit[unit]))
            for start in range(0, len(seqs), 500):
                chunk = seqs[start:start + 500]
                for r in cur.q(f"SELECT seq, hash, prev, kind FROM events WHERE unit = ? AND seq IN ({','.join('?' * len(chunk))})", [unit, *chunk]):
                    out[(unit, int(r["seq"]))] = StoredLink(r["hash"], r["prev"], r["kind"])
        return out

    def fold_pending(self, older_than_s: float = 60.0, limit: int = 5000, now: float | None = None) -> IngestResult:
        """Fold events stored but never folded (their worker died between its two transactions and never came back)."""
        now = time.time() if now is None else now
        with self.tx(write=False) as cur:
            rows = cur.q("SELECT e.unit, e.seq, e.site, e.ts, e.kind, e.case_id, e.station, e.actor, e.data, e.received_at, e.prev, e.hash "
                         "FROM unfolded u JOIN events e ON e.unit = u.unit AND e.seq = u.seq WHERE u.received_at < ? ORDER BY u.received_at LIMIT ?",
                         (now - older_than_s, limit))
        if not rows:
            return IngestResult()
        batch = _Batch()
        for r in rows:
            ev = _event_of_row(r)
            refused = ev.kind == EventKind.EVENT_REFUSED
            batch.events[(ev.unit, ev.seq)] = Arrived(r["site"], ev, r["received_at"], None if refused else (r["hash"] or event_hash(ev)))
        return self._retrying(lambda cur: self._fold(cur, batch, now), fast=True)

    def _advance_watermarks(self, cur: Cur, acked: dict[str, int]) -> dict[str, int]:
        """The highest contiguous stored seq per unit, starting from its current watermark (one query)."""
        if not acked:
            return {}
        values = " UNION ALL ".join(["SELECT ? AS unit, ? AS acked"] * len(acked))
        params: list[Any] = [v for u, a in acked.items() for v in (u, a)]
        rows = cur.q(
            f"SELECT w.unit, CASE WHEN EXISTS (SELECT 1 FROM events n WHERE n.unit = w.unit AND n.seq = w.acked + 1) THEN "
            f"(SELECT MIN(e.seq) FROM events e WHERE e.unit = w.unit AND e.seq > w.acked AND NOT EXISTS "
            f"(SELECT 1 FROM events x WHERE x.unit = e.unit AND x.seq = e.seq + 1)) ELSE w.acked END AS mark FROM ({values}) w", params)
        return {r["unit"]: int(r["mark"]) for r in rows}

    def _project_and_judge(self, cur: Cur, inserted: list[Arrived], facts: dict[str, CaseFacts], res: IngestResult, now: float) -> None:
        cfg = self.rules
        issued_cases = sorted({a.ev.case_id for a in inserted if a.ev.kind == EventKind.CASE_PLATES_ISSUED and a.ev.case_id})
        paid_cases: set[str] = set()
        if issued_cases:
            paid_cases = {r["case_id"] for r in cur.q(
                f"SELECT DISTINCT case_id FROM payments WHERE status = 'paid' AND case_id IN ({','.join('?' * len(issued_cases))})", issued_cases)}
        touched: set[str] = set()
        inspectors: dict[str, list[Any]] = {}
        for site, ev, _, _ in sorted(inserted, key=lambda t: (t.ev.ts, t.ev.unit, t.ev.seq)):
            if ev.case_id and case_owner(ev.case_id) != ev.unit:
                res.alerts.append(case_of_another_unit_signal(ev, site, cfg))
                continue  # kept in the unit's record, but it changes no case, plate or figure
            before = facts.get(ev.case_id) if ev.case_id else None
            try:  # the pure rules and projection must never stop ingest, whatever a lane put in `data`
                res.alerts += check_event(ev, before, site, cfg, paid_by_bridge=ev.case_id in paid_cases)
            except Exception:  # noqa: BLE001
                log.exception("risk rules skipped for %s#%s", ev.unit, ev.seq)
            if ev.case_id:
                f = facts.setdefault(ev.case_id, CaseFacts(ev.case_id))
                try:
                    project(f, ev, site)
                except Exception:  # noqa: BLE001
                    log.exception("case view not updated by %s#%s", ev.unit, ev.seq)
                touched.add(ev.case_id)
            if ev.kind == EventKind.CASE_INSPECTED and is_person(ev.actor):
                inspectors.setdefault(ev.actor, [0, 0, site, ev.unit])[0] += 1  # type: ignore[index]
            if ev.kind == EventKind.CASE_VIN_CONFIRMED and is_person(ev.actor) and _vin_confirm_fields(ev.data)[2]:
                inspectors.setdefault(ev.actor, [0, 0, site, ev.unit])[1] += 1  # type: ignore[index]
            if ev.kind == EventKind.INSPECTOR_SIGN_IN_FAILED:
                who = f"{ev.unit}/{ev.actor or ev.data.get('inspector') or '?'}"
                sig = self._count_failure(cur, who, ev.unit, ev.ts, site, ev.unit)
                if sig:
                    res.alerts.append(sig)
            if ev.kind == EventKind.CASE_PLATES_ISSUED and issued_number(ev.data):
                kind = ev.data.get("plate_kind")
                sig = self._issue_plate(cur, str(issued_number(ev.data)), ev.case_id, ev.unit, site, ev.ts, kind if isinstance(kind, str) else None)
                if sig:
                    res.alerts.append(sig)
        if inspectors:
            names = sorted(inspectors)
            cur.many("INSERT INTO inspector_stats (inspector, inspections, vin_corrections) VALUES (?, ?, ?) ON CONFLICT (inspector) DO UPDATE "
                     "SET inspections = inspector_stats.inspections + excluded.inspections, "
                     "vin_corrections = inspector_stats.vin_corrections + excluded.vin_corrections",
                     [(n, inspectors[n][0], inspectors[n][1]) for n in names])
            for row in cur.q(f"SELECT inspector, inspections, vin_corrections FROM inspector_stats WHERE inspector IN ({','.join('?' * len(names))})",
                             names):
                st = inspectors[row["inspector"]]
                sig = override_rate_signal(row["inspector"], int(row["inspections"]), int(row["vin_corrections"]), cfg, st[2], st[3])
                if sig:
                    res.alerts.append(sig)
        rows = []
        cols = list(CASE_COLUMNS) + ["stage_times"]
        for case_id in sorted(touched):
            row = facts[case_id].as_row()
            row["paid"] = int(bool(row["paid"]))
            row["stage_times"] = json.dumps(facts[case_id].stage_times)
            rows.append([row[c] for c in cols])
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "case_id")
        cur.many(f"INSERT INTO cases ({', '.join(cols)}) VALUES ({','.join('?' * len(cols))}) ON CONFLICT (case_id) DO UPDATE SET {updates}", rows)

    def _issue_plate(self, cur: Cur, number: str, case_id: str | None, unit: str, site: str, ts: float, kind: str | None) -> AlertSignal | None:
        rows = cur.q(
            "INSERT INTO plates (number, authority, plate_kind, status, case_id, unit, reserved_at, reserved_until, issued_at) "
            "VALUES (?, ?, ?, 'issued', ?, ?, NULL, NULL, ?) ON CONFLICT (number) DO UPDATE SET status = 'issued', "
            "issued_at = excluded.issued_at, case_id = excluded.case_id, unit = excluded.unit "
            "WHERE plates.status = 'reserved' AND (plates.case_id = excluded.case_id OR plates.reserved_until < ?) RETURNING case_id",
            (number, number[:2], kind or ("new-energy" if len(number) == 8 else "ordinary"), case_id, unit, ts, time.time()))
        if rows:
            return None
        holder = cur.one("SELECT case_id, status FROM plates WHERE number = ?", (number,))
        if holder and holder["case_id"] == case_id:
            if holder["status"] == "issued":
                return None  # the same case reported again
        return plate_issued_twice_signal(number, case_id, holder["case_id"] if holder else None, site, unit, self.rules)

    def _count_failure(self, cur: Cur, who: str, source: str | None, ts: float, site: str | None, unit: str | None) -> AlertSignal | None:
        cur.x("INSERT INTO login_failures (who, source, ts) VALUES (?, ?, ?)", (who, source, ts))
        n = int(cur.scalar("SELECT COUNT(*) AS n FROM login_failures WHERE who = ? AND ts > ?", (who, ts - self.rules.failed_logins_window_s)) or 0)
        return failed_logins_signal(who, n, self.rules, site, unit)

    # ------------------------------------------------------------------ alerts
    def _raise(self, cur: Cur, s: AlertSignal, now: float) -> None:
        cur.x("INSERT INTO alerts (dedup_key, rule, severity, site, unit, case_id, title, detail, count, first_seen, last_seen, status) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, 'open') ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET "
              "count = alerts.count + 1, last_seen = excluded.last_seen, detail = excluded.detail, severity = excluded.severity",
              (s.key, s.rule.value, s.severity.value, s.site, s.unit, s.case_id, s.title, s.detail, now, now))

    def _raise_many(self, cur: Cur, signals: list[AlertSignal], now: float) -> None:
        if not signals:
            return
        latest: dict[str, AlertSignal] = {}
        counts: dict[str, int] = defaultdict(int)
        for sig in signals:
            latest[sig.key] = sig
            counts[sig.key] += 1
        cur.many("INSERT INTO alerts (dedup_key, rule, severity, site, unit, case_id, title, detail, count, first_seen, last_seen, status) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET "
                 "count = alerts.count + excluded.count, last_seen = excluded.last_seen, detail = excluded.detail, severity = excluded.severity",
                 [(s.key, s.rule.value, s.severity.value, s.site, s.unit, s.case_id, s.title, s.detail, counts[k], now, now)
                  for k, s in sorted(latest.items())])

    def raise_alerts(self, signals: list[AlertSignal], now: float | None = None) -> None:
        if not signals:
            return
        now = time.time() if now is None else now
        with self.tx() as cur:
            for s in sorted(signals, key=lambda s: s.key):
                self._raise(cur, s, now)

    def alerts(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            if status == "active":
                return cur.q("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY last_seen DESC LIMIT ?", (limit,))
            if status:
                return cur.q("SELECT * FROM alerts WHERE status = ? ORDER BY last_seen DESC LIMIT ?", (status, limit))
            return cur.q("SELECT * FROM alerts ORDER BY last_seen DESC LIMIT ?", (limit,))

    def alert(self, alert_id: int) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            return cur.one("SELECT * FROM alerts WHERE id = ?", (alert_id,))

    def acknowledge_alert(self, alert_id: int, user: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.tx() as cur:
            return cur.x("UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = ? WHERE id = ? AND status = 'open'", (user, now, alert_id)) == 1

    def resolve_alert(self, alert_id: int, user: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.tx() as cur:
            return cur.x("UPDATE alerts SET status = 'resolved', resolved_by = ?, resolved_at = ?, acked_by = COALESCE(acked_by, ?), "
                         "acked_at = COALESCE(acked_at, ?) WHERE id = ? AND resolved_at IS NULL", (user, now, user, now, alert_id)) == 1

    def record_login_failure(self, who: str, source: str | None, now: float | None = None) -> int:
        """Record a dashboard sign-in failure; raises the failed-logins alert when over the limit. Returns the count in the window."""
        now = time.time() if now is None else now
        with self.tx() as cur:
            sig = self._count_failure(cur, who, source, now, None, None)
            if sig:
                self._raise(cur, sig, now)
            return int(cur.scalar("SELECT COUNT(*) AS n FROM login_failures WHERE who = ? AND ts > ?", (who, now - self.rules.failed_logins_window_s)) or 0)

    def recent_failures(self, who: str, since: float) -> int:
        with self.tx(write=False) as cur:
            return int(cur.scalar("SELECT COUNT(*) AS n FROM login_failures WHERE who = ? AND ts > ?", (who, since)) or 0)

    def login_failure_counts(self, who: str, source: str, since: float, per_source_cap: int) -> dict[str, Any]:
        """What the sign-in back-off needs in one read: failures of `who` from `source`, and from every source with each
        source counted at most `per_source_cap` times (so one address alone cannot start a user-wide back-off)."""
        with self.tx(write=False) as cur:
            here = cur.one("SELECT COUNT(*) AS n, MAX(ts) AS last FROM login_failures WHERE who = ? AND source = ? AND ts > ?",
                           (who, source, since)) or {}
            everywhere = cur.one(
                "SELECT COALESCE(SUM(CASE WHEN n > ? THEN ? ELSE n END), 0) AS n, MAX(last) AS last FROM "
                "(SELECT COUNT(*) AS n, MAX(ts) AS last FROM login_failures WHERE who = ? AND ts > ? GROUP BY source) per_source",
                (per_source_cap, per_source_cap, who, since)) or {}
        return {"source_failures": int(here.get("n") or 0), "source_last": here.get("last"),
                "all_failures": int(everywhere.get("n") or 0), "all_last": everywhere.get("last")}

    def clear_login_failures(self, who: str, source: str) -> None:
        """A successful sign-in from `source` forgives that address's earlier failures for `who` (not other addresses')."""
        with self.tx() as cur:
            cur.x("DELETE FROM login_failures WHERE who = ? AND source = ?", (who, source))

    # ------------------------------------------------------------------ reads for lanes and ops
    def unit_events(self, unit: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            rows = cur.q("SELECT unit, seq, site, ts, kind, case_id, station, actor, data, received_at FROM events WHERE unit = ? AND seq > ? ORDER BY seq LIMIT ?",
                         (unit, after, limit))
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def case(self, case_id: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            row = cur.one("SELECT * FROM cases WHERE case_id = ?", (case_id,))
            events = cur.q("SELECT unit, seq, site, ts, kind, case_id, station, actor, data, received_at FROM events WHERE case_id = ? ORDER BY ts, unit, seq", (case_id,))
            payments = cur.q("SELECT * FROM payments WHERE case_id = ? ORDER BY created_at", (case_id,))
            plates = cur.q("SELECT * FROM plates WHERE case_id = ?", (case_id,))
        if row is None and not events:
            return None
        for e in events:
            e["data"] = json.loads(e["data"])
        case = dict(row or {"case_id": case_id})
        case["stage_times"] = json.loads(case.get("stage_times") or "{}")
        case["paid"] = bool(case.get("paid")) or any(p["status"] == "paid" for p in payments)
        case["timeline"] = events
        case["payments"] = payments
        case["plates"] = plates
        return case

    def search_cases(self, q: str, limit: int = 50) -> list[dict[str, Any]]:
        q = q.strip()
        like = f"%{q}%"
        with self.tx(write=False) as cur:
            return cur.q("SELECT case_id, unit, site, opened_at, closed_at, outcome, stage, vin, plate, owner_name, id_number, paid FROM cases "
                         "WHERE case_id = ? OR vin LIKE ? OR plate LIKE ? OR owner_name LIKE ? OR id_number = ? ORDER BY opened_at DESC LIMIT ?",
                         (q, like, like, like, q, limit))

    def units(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            rows = cur.q("SELECT * FROM units ORDER BY site, unit")
            open_cases = cur.q("SELECT unit, COUNT(*) AS n, MIN(opened_at) AS oldest FROM cases WHERE closed_at IS NULL GROUP BY unit")
            current = cur.q("SELECT c.unit, c.case_id, c.stage, c.stage_since FROM cases c WHERE c.closed_at IS NULL ORDER BY c.stage_since")
        oc = {r["unit"]: r for r in open_cases}
        cur_case: dict[str, dict[str, Any]] = {}
        for r in current:
            cur_case[r["unit"]] = r  # the most recently moved open case
        for r in rows:
            r["telemetry"] = json.loads(r["telemetry"]) if r.get("telemetry") else None
            r["boards_offline"] = json.loads(r["boards_offline"]) if r.get("boards_offline") else []
            r["open_cases"] = int(oc.get(r["unit"], {}).get("n", 0))
            c = cur_case.get(r["unit"])
            r["current_case"] = c["case_id"] if c else None
            r["case_stage"] = c["stage"] if c else None
            r["stage_since"] = c["stage_since"] if c else None
        return rows

    def closed_cases(self, since: float) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            rows = cur.q("SELECT case_id, unit, site, opened_at, closed_at, outcome, stage_times FROM cases WHERE closed_at IS NOT NULL AND closed_at >= ?", (since,))
        for r in rows:
            r["stage_times"] = json.loads(r["stage_times"] or "{}")
        return rows

    def open_cases(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            return cur.q("SELECT case_id, unit, site, opened_at, closed_at, stage FROM cases WHERE closed_at IS NULL")

    def counts(self) -> dict[str, Any]:
        with self.tx(write=False) as cur:
            u = cur.one("SELECT COALESCE(SUM(stored),0) AS stored, COALESCE(SUM(duplicates),0) AS duplicates, COALESCE(SUM(gaps),0) AS gaps, "
                        "COALESCE(SUM(out_of_order),0) AS out_of_order, COALESCE(SUM(max_seq - stored),0) AS missing, "
                        "COALESCE(SUM(conflicts),0) AS conflicts, COALESCE(SUM(chain_breaks),0) AS chain_breaks, COALESCE(SUM(refused),0) AS refused, "
                        "COALESCE(SUM(dead_dropped),0) AS dead_dropped FROM units") or {}
            events = cur.scalar("SELECT COUNT(*) AS n FROM events")
            dead = cur.scalar("SELECT COUNT(*) AS n FROM dead_letters")
            outcomes = cur.q("SELECT COALESCE(outcome, 'open') AS outcome, COUNT(*) AS n FROM cases GROUP BY COALESCE(outcome, 'open')")
            alerts = cur.q("SELECT severity, COUNT(*) AS n FROM alerts WHERE resolved_at IS NULL GROUP BY severity")
            dead_reasons = cur.q("SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason ORDER BY n DESC LIMIT 20")
        return {"events_stored": int(events or 0), "duplicates_seen": int(u.get("duplicates") or 0), "gaps_detected": int(u.get("gaps") or 0),
                "out_of_order": int(u.get("out_of_order") or 0), "missing_seqs": int(u.get("missing") or 0), "dead_letters": int(dead or 0),
                "event_conflicts": int(u.get("conflicts") or 0), "chain_breaks": int(u.get("chain_breaks") or 0),
                "events_refused": int(u.get("refused") or 0), "dead_letters_only_counted": int(u.get("dead_dropped") or 0),
                "dead_letter_reasons": {r["reason"]: int(r["n"]) for r in dead_reasons},
                "cases_by_outcome": {r["outcome"]: int(r["n"]) for r in outcomes},
                "open_alerts_by_severity": {r["severity"]: int(r["n"]) for r in alerts}}

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            return cur.q("SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))

    def watermarks(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            return cur.q("SELECT site, unit, acked_seq FROM units")

    # ------------------------------------------------------------------ partner reference data
    def load_reference(self, owners: list[dict[str, Any]], vehicles: list[dict[str, Any]]) -> tuple[int, int]:
        with self.tx() as cur:
            cur.many("INSERT INTO partner_owners (id_number, name, record) VALUES (?, ?, ?) ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, record = excluded.record",
                     [(o["id_number"], o["name"], json.dumps(o, ensure_ascii=False)) for o in owners])
            cur.many("INSERT INTO partner_vehicles (vin, id_number, booking_number, record) VALUES (?, ?, ?, ?) ON CONFLICT (vin) DO UPDATE SET "
                     "id_number = excluded.id_number, booking_number = excluded.booking_number, record = excluded.record",
                     [(v["vin"], v.get("owner_id_number"), v.get("booking_number"), json.dumps(v, ensure_ascii=False)) for v in vehicles])
        return len(owners), len(vehicles)

    def reference_owner(self, id_number: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            row = cur.one("SELECT record FROM partner_owners WHERE id_number = ?", (id_number,))
        return json.loads(row["record"]) if row else None

    def reference_vehicles(self, *, id_number: str | None = None, booking_number: str | None = None, vin: str | None = None) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            if vin:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE vin = ?", (vin,))
            elif booking_number:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE booking_number = ?", (booking_number,))
            else:
                rows = cur.q("SELECT record FROM partner_vehicles WHERE id_number = ? ORDER BY vin", (id_number,))
        return [json.loads(r["record"]) for r in rows]

    def reference_counts(self) -> tuple[int, int]:
        with self.tx(write=False) as cur:
            return int(cur.scalar("SELECT COUNT(*) AS n FROM partner_owners") or 0), int(cur.scalar("SELECT COUNT(*) AS n FROM partner_vehicles") or 0)

    # ------------------------------------------------------------------ plate numbers
    def taken_numbers(self, numbers: list[str], now: float | None = None) -> set[str]:
        if not numbers:
            return set()
        now = time.time() if now is None else now
        with self.tx(write=False) as cur:
            rows = cur.q(f"SELECT number FROM plates WHERE number IN ({','.join('?' * len(numbers))}) AND (status = 'issued' OR reserved_until >= ?)",
                         [*numbers, now])
        return {r["number"] for r in rows}

    def reserve_plate(self, number: str, authority: str, plate_kind: str, case_id: str, unit: str, hold_s: float,
                      now: float | None = None) -> ReserveOutcome:
        """Reserve `number` for `case_id`: atomic; a number has one holder; the case's other reservations are released."""
        now = time.time() if now is None else now
        until = now + hold_s
        with self.tx() as cur:
            rows = cur.q(
                "INSERT INTO plates (number, authority, plate_kind, status, case_id, unit, reserved_at, reserved_until, issued_at, notified) "
                "VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?, NULL, 0) ON CONFLICT (number) DO UPDATE SET case_id = excluded.case_id, unit = excluded.unit, "
                "reserved_at = excluded.reserved_at, reserved_until = excluded.reserved_until, plate_kind = excluded.plate_kind, notified = 0 "
                "WHERE plates.status = 'reserved' AND (plates.case_id = excluded.case_id OR plates.reserved_until < ?) RETURNING number",
                (number, authority, plate_kind, case_id, unit, now, until, now))
            if not rows:
                return ReserveOutcome(False, number, "taken")
            released = [r["number"] for r in cur.q("DELETE FROM plates WHERE case_id = ? AND status = 'reserved' AND number <> ? RETURNING number", (case_id, number))]
        return ReserveOutcome(True, number, None, until, released)

    def reservations_held(self, unit: str, now: float, other_than_case: str) -> int:
        """Live reservations a unit holds for cases other than `other_than_case` (the quota a new one counts against)."""
        with self.tx(write=False) as cur:
            return int(cur.scalar("SELECT COUNT(*) AS n FROM plates WHERE unit = ? AND status = 'reserved' AND reserved_until >= ? AND case_id <> ?",
                                  (unit, now, other_than_case)) or 0)

    def holds_plate(self, case_id: str, now: float) -> bool:
        """Whether the case holds a live reservation or an issued number (what a payment is for)."""
        with self.tx(write=False) as cur:
            return cur.one("SELECT 1 AS x FROM plates WHERE case_id = ? AND (status = 'issued' OR reserved_until >= ?)", (case_id, now)) is not None

    def record_offers(self, case_id: str, unit: str, numbers: list[str], now: float) -> None:
        with self.tx() as cur:
            cur.many("INSERT INTO plate_offers (case_id, number, unit, offered_at) VALUES (?, ?, ?, ?) ON CONFLICT (case_id, number) DO NOTHING",
                     [(case_id, n, unit, now) for n in numbers])

    def offers_made(self, case_id: str) -> int:
        with self.tx(write=False) as cur:
            return int(cur.scalar("SELECT COUNT(*) AS n FROM plate_offers WHERE case_id = ?", (case_id,)) or 0)

    def was_offered(self, case_id: str, number: str) -> bool:
        with self.tx(write=False) as cur:
            return cur.one("SELECT 1 AS x FROM plate_offers WHERE case_id = ? AND number = ?", (case_id, number)) is not None

    def forget_offers(self, before: float) -> int:
        with self.tx() as cur:
            return cur.x("DELETE FROM plate_offers WHERE offered_at < ?", (before,))

    def count_case_request(self, case_id: str, kind: str) -> int:
        """Count one more request of `kind` for a case; returns the count including this one."""
        with self.tx() as cur:
            row = cur.one("INSERT INTO case_requests (case_id, kind, n) VALUES (?, ?, 1) ON CONFLICT (case_id, kind) DO UPDATE SET "
                          "n = case_requests.n + 1 RETURNING n", (case_id, kind))
        return int((row or {}).get("n", 1))

    def case_status(self, case_id: str) -> dict[str, Any] | None:
        """The unit, end and outcome the bridge knows of a case (a light read for request checks)."""
        with self.tx(write=False) as cur:
            return cur.one("SELECT unit, closed_at, outcome FROM cases WHERE case_id = ?", (case_id,))

    def release_plate(self, number: str, case_id: str) -> bool:
        with self.tx() as cur:
            return cur.x("DELETE FROM plates WHERE number = ? AND case_id = ? AND status = 'reserved'", (number, case_id)) == 1

    def expire_reservations(self, now: float | None = None) -> list[dict[str, Any]]:
        """Reservations past their time: released, and returned once so their lanes can be told."""
        now = time.time() if now is None else now
        with self.tx() as cur:
            return cur.q("DELETE FROM plates WHERE status = 'reserved' AND reserved_until < ? RETURNING number, case_id, unit", (now,))

    def plates(self, case_id: str | None = None) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            if case_id:
                return cur.q("SELECT * FROM plates WHERE case_id = ?", (case_id,))
            return cur.q("SELECT * FROM plates ORDER BY number")

    # ------------------------------------------------------------------ payments
    def create_payment(self, case_id: str, unit: str, site: str, amount_cents: int, items: list[str], now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        with self.tx() as cur:
            existing = cur.one("SELECT * FROM payments WHERE case_id = ? AND status = 'pending' AND amount_cents = ?", (case_id, amount_cents))
            if existing:
                return existing
            pid = "pay_" + secrets.token_hex(10)
            cur.x("INSERT INTO payments (payment_id, case_id, unit, site, amount_cents, items, status, created_at) VALUES (?,?,?,?,?,?,'pending',?)",
                  (pid, case_id, unit, site, amount_cents, json.dumps(items), now))
            return cur.one("SELECT * FROM payments WHERE payment_id = ?", (pid,)) or {}

    def payment(self, payment_id: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            return cur.one("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))

    def use_nonce(self, nonce: str, now: float) -> bool:
        """True when the nonce is fresh (and is now spent)."""
        with self.tx() as cur:
            cur.x("DELETE FROM payment_nonces WHERE seen_at < ?", (now - 86400,))
            return bool(cur.q("INSERT INTO payment_nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING RETURNING nonce", (nonce, now)))

    def mark_paid(self, payment_id: str, now: float | None = None) -> tuple[dict[str, Any] | None, bool]:
        """(payment, newly paid): idempotent; the case is marked paid in the same transaction."""
        now = time.time() if now is None else now
        with self.tx() as cur:
            changed = cur.x("UPDATE payments SET status = 'paid', paid_at = ? WHERE payment_id = ? AND status = 'pending'", (now, payment_id)) == 1
            row = cur.one("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))
            if changed and row:
                cur.x("INSERT INTO cases (case_id, unit, site, paid) VALUES (?, ?, ?, 1) ON CONFLICT (case_id) DO UPDATE SET paid = 1",
                      (row["case_id"], row["unit"], row["site"]))
        return row, changed

    # ------------------------------------------------------------------ remote commands
    def record_command(self, cmd: dict[str, Any]) -> None:
        with self.tx() as cur:
            cur.x("INSERT INTO commands (request_id, site, unit, command, args, issued_by, reason, issued_at, expires_at, status) VALUES (?,?,?,?,?,?,?,?,?,'sent')",
                  (cmd["request_id"], cmd["site"], cmd["unit"], cmd["command"], json.dumps(cmd["args"]), cmd["issued_by"], cmd["reason"],
                   cmd["issued_at"], cmd["expires_at"]))

    def commands(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            return cur.q("SELECT * FROM commands ORDER BY issued_at DESC LIMIT ?", (limit,))

    # ------------------------------------------------------------------ audit
    def audit_append(self, actor: str, action: str, target: str, detail: Any = None, now: float | None = None) -> int:
        now = time.time() if now is None else now
        detail = detail if detail is not None else {}
        with self.tx() as cur:
            self._lock(cur, "audit")
            head = cur.one("SELECT value FROM meta WHERE key = 'audit_head'")
            last_id, last_hash = (0, audit_chain.GENESIS)
            if head:
                a, b = head["value"].split(":", 1)
                last_id, last_hash = int(a), b
            if self.audit_key is None and last_id and cur.scalar("SELECT mac FROM audit WHERE id = ?", (last_id,)):
                raise AuditKeyMissing("this audit log is signed: give its key (--audit-key-file, [audit] key_file or $PASSLANE_AUDIT_KEY) "
                                      "to write to it")
            new_id = last_id + 1
            h = audit_chain.entry_hash(last_hash, new_id, now, actor, action, target, detail)
            mac = audit_chain.entry_mac(self.audit_key, new_id, h) if self.audit_key else None
            cur.x("INSERT INTO audit (id, ts, actor, action, target, detail, prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?)",
                  (new_id, round(now, 6), actor, action, target, json.dumps(detail, ensure_ascii=False, sort_keys=True), last_hash, h, mac))
            cur.x("INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (f"{new_id}:{h}",))
        return new_id

    def audit_rows(self, limit: int | None = None) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            if limit:
                return cur.q("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
            return cur.q("SELECT * FROM audit ORDER BY id")

    def audit_verify(self) -> list[str]:
        with self.tx(write=False) as cur:
            rows = cur.q("SELECT * FROM audit ORDER BY id")
            head = cur.one("SELECT value FROM meta WHERE key = 'audit_head'")
        h = None
        if head:
            a, b = head["value"].split(":", 1)
            h = (int(a), b)
        return audit_chain.verify_chain(rows, h, self.audit_key)

    def verify_event_chains(self, page: int = 5000) -> list[str]:
        """Every unit's stored events checked against their hashes and chain links, and every conflict judged.

        A conflict is reported with which version fits the unit's chain: the one whose ``prev`` is the
        stored predecessor's hash and whose hash the stored successor names.
        """
        problems: list[str] = []
        with self.tx(write=False) as cur:
            units = [r["unit"] for r in cur.q("SELECT DISTINCT unit FROM events ORDER BY unit")]
        for unit in units:
            problems += self._verify_unit_chain(unit, page)
        with self.tx(write=False) as cur:
            conflicts = cur.q("SELECT unit, seq, hash, prev, stored_hash FROM event_conflicts ORDER BY unit, seq, id")
        for c in conflicts:
            links = self._stored_links_plain(c["unit"], [int(c["seq"]) - 1, int(c["seq"]) + 1])
            before, after = links.get(int(c["seq"]) - 1), links.get(int(c["seq"]) + 1)
            fits_other = (before is None or before.hash is None or c["prev"] == before.hash) and (after is None or after.prev == c["hash"])
            verdict = "the other version fits the unit's chain: the stored one does not" if fits_other else "the stored version fits the unit's chain"
            problems.append(f"{c['unit']} event {c['seq']}: conflicting versions (stored {str(c['stored_hash'])[:12]}, other {c['hash'][:12]}): {verdict}")
        return problems

    def _stored_links_plain(self, unit: str, seqs: list[int]) -> dict[int, StoredLink]:
        with self.tx(write=False) as cur:
            return {k[1]: v for k, v in self._stored_links(cur, [(unit, s) for s in seqs if s >= 1]).items()}

    def _verify_unit_chain(self, unit: str, page: int) -> list[str]:
        problems: list[str] = []
        before: StoredLink | None = None
        last_seq = 0
        while True:
            with self.tx(write=False) as cur:
                rows = cur.q("SELECT unit, seq, ts, kind, case_id, station, actor, data, prev, hash FROM events WHERE unit = ? AND seq > ? "
                             "ORDER BY seq LIMIT ?", (unit, last_seq, page))
            for r in rows:
                seq = int(r["seq"])
                if seq != last_seq + 1:
                    before = None  # a gap: the next link cannot be judged
                last_seq = seq
                if r["kind"] == EventKind.EVENT_REFUSED.value:
                    before = StoredLink(None, None, r["kind"])
                    continue
                ev = _event_of_row(r)
                h = event_hash(ev)
                if r["hash"] is not None and r["hash"] != h:
                    problems.append(f"{unit} event {seq}: content differs from its stored hash (edited in the database)")
                why = chain_link_problem(before, ev.prev, seq)
                if why:
                    problems.append(f"{unit} event {seq}: chain broken: {why}")
                before = StoredLink(h, ev.prev, r["kind"])
            if len(rows) < page:
                return problems

    def record_config(self, flat: dict[str, Any], actor: str = "system") -> dict[str, list[Any]]:
        """Audit a configuration change since the last start (keys whose value changed, old and new)."""
        with self.tx() as cur:
            self._lock(cur, "config")
            row = cur.one("SELECT value FROM meta WHERE key = 'config'")
            old = json.loads(row["value"]) if row else {}
            changed = {k: [old.get(k), flat.get(k)] for k in sorted(set(old) | set(flat)) if old.get(k) != flat.get(k)}
            if changed:
                cur.x("INSERT INTO meta (key, value) VALUES ('config', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                      (json.dumps(flat, sort_keys=True, ensure_ascii=False),))
        if changed:
            self.audit_append(actor, "config.change", "bridge.toml", {"changed": changed})
        return changed

    # ------------------------------------------------------------------ users, sessions, tokens
    def add_user(self, name: str, role: str, password_hash: str) -> None:
        with self.tx() as cur:
            cur.x("INSERT INTO users (name, role, password_hash, created_at) VALUES (?,?,?,?) ON CONFLICT (name) DO UPDATE SET "
                  "role = excluded.role, password_hash = excluded.password_hash", (name, role, password_hash, time.time()))

    def user(self, name: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            return cur.one("SELECT * FROM users WHERE name = ? AND disabled = 0", (name,))

    def users(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as cur:
            return cur.q("SELECT name, role, created_at, disabled FROM users ORDER BY name")

    def set_password_hash(self, name: str, password_hash: str) -> None:
        with self.tx() as cur:
            cur.x("UPDATE users SET password_hash = ? WHERE name = ?", (password_hash, name))

    def add_session(self, token_hash: str, user: str, csrf: str, ttl_s: float) -> None:
        now = time.time()
        with self.tx() as cur:
            cur.x("DELETE FROM sessions WHERE expires_at < ?", (now,))
            cur.x("INSERT INTO sessions (token_hash, user_name, csrf, created_at, expires_at) VALUES (?,?,?,?,?)", (token_hash, user, csrf, now, now + ttl_s))

    def session(self, token_hash: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            return cur.one("SELECT s.user_name, s.csrf, s.expires_at, u.role FROM sessions s JOIN users u ON u.name = s.user_name "
                           "WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0", (token_hash, time.time()))

    def drop_session(self, token_hash: str) -> None:
        with self.tx() as cur:
            cur.x("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def add_token(self, token_hash: str, user: str, label: str) -> None:
        with self.tx() as cur:
            cur.x("INSERT INTO api_tokens (token_hash, user_name, label, created_at) VALUES (?,?,?,?)", (token_hash, user, label, time.time()))

    def token(self, token_hash: str) -> dict[str, Any] | None:
        with self.tx(write=False) as cur:
            return cur.one("SELECT t.user_name, u.role FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE t.token_hash = ? AND u.disabled = 0",
                           (token_hash,))


class SqliteStore(Store):
    """The embedded default: one file, WAL, one writer at a time (BEGIN IMMEDIATE)."""

    pk_auto = "INTEGER PRIMARY KEY AUTOINCREMENT"
    greatest = "MAX"

    def __init__(self, path: str | Path, rules: RiskRulesConfig | None = None) -> None:
        super().__init__(rules)
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._ckpt_thread: threading.Thread | None = None
        self._ckpt_stop = threading.Event()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            if self.path != ":memory:":
                # checkpoints run in the background (see _checkpointer), never inside an ingest commit
                conn.execute("PRAGMA wal_autocheckpoint=0")
                self._start_checkpointer()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _start_checkpointer(self) -> None:
        with self._all_lock:
            if self._ckpt_thread is not None:
                return
            self._ckpt_stop = threading.Event()
            self._ckpt_thread = threading.Thread(target=self._checkpointer, name="sqlite-checkpoint", daemon=True)
            self._ckpt_thread.start()

    def _checkpointer(self) -> None:
        """Copy the WAL into the database once a second (PASSIVE: never blocks the writers), so commits stay fast."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            while not self._ckpt_stop.wait(1.0):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:
                    pass
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    @contextmanager
    def tx(self, write: bool = True, fast: bool = False) -> Iterator[Cur]:
        conn = self._conn()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Cur(cur, False)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            cur.close()

    def close(self) -> None:
        self._ckpt_stop.set()
        if self._ckpt_thread is not None:
            self._ckpt_thread.join(5)
            self._ckpt_thread = None
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()


class PostgresStore(Store):
    """Several workers on one or more machines: row locks, advisory locks, retry on deadlock."""

    pg = True
    pk_auto = "BIGSERIAL PRIMARY KEY"
    greatest = "GREATEST"

    def __init__(self, url: str, rules: RiskRulesConfig | None = None) -> None:
        super().__init__(rules)
        self.url = url
        self._all: list[Any] = []
        self._all_lock = threading.Lock()

    def _conn(self) -> Any:
        import psycopg
        from psycopg.rows import dict_row

        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = psycopg.connect(self.url, row_factory=dict_row, autocommit=False)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def tx(self, write: bool = True, fast: bool = False) -> Iterator[Cur]:
        conn = self._conn()
        with conn.transaction():
            with conn.cursor() as cur:
                if fast:
                    cur.execute("SET LOCAL synchronous_commit = off")
                yield Cur(cur, True)

    def _lock(self, cur: Cur, name: str) -> None:
        cur.x("SELECT pg_advisory_xact_lock(hashtext(?))", (f"passlane:{name}",))

    def for_update(self) -> str:
        return " FOR UPDATE"

    def _retryable(self, exc: Exception) -> bool:
        import psycopg.errors as e

        return isinstance(exc, (e.DeadlockDetected, e.SerializationFailure, e.UniqueViolation))

    def close(self) -> None:
        with self._all_lock:
            for c in self._all:
                try:
                    c.close()
                except Exception:  # noqa: BLE001
                    pass
            self._all.clear()
        self._local = threading.local()


def open_store(db: str, rules: RiskRulesConfig | None = None) -> Store:
    """`postgresql://...` opens PostgreSQL; anything else is a SQLite file path."""
    if db.startswith(("postgresql://", "postgres://")):
        return PostgresStore(db, rules)
    if db.startswith("sqlite:///"):
        db = db[len("sqlite:///"):]
    return SqliteStore(db, rules)
