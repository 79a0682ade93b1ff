"""A unit's record at the bridge: refused events never hold the watermark, conflicts are not duplicates, the chain catches forgeries.

Reproductions of the bad-input probe at the store level, on both engines; the same
paths over a real broker with a real lane are in tests/lane/test_lane_bad_input.py.
"""

from __future__ import annotations

import json
import math
import time

from raw_db import tamper

from cloud_bridge import audit as audit_chain
from cloud_bridge.ingest import classify
from edge.contract import MAX_PAYLOAD_BYTES, EventEnvelope, EventKind, Leaf, event_hash, topic
from edge.journal import Journal, NewEvent

T0 = 1_790_000_000.0


def _in(unit: str, raw: bytes):
    return classify(topic("site-1", unit, Leaf.EVENTS), raw, time.time())


def _chain(tmp_path, n: int, unit: str = "lane-01") -> list[EventEnvelope]:
    """n chained events exactly as a unit journals them."""
    j = Journal(tmp_path / f"{unit}.sqlite", unit)
    try:
        return j.record([NewEvent(EventKind.DEVICE_FAULT, data={"device": "io", "n": i}, ts=T0 + i) for i in range(n)])
    finally:
        j.close()


def _acked(store, unit: str = "lane-01") -> int:
    return {r["unit"]: int(r["acked_seq"]) for r in store.unit_records.watermarks()}.get(unit, 0)


def _rules(store) -> set[str]:
    return {a["rule"] for a in store.alerts.recent("active")}


def test_an_oversize_event_takes_its_place_so_the_watermark_moves_past_it_and_its_content_is_kept(
    store, ingest, tmp_path
) -> None:
    events = _chain(tmp_path, 10)
    oversize = json.dumps(
        {"v": 1, "unit": "lane-01", "seq": 2, "ts": T0, "kind": "inspector.sign_in_failed", "actor": "A" * 300_000}
    ).encode()
    assert len(oversize) > MAX_PAYLOAD_BYTES
    ingest([_in("lane-01", events[0].to_bytes()), _in("lane-01", oversize)])
    ingest([_in("lane-01", e.to_bytes()) for e in events[2:]])
    assert _acked(store) == 10, "the refused event must not hold the watermark"
    assert store.unit_records.events("lane-01", 1, 1)[0]["kind"] == "event.refused"
    (dead,) = [d for d in store.unit_records.dead_letters() if d["seq"] == 2]
    assert dead["reason"].startswith("oversize") and dead["size"] == len(oversize) and dead["kept"] == len(oversize)
    assert dead["payload"].encode() == oversize, "the dead letter keeps the full content"
    assert "event_refused" in _rules(store)
    assert store.counts()["events_refused"] == 1


def test_a_valid_event_with_a_refused_seq_replaces_the_refusal_and_is_folded(store, ingest, tmp_path) -> None:
    events = _chain(tmp_path, 3)
    ingest([_in("lane-01", events[0].to_bytes()), _in("lane-01", b'{"unit": "lane-01", "seq": 2, "v": 9}')])
    assert _acked(store) == 2
    ingest([_in("lane-01", e.to_bytes()) for e in events[1:]])
    assert [e["kind"] for e in store.unit_records.events("lane-01")] == ["device.fault"] * 3
    assert _acked(store) == 3 and "event_conflict" in _rules(store)


def test_a_conflicting_event_is_kept_alerted_and_reported_with_the_version_that_fits_the_chain(
    store, ingest, tmp_path
) -> None:
    lane = _chain(tmp_path, 4)
    ingest([_in("lane-01", e.to_bytes()) for e in lane[:2]])
    forged = EventEnvelope(
        unit="lane-01", seq=3, ts=T0, kind=EventKind.DEVICE_RECOVERED, actor="forger", data={}, prev="f" * 64
    )
    ingest([_in("lane-01", forged.to_bytes())])
    assert "event_chain_broken" in _rules(store), "the forged event does not name the hash of the lane's event 2"
    res = ingest([_in("lane-01", e.to_bytes()) for e in lane[2:]])
    assert res.duplicates == 0 and res.conflicts == 1, (
        "a different event with a stored seq is a conflict, not a duplicate"
    )
    assert "event_conflict" in _rules(store)
    kept = store.unit_records.conflicting_versions("lane-01", 3)
    assert [r["hash"] for r in kept] == [event_hash(lane[2])] and json.loads(kept[0]["payload"])["actor"] == lane[
        2
    ].actor
    problems = store.unit_records.verify_chains()
    assert any("event 3: conflicting versions" in p and "the other version fits" in p for p in problems), problems
    assert store.counts()["event_conflicts"] == 1 and store.counts()["duplicates_seen"] == 0


def test_a_repeat_with_the_same_content_is_a_duplicate(store, ingest, tmp_path) -> None:
    lane = _chain(tmp_path, 2)
    ingest([_in("lane-01", e.to_bytes()) for e in lane])
    res = ingest([_in("lane-01", e.to_bytes()) for e in lane])
    assert (res.duplicates, res.conflicts) == (2, 0) and not store.unit_records.verify_chains()


def test_an_edited_stored_event_fails_audit_verify(store, ingest, tmp_path) -> None:
    ingest([_in("lane-01", e.to_bytes()) for e in _chain(tmp_path, 3)])
    assert store.unit_records.verify_chains() == []
    tamper(store, "UPDATE events SET actor = 'someone' WHERE unit = 'lane-01' AND seq = 2")
    assert any("event 2: content differs" in p for p in store.unit_records.verify_chains())


def test_a_string_seq_a_nan_or_infinite_ts_and_a_far_future_seq_are_refused_and_block_nothing(
    store, ingest, tmp_path
) -> None:
    lane = _chain(tmp_path, 4)
    base = lane[0].model_dump(mode="json")
    string_seq = json.dumps({**base, "seq": "2"}).encode()
    nan_ts = json.dumps({**base, "seq": 2, "ts": math.nan}).encode()  # json.dumps writes NaN
    inf_ts = json.dumps({**base, "seq": 2, "ts": math.inf}).encode()
    far = json.dumps({**base, "seq": 10**12, "prev": None}).encode()
    res = ingest([_in("lane-01", lane[0].to_bytes()), _in("lane-01", string_seq), _in("lane-01", far)])
    assert res.dead == 2 and res.duplicates == 0, "a string seq is not a duplicate of seq 2"
    res = ingest([_in("lane-01", nan_ts), _in("lane-01", inf_ts)])
    assert res.dead == 2
    res = ingest([_in("lane-01", e.to_bytes()) for e in lane[1:]])
    assert res.out_of_order == 0, "a far-future seq was never stored, so real events are not out of order"
    assert [e["kind"] for e in store.unit_records.events("lane-01")] == ["device.fault"] * 4 and _acked(store) == 4
    reasons = [d["reason"] for d in store.unit_records.dead_letters()]
    assert any(r.startswith("seq_ahead") for r in reasons) and sum(r.startswith("schema") for r in reasons) == 3


def test_a_flood_of_junk_is_kept_within_the_hourly_budget_and_alerted(store, ingest) -> None:
    for start in range(0, 3000, 500):
        ingest([_in("lane-02", f"junk {i}".encode() + b"\xff" * 2000) for i in range(start, start + 500)])
    rows = [d for d in store.unit_records.dead_letters(limit=10_000) if d["unit"] == "lane-02"]
    assert len(rows) == 2000, "the rest of the flood is only counted"
    assert sum(r["kept"] == r["size"] for r in rows) == 200 and max(r["kept"] for r in rows) <= 2010
    assert {r["encoding"] for r in rows} == {"base64"}
    assert store.counts()["dead_letters_only_counted"] == 1000 and "dead_letter_flood" in _rules(store)


def test_an_event_about_another_units_case_changes_nothing_and_raises_a_critical_alert(store, ingest) -> None:
    theirs = "lane-02-261206-00abcd"
    ingest(
        [
            _in(
                "lane-02",
                EventEnvelope(
                    unit="lane-02", seq=1, ts=T0, kind="case.opened", case_id=theirs, data={"owner_name": "张伟"}
                ).to_bytes(),
            )
        ]
    )
    forged = [
        EventEnvelope(unit="lane-01", seq=1, ts=T0 + 1, kind="case.rejected", case_id=theirs, data={"reason": "x"}),
        EventEnvelope(
            unit="lane-01", seq=2, ts=T0 + 2, kind="case.plates_issued", case_id=theirs, data={"number": "苏A88888"}
        ),
    ]
    ingest([_in("lane-01", e.to_bytes()) for e in forged])
    case = store.case(theirs)
    assert (
        case["outcome"] is None and case["plate"] is None and case["unit"] == "lane-02" and case["owner_name"] == "张伟"
    )
    assert store.plates.numbers(theirs) == [] and not [p for p in store.plates.numbers() if p["number"] == "苏A88888"]
    alert = next(a for a in store.alerts.recent("active") if a["rule"] == "case_of_another_unit")
    assert alert["severity"] == "critical" and alert["unit"] == "lane-01"
    assert "plate_without_payment" not in _rules(store), "no false alert about lane-02's case"
    assert len(store.unit_records.events("lane-01")) == 2, "the events stay in lane-01's own record"


def test_an_audit_log_edited_and_rechained_without_the_key_fails_verification(store) -> None:
    store.audit.key = b"audit-key-kept-outside-the-database"
    for i in range(3):
        store.audit.append("ada", "alert.resolve", f"alert/{i}", {"i": i})
    assert store.audit.verify() == []
    rows = store.audit.entries()
    prev = rows[0][
        "hash"
    ]  # an attacker with write access to the database, but not the key, edits entry 2 and re-chains
    for r in rows[1:]:
        detail = {"i": 99} if r["id"] == 2 else json.loads(r["detail"])
        h = audit_chain.entry_hash(prev, r["id"], r["ts"], r["actor"], r["action"], r["target"], detail)
        tamper(
            store,
            "UPDATE audit SET detail = ?, prev_hash = ?, hash = ? WHERE id = ?",
            (json.dumps(detail, sort_keys=True), prev, h, r["id"]),
        )
        prev = h
    tamper(store, "UPDATE meta SET value = ? WHERE key = 'audit_head'", (f"3:{prev}",))
    store.audit.key = None
    assert store.audit.verify() == [], "the hash chain alone is recomputable"
    store.audit.key = b"audit-key-kept-outside-the-database"
    problems = store.audit.verify()
    assert any("entry 2: signature invalid" in p for p in problems) and any(
        "entry 3: signature invalid" in p for p in problems
    )


def test_a_signed_audit_log_takes_no_unsigned_entry(store) -> None:
    import pytest

    from cloud_bridge.store import AuditKeyMissing

    store.audit.key = b"k"
    store.audit.append("ada", "user.add", "user/bob")
    store.audit.key = None
    with pytest.raises(AuditKeyMissing):
        store.audit.append("cli", "token.create", "user/bob")
    store.audit.key = b"k"
    assert store.audit.verify() == [] and len(store.audit.entries()) == 1


def test_alerts_are_raised_after_the_commit_and_an_alert_lost_loses_no_event(
    store, ingest, tmp_path, monkeypatch
) -> None:
    def unavailable(*args, **kwargs) -> None:
        raise RuntimeError("alerts not writable (simulated)")

    monkeypatch.setattr(store.alerts, "raise_all", unavailable)
    res = ingest([_in("lane-01", e.to_bytes()) for e in _chain(tmp_path, 2)])
    assert res.stored == 2 and {a.rule.value for a in res.alerts} == {"device_offline"}, "judged after the commit"
    monkeypatch.undo()
    assert _acked(store) == 2 and len(store.unit_records.events("lane-01")) == 2 and store.alerts.recent() == []
