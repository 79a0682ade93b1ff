"""Units' event chains in the store: each stored event names the hash of the one before it (`prev`).

Shared by the unit records area: the fold checks the links of newly stored events
(`link_breaks_in`); `audit verify` re-checks every stored event, every link and every
conflicting version (`verify_all`). The link rule itself is pure (`ingest.chain_link_problem`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from cloud_bridge.ingest import Arrived, StoredLink, chain_link_problem
from cloud_bridge.store.engine import Cur, Engine, marks
from edge.contract import EventEnvelope, EventKind, event_hash

_CHUNK = 500


def event_of_row(row: dict[str, Any]) -> EventEnvelope:
    """A stored event as its envelope (unvalidated: rows stored under older limits stay readable)."""
    data = row["data"]
    return EventEnvelope.model_construct(
        v=1,
        unit=row["unit"],
        seq=int(row["seq"]),
        ts=float(row["ts"]),
        kind=EventKind(row["kind"]),
        case_id=row["case_id"],
        station=row["station"],
        actor=row["actor"],
        data=json.loads(data) if isinstance(data, str) else data,
        prev=row.get("prev"),
    )


def _by_unit(keys: list[tuple[str, int]]) -> dict[str, list[int]]:
    by_unit: dict[str, list[int]] = defaultdict(list)
    for unit, seq in keys:
        by_unit[unit].append(seq)
    return by_unit


def stored_events_in(cur: Cur, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The stored rows of these (unit, seq) keys."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for unit, seqs in sorted(_by_unit(keys).items()):
        seqs = sorted(seqs)
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            for r in cur.q(
                f"SELECT unit, seq, site, ts, kind, case_id, station, actor, data, prev, hash FROM events "
                f"WHERE unit = ? AND seq IN ({marks(len(chunk))})",
                [unit, *chunk],
            ):
                out[(r["unit"], int(r["seq"]))] = r
    return out


def stored_links_in(cur: Cur, keys: list[tuple[str, int]]) -> dict[tuple[str, int], StoredLink]:
    """What the chain needs of the stored events at these keys."""
    out: dict[tuple[str, int], StoredLink] = {}
    for unit, seqs in sorted(_by_unit(keys).items()):
        seqs = sorted(set(seqs))
        for start in range(0, len(seqs), _CHUNK):
            chunk = seqs[start : start + _CHUNK]
            for r in cur.q(
                f"SELECT seq, hash, prev, kind FROM events WHERE unit = ? AND seq IN ({marks(len(chunk))})",
                [unit, *chunk],
            ):
                out[(unit, int(r["seq"]))] = StoredLink(r["hash"], r["prev"], r["kind"])
    return out


def link_breaks_in(cur: Cur, fresh: list[Arrived]) -> dict[str, tuple[int, int, str]]:
    """Chain links of newly stored events, to the stored event before and after each: unit -> (breaks, a seq, why)."""
    if not fresh:
        return {}
    # (hash, prev, kind) as plain tuples, read by position below; a StoredLink made only for a link judged in full
    links: dict[tuple[str, int], tuple[str | None, str | None, str]] = {
        (a.ev.unit, a.ev.seq): (a.hash, a.ev.prev, a.ev.kind) for a in fresh
    }
    # only the neighbours outside the batch are read: in a run of consecutive events most are in it
    outside = {(unit, seq + d) for unit, seq in links for d in (-1, 1) if seq + d >= 1 and (unit, seq + d) not in links}
    stored: dict[tuple[str, int], tuple[str | None, str | None, str]] = {}
    if outside:
        stored.update(stored_links_in(cur, list(outside)))
    stored.update(links)
    out: dict[str, tuple[int, int, str]] = {}
    seen: set[tuple[str, int]] = set()
    for unit, seq in links:  # (arrival order)
        for key in ((unit, seq), (unit, seq + 1)):  # this event's own link, and the stored successor's link to it
            succ = stored.get(key)
            if succ is None or key in seen:
                continue
            seen.add(key)
            before = stored.get((unit, key[1] - 1))
            if before is not None and (succ[1] == before[0] if succ[1] is not None else before[1] is None):
                continue  # the usual link: it names the hash before it, or neither is chained (chain_link_problem: fits)
            why = chain_link_problem(None if before is None else StoredLink(*before), succ[1], key[1])
            if why:
                n, _, _ = out.get(unit, (0, 0, ""))
                out[unit] = (n + 1, key[1], why)
    return out


def verify_all(engine: Engine, page: int = 5000) -> list[str]:
    """Every unit's stored events checked against their hashes and chain links, and every conflict judged.

    A conflict is reported with which version fits the unit's chain: the one whose ``prev`` is the
    stored predecessor's hash and whose hash the stored successor names.
    """
    problems: list[str] = []
    with engine.tx(write=False) as cur:
        units = [r["unit"] for r in cur.q("SELECT DISTINCT unit FROM events ORDER BY unit")]
    for unit in units:
        problems += _verify_unit(engine, unit, page)
    with engine.tx(write=False) as cur:
        conflicts = cur.q("SELECT unit, seq, hash, prev, stored_hash FROM event_conflicts ORDER BY unit, seq, id")
    for c in conflicts:
        seq = int(c["seq"])
        with engine.tx(write=False) as cur:
            links = stored_links_in(cur, [(c["unit"], s) for s in (seq - 1, seq + 1) if s >= 1])
        before, after = links.get((c["unit"], seq - 1)), links.get((c["unit"], seq + 1))
        fits_other = (before is None or before.hash is None or c["prev"] == before.hash) and (
            after is None or after.prev == c["hash"]
        )
        verdict = (
            "the other version fits the unit's chain: the stored one does not"
            if fits_other
            else "the stored version fits the unit's chain"
        )
        problems.append(
            f"{c['unit']} event {c['seq']}: conflicting versions (stored {str(c['stored_hash'])[:12]}, other {c['hash'][:12]}): {verdict}"
        )
    return problems


def _verify_unit(engine: Engine, unit: str, page: int) -> list[str]:
    problems: list[str] = []
    before: StoredLink | None = None
    last_seq = 0
    while True:
        with engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT unit, seq, ts, kind, case_id, station, actor, data, prev, hash FROM events WHERE unit = ? AND seq > ? "
                "ORDER BY seq LIMIT ?",
                (unit, last_seq, page),
            )
        for r in rows:
            seq = int(r["seq"])
            if seq != last_seq + 1:
                before = None  # a gap: the next link cannot be judged
            last_seq = seq
            if r["kind"] == EventKind.EVENT_REFUSED.value:
                before = StoredLink(None, None, r["kind"])
                continue
            ev = event_of_row(r)
            h = event_hash(ev)
            if r["hash"] is not None and r["hash"] != h:
                problems.append(f"{unit} event {seq}: content differs from its stored hash (edited in the database)")
            why = chain_link_problem(before, ev.prev, seq)
            if why:
                problems.append(f"{unit} event {seq}: chain broken: {why}")
            before = StoredLink(h, ev.prev, r["kind"])
        if len(rows) < page:
            return problems
