"""Property: whatever the arrival order, batching and repetition, each (unit, seq) is stored once and the watermark is the contiguous prefix."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_db import empty

from cloud_bridge.ingest import Batch, classify
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import open_store
from edge.contract import EventEnvelope, Leaf, topic

UNITS = ("lane-01", "lane-02")


def _msg(unit: str, seq: int):
    ev = EventEnvelope(
        unit=unit,
        seq=seq,
        ts=1_790_000_000 + seq,
        kind="case.inspection_item",
        case_id=f"{unit}-261206-{seq // 5:06x}",
        data={"item": seq},
    )
    return classify(topic("site-1", unit, Leaf.EVENTS), ev.to_bytes(), time.time())


arrivals = st.lists(st.tuples(st.sampled_from(UNITS), st.integers(1, 30)), min_size=1, max_size=120)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(arrivals=arrivals, batch=st.integers(1, 40))
def test_any_arrival_order_stores_each_event_once_and_acks_the_contiguous_prefix(db_url, arrivals, batch: int) -> None:
    store = open_store(db_url)
    store.migrate()
    ingest = IngestService(store, RiskRulesConfig()).ingest
    try:
        empty(store, "events", "units", "cases", "alerts", "inspector_stats")
        marks: dict[str, int] = {}
        for start in range(0, len(arrivals), batch):
            res = ingest([_msg(u, s) for u, s in arrivals[start : start + batch]])
            for (_site, unit), acked in res.watermarks.items():
                assert acked >= marks.get(unit, 0), "a watermark never goes back"
                marks[unit] = acked
        unique = set(arrivals)
        counts = store.counts()
        assert counts["events_stored"] == len(unique)
        assert counts["duplicates_seen"] == len(arrivals) - len(unique)
        for unit in UNITS:
            seqs = {s for u, s in unique if u == unit}
            stored = [e["seq"] for e in store.unit_records.events(unit, 0, 1000)]
            assert stored == sorted(seqs)
            prefix = 0
            while prefix + 1 in seqs:
                prefix += 1
            assert marks.get(unit, 0) == prefix
            assert {r["unit"]: r["acked_seq"] for r in store.unit_records.watermarks()}.get(unit, 0) == prefix
        folded = sum(store.cases.folded_events().values())
        assert folded == len(unique), "the case view folds each stored event once"
    finally:
        store.close()


def test_an_event_stored_but_not_folded_is_folded_once_on_redelivery_or_by_the_sweep(store) -> None:
    service = IngestService(store, RiskRulesConfig())
    first = [_msg("lane-01", s) for s in (1, 2, 3)]
    # a worker dies after the durable transaction and before the fold
    store.unit_records.keep(Batch.of(first))
    assert store.counts()["events_stored"] == 3 and store.case("lane-01-261206-000000").get("events") in (None, 0)
    # the broker delivers seq 1 and 2 again: they are folded now, once, and not counted as duplicates
    res = service.ingest([_msg("lane-01", 1), _msg("lane-01", 2)])
    assert res.stored == 2 and res.duplicates == 0 and res.watermarks[("site-1", "lane-01")] == 3
    # seq 3 never comes again: the sweep folds it
    assert service.fold_pending(0.0).stored == 1
    assert service.fold_pending(0.0).stored == 0
    assert store.case("lane-01-261206-000000")["events"] == 3  # seq 1..3 are all case c0 (seq // 5 == 0)
    counts = store.counts()
    assert counts["events_stored"] == 3 and counts["duplicates_seen"] == 0 and counts["missing_seqs"] == 0
    # a real repeat after that is a duplicate and changes nothing
    assert service.ingest([_msg("lane-01", 2)]).duplicates == 1
    assert store.case("lane-01-261206-000000")["events"] == 3


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=10), _json_values, max_size=6),
    prev=st.sampled_from([None, "a" * 64]),
    text=st.text(max_size=12),
    ts=st.floats(0, 1e11, allow_nan=False),
)
def test_the_bridge_encodes_and_hashes_an_event_as_the_contract_does(data: dict, prev, text: str, ts: float) -> None:
    """Ingest encodes an event's data once and hashes from it: the same text as canonical_json, the same event_hash."""
    from cloud_bridge.ingest import encoded_event
    from edge.contract import canonical_json, event_hash

    ev = EventEnvelope(
        unit="lane-01", seq=3, ts=ts, kind="case.photo", case_id=text or None, actor=text, data=data, prev=prev
    )
    data_json, h = encoded_event(ev)
    assert data_json.encode() == canonical_json(ev.data)
    assert h == event_hash(ev)


def test_a_fold_that_fails_leaves_the_events_kept_and_listed_to_fold_later(store, monkeypatch) -> None:
    """On SQLite keep and fold share a transaction: a failing fold is undone alone, its events stay stored and unfolded."""
    import pytest

    from cloud_bridge.store.fold import EventFold

    service = IngestService(store, RiskRulesConfig())
    real = EventFold._project

    def broken(*args, **kwargs):
        raise RuntimeError("fold broke")

    monkeypatch.setattr(EventFold, "_project", broken)
    with pytest.raises(RuntimeError, match="fold broke"):
        service.ingest([_msg("lane-01", s) for s in (1, 2, 3)])
    counts = store.counts()
    assert counts["events_stored"] == 3 and store.case("lane-01-261206-000000").get("events") in (None, 0)
    assert not store.unit_records.watermarks() or store.unit_records.watermarks()[0]["acked_seq"] == 0
    monkeypatch.setattr(EventFold, "_project", real)
    # the message is delivered again (it was never acknowledged): folded now, once, not counted as duplicates
    res = service.ingest([_msg("lane-01", s) for s in (1, 2, 3)])
    assert res.stored == 3 and res.duplicates == 0 and res.watermarks[("site-1", "lane-01")] == 3
    assert service.fold_pending(0.0).stored == 0
    assert store.case("lane-01-261206-000000")["events"] == 3
    assert service.ingest([_msg("lane-01", 3)]).duplicates == 1
