"""Each unit's record: its events exactly once per (unit, seq), refused messages, conflicting versions, its status.

`UnitRecords.keep` is the first, durable transaction of an ingest batch; `EventFold`
(`cloud_bridge.store.fold`) is the second, which folds what was kept into the unit
counters, the watermark and the case view.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

from cloud_bridge.ingest import Arrived, Batch, Conflict, Inbound, dead_letter_keep, payload_text, refused_seq
from cloud_bridge.store import event_chains
from cloud_bridge.store.commands import RemoteCommands
from cloud_bridge.store.engine import Cur, Engine, marks, rows_of
from edge.contract import MAX_SEQ_AHEAD, EventKind, Leaf, UnitStatus, event_hash

_CHUNK = 400


def event_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


class UnitRecords:
    """The `events`, `unfolded`, `units`, `dead_letters`, `dead_letter_budget` and `event_conflicts` tables.

    `events` primary key (unit, seq): an event is stored once (insert-or-ignore ... RETURNING tells which
    were new) and listed in `unfolded` until the fold claims it. A repeat is compared by hash: equal is a
    duplicate, different a conflict kept apart. A refused message keeps its seq's place as an
    `event.refused` row until a valid event with that seq replaces it. Dead letters are kept within a
    per-unit hourly budget.
    """

    def __init__(self, engine: Engine, commands: RemoteCommands) -> None:
        self.engine = engine
        self.commands = commands

    # -- the durable transaction of a batch
    def keep(self, batch: Batch) -> None:
        """Store a batch's events (insert-or-ignore), dead letters, conflicts, unit statuses and command results.

        Completes `batch` for the fold: events far ahead of their watermark become dead letters, repeats
        become duplicates or conflicts, replaced refusals are noted. Takes no lock that another worker's
        batch needs, except on the very same event key.
        """
        self.engine.retrying(lambda cur: self.keep_in(cur, batch))

    def keep_in(self, cur: Cur, b: Batch, *, listed: bool = True) -> set[tuple[str, int]]:
        """`keep` inside the caller's transaction; returns the keys of the events stored now.

        `listed=False`: the events stored now are not listed in `unfolded`, for a caller that folds them in the same
        transaction (`EventFold.keep_and_fold`) and lists them itself if its fold fails (`list_unfolded_in`)."""
        stored: set[tuple[str, int]] = set()
        if b.events:
            self._refuse_far_ahead(cur, b)
        if b.dead:
            self._store_dead_letters(cur, b)
        if b.events:
            stored = self._insert_events(
                cur, sorted(b.events.values(), key=lambda t: (t.ev.unit, t.ev.seq)), b.data_json, listed
            )
            again = [k for k in b.events if k not in stored]
            if again:
                self._judge_repeats(cur, b, again)
        if b.conflicts:
            cur.many(
                "INSERT INTO event_conflicts (unit, seq, site, stored_hash, hash, prev, payload, received_at) VALUES (?,?,?,?,?,?,?,?) "
                "ON CONFLICT (unit, seq, hash) DO NOTHING",  # both versions kept: the stored one in events, every other once here
                [
                    (
                        c.unit,
                        c.seq,
                        c.site,
                        c.stored_hash,
                        c.incoming_hash,
                        c.incoming.prev,
                        c.incoming.model_dump_json(),
                        c.received_at,
                    )
                    for c in b.conflicts
                ],
            )
        if b.statuses or b.results:
            sites = {i.unit or "": i.site or "" for i in b.statuses + b.results}
            self.ensure_units_in(cur, sites)
        for i in b.statuses:
            st = i.payload
            assert isinstance(st, UnitStatus)
            cur.x(
                "UPDATE units SET state = ?, role = ?, software = ?, last_status_at = ?, last_seen_at = ? WHERE unit = ?",
                (st.state.value, st.role, st.software, st.ts, i.received_at, st.unit),
            )
        self.commands.record_results_in(cur, b.results)
        return stored

    @staticmethod
    def list_unfolded_in(cur: Cur, b: Batch, keys: set[tuple[str, int]]) -> None:
        """List these stored events in `unfolded` (their fold failed: a redelivery or the sweep folds them)."""
        rows = [(unit, seq, b.events[(unit, seq)].received_at) for unit, seq in sorted(keys)]
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            cur.x(
                f"INSERT INTO unfolded (unit, seq, received_at) VALUES {rows_of(len(chunk), 3)} "
                "ON CONFLICT (unit, seq) DO NOTHING",
                [v for r in chunk for v in r],
            )

    @staticmethod
    def ensure_units_in(cur: Cur, unit_site: dict[str, str]) -> None:
        """Make a `units` row for each unit not seen before."""
        names = sorted(unit_site)
        cur.x(
            f"INSERT INTO units (unit, site) VALUES {rows_of(len(names), 2)} ON CONFLICT (unit) DO NOTHING",
            [v for u in names for v in (u, unit_site[u])],
        )

    @staticmethod
    def _insert_events(
        cur: Cur, ordered: list[Arrived], data_json: dict[tuple[str, int], str] | None = None, listed: bool = True
    ) -> set[tuple[str, int]]:
        """Insert-or-ignore; the keys stored now are listed in `unfolded` for the fold (`listed`), and returned."""
        stored: set[tuple[str, int]] = set()
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            params: list[Any] = []
            for a in chunk:
                ev = a.ev
                params += [
                    ev.unit,
                    ev.seq,
                    a.site,
                    ev.ts,
                    ev.kind.value,
                    ev.case_id,
                    ev.station,
                    ev.actor,
                    (data_json or {}).get((ev.unit, ev.seq)) or event_json(ev.data),
                    a.received_at,
                    ev.prev,
                    a.hash,
                ]
            rows = cur.tuples(
                f"INSERT INTO events (unit, seq, site, ts, kind, case_id, station, actor, data, received_at, prev, hash) VALUES "
                f"{rows_of(len(chunk), 12)} ON CONFLICT (unit, seq) DO NOTHING RETURNING unit, seq, received_at",
                params,
            )
            if rows and listed:
                cur.x(
                    f"INSERT INTO unfolded (unit, seq, received_at) VALUES {rows_of(len(rows), 3)}",
                    [v for r in rows for v in r],
                )
            stored.update((unit, int(seq)) for unit, seq, _ in rows)
        return stored

    @staticmethod
    def _refuse_far_ahead(cur: Cur, b: Batch) -> None:
        """An event far beyond its unit's watermark is a dead letter: stored, it would make every later real event out of order."""
        units = sorted({u for u, _ in b.events})
        acked = {
            r["unit"]: int(r["acked_seq"])
            for r in cur.q(f"SELECT unit, acked_seq FROM units WHERE unit IN ({marks(len(units))})", units)
        }
        for key in [k for k in b.events if k[1] > acked.get(k[0], 0) + MAX_SEQ_AHEAD]:
            a = b.events.pop(key)
            if a.hash is not None:  # a refusal marker's message is a dead letter already
                raw = a.ev.to_bytes()
                b.dead.append(
                    Inbound(
                        f"passlane/v1/{a.site}/{a.ev.unit}/events",
                        a.site,
                        a.ev.unit,
                        Leaf.EVENTS,
                        None,
                        raw,
                        a.received_at,
                        f"seq_ahead: seq {a.ev.seq} is more than {MAX_SEQ_AHEAD} beyond the watermark {acked.get(key[0], 0)}",
                    )
                )

    @staticmethod
    def _store_dead_letters(cur: Cur, b: Batch) -> None:
        """Dead letters with their full content, within an hourly budget per unit; beyond it a head, then only a count."""
        per_unit: dict[str, list[Inbound]] = defaultdict(list)
        for d in b.dead:
            per_unit[d.unit or "?"].append(d)
        rows = []
        for unit in sorted(per_unit):
            items = per_unit[unit]
            hour = int(items[0].received_at // 3600)
            used = (
                cur.one(
                    "INSERT INTO dead_letter_budget (unit, hour, n, bytes) VALUES (?, ?, ?, ?) ON CONFLICT (unit, hour) DO UPDATE SET "
                    "n = dead_letter_budget.n + excluded.n, bytes = dead_letter_budget.bytes + excluded.bytes RETURNING n, bytes",
                    (unit, hour, len(items), sum(len(d.raw) for d in items)),
                )
                or {}
            )
            n = int(used.get("n", 0)) - len(items)
            nbytes = int(used.get("bytes", 0)) - sum(len(d.raw) for d in items)
            for d in items:
                keep = dead_letter_keep(n, nbytes, len(d.raw))
                n += 1
                nbytes += len(d.raw)
                if not keep.store_row:
                    b.dead_dropped[unit] += 1
                    continue
                text, encoding = payload_text(d.raw[: keep.keep_bytes])
                rows.append(
                    (
                        d.topic,
                        d.unit,
                        d.reason,
                        text,
                        len(d.raw),
                        d.received_at,
                        refused_seq(d),
                        hashlib.sha256(d.raw).hexdigest(),
                        keep.keep_bytes,
                        encoding,
                    )
                )
        cur.many(
            "INSERT INTO dead_letters (topic, unit, reason, payload, size, received_at, seq, sha256, kept, encoding) VALUES (?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    @staticmethod
    def _judge_repeats(cur: Cur, b: Batch, keys: list[tuple[str, int]]) -> None:
        """Events whose (unit, seq) is stored already: a duplicate when the content is the same, else a conflict.

        A refusal marker is replaced by a valid event with its seq (the valid one is what the unit meant to
        send; the refused message stays a dead letter), and a refused message never replaces a stored event.
        """
        stored = event_chains.stored_events_in(cur, keys)
        for key in keys:
            a = b.events[key]
            row = stored.get(key)
            if row is None:
                continue
            if row["kind"] == EventKind.EVENT_REFUSED.value:
                if a.hash is not None:
                    UnitRecords._replace_marker(cur, a)
                    b.superseded.add(key)
                continue
            if a.hash is None:
                continue  # a refused message for a stored event: its dead letter is all there is to keep
            stored_hash = row["hash"] or event_hash(event_chains.event_of_row(row))
            if stored_hash != a.hash:
                b.conflicts.append(Conflict(a.site, key[0], key[1], stored_hash, a.ev, a.hash, a.received_at))
                del b.events[key]  # not a duplicate: kept apart, counted and alerted as a conflict

    @staticmethod
    def _replace_marker(cur: Cur, a: Arrived) -> None:
        ev = a.ev
        cur.x(
            "UPDATE events SET site = ?, ts = ?, kind = ?, case_id = ?, station = ?, actor = ?, data = ?, received_at = ?, prev = ?, hash = ? "
            "WHERE unit = ? AND seq = ? AND kind = ?",
            (
                a.site,
                ev.ts,
                ev.kind.value,
                ev.case_id,
                ev.station,
                ev.actor,
                event_json(ev.data),
                a.received_at,
                ev.prev,
                a.hash,
                ev.unit,
                ev.seq,
                EventKind.EVENT_REFUSED.value,
            ),
        )
        cur.x(
            "INSERT INTO unfolded (unit, seq, received_at) VALUES (?, ?, ?) ON CONFLICT (unit, seq) DO NOTHING",
            (ev.unit, ev.seq, a.received_at),
        )

    # -- reads
    def events(self, unit: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """A unit's stored events with seq > after, in seq order (`data` decoded)."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT unit, seq, site, ts, kind, case_id, station, actor, data, received_at FROM events WHERE unit = ? AND seq > ? ORDER BY seq LIMIT ?",
                (unit, after, limit),
            )
        for r in rows:
            r["data"] = json.loads(r["data"])
        return rows

    def case_timeline(self, case_id: str) -> list[dict[str, Any]]:
        """Every stored event of a case, by time (`data` decoded)."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT unit, seq, site, ts, kind, case_id, station, actor, data, received_at FROM events WHERE case_id = ? ORDER BY ts, unit, seq",
                (case_id,),
            )
        for e in rows:
            e["data"] = json.loads(e["data"])
        return rows

    def events_per_case(self) -> dict[str | None, int]:
        """Stored events per case id (None: events of no case)."""
        with self.engine.tx(write=False) as cur:
            return {
                r["case_id"]: int(r["n"]) for r in cur.q("SELECT case_id, COUNT(*) AS n FROM events GROUP BY case_id")
            }

    def units(self) -> list[dict[str, Any]]:
        """Every unit's row (`telemetry` and `boards_offline` decoded), by site and unit."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q("SELECT * FROM units ORDER BY site, unit")
        for r in rows:
            r["telemetry"] = json.loads(r["telemetry"]) if r.get("telemetry") else None
            r["boards_offline"] = json.loads(r["boards_offline"]) if r.get("boards_offline") else []
        return rows

    def watermarks(self) -> list[dict[str, Any]]:
        """Each unit's acknowledged seq (every seq up to it is stored)."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT site, unit, acked_seq FROM units")

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT * FROM dead_letters ORDER BY id DESC LIMIT ?", (limit,))

    def conflicting_versions(self, unit: str, seq: int) -> list[dict[str, Any]]:
        """The versions of one event kept apart from the stored one."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT * FROM event_conflicts WHERE unit = ? AND seq = ? ORDER BY id", (unit, seq))

    def totals(self) -> dict[str, Any]:
        """Ingest figures over every unit: stored, duplicates, gaps, missing seqs, conflicts, dead letters and their reasons."""
        with self.engine.tx(write=False) as cur:
            u = (
                cur.one(
                    "SELECT COALESCE(SUM(stored),0) AS stored, COALESCE(SUM(duplicates),0) AS duplicates, COALESCE(SUM(gaps),0) AS gaps, "
                    "COALESCE(SUM(out_of_order),0) AS out_of_order, COALESCE(SUM(max_seq - stored),0) AS missing, "
                    "COALESCE(SUM(conflicts),0) AS conflicts, COALESCE(SUM(chain_breaks),0) AS chain_breaks, COALESCE(SUM(refused),0) AS refused, "
                    "COALESCE(SUM(dead_dropped),0) AS dead_dropped FROM units"
                )
                or {}
            )
            events = cur.scalar("SELECT COUNT(*) AS n FROM events")
            dead = cur.scalar("SELECT COUNT(*) AS n FROM dead_letters")
            dead_reasons = cur.q(
                "SELECT reason, COUNT(*) AS n FROM dead_letters GROUP BY reason ORDER BY n DESC LIMIT 20"
            )
        return {
            "events_stored": int(events or 0),
            "duplicates_seen": int(u.get("duplicates") or 0),
            "gaps_detected": int(u.get("gaps") or 0),
            "out_of_order": int(u.get("out_of_order") or 0),
            "missing_seqs": int(u.get("missing") or 0),
            "dead_letters": int(dead or 0),
            "event_conflicts": int(u.get("conflicts") or 0),
            "chain_breaks": int(u.get("chain_breaks") or 0),
            "events_refused": int(u.get("refused") or 0),
            "dead_letters_only_counted": int(u.get("dead_dropped") or 0),
            "dead_letter_reasons": {r["reason"]: int(r["n"]) for r in dead_reasons},
        }

    def verify_chains(self, page: int = 5000) -> list[str]:
        """Every stored event against its hash and its unit's chain, and every conflicting version judged (`audit verify`)."""
        return event_chains.verify_all(self.engine, page)
