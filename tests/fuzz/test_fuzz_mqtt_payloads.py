"""Bytes on every MQTT leaf, as anyone with publish rights there could send them.

The bridge side: `classify` never raises and the store ingests whatever it classified (a payload, or a dead
letter with its reason) without raising, on SQLite and on PostgreSQL; a refused event that names its seq
holds that place as an ``event.refused`` marker. The unit side: `edge.contract.decode` raises only
`PayloadError` for the leaves a unit receives (ack, resp, cmd, notify).
"""

from __future__ import annotations

import time

import pytest
from fuzz_bridge import dead_letters, unit_events, watermark
from fuzz_helpers import budget, count
from fuzz_payloads import SITE, UNIT, hostile
from hypothesis import example, given
from hypothesis import strategies as st

from cloud_bridge.ingest import classify, refused_seq
from edge.contract import MAX_SEQ_AHEAD, UNIT_SUBSCRIBES, EventKind, Leaf, Payload, PayloadError, decode, topic

pytestmark = pytest.mark.fuzz

ALL_LEAVES = list(Leaf)
topics = st.one_of(
    st.sampled_from([topic(SITE, UNIT, leaf) for leaf in Leaf]),
    st.sampled_from([topic(SITE, "lane-02", leaf) for leaf in Leaf]),
    # what else a broker may deliver: MQTT topic names are UTF-8 without NUL (the broker refuses those)
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=80),
    st.sampled_from(
        [
            "passlane/v1/site-1/lane-01/cmd/result/x",
            "passlane/v1/site-1/LANE-01/events",
            "passlane/v1//lane-01/events",
            "passlane/v2/site-1/lane-01/events",
            "passlane/v1/site-1/lane-01",
            "$share/bridge/passlane/v1/+/+/events",
        ]
    ),
)


def leaf_and_bytes() -> st.SearchStrategy[tuple[Leaf, bytes]]:
    return st.sampled_from(ALL_LEAVES).flatmap(lambda leaf: st.tuples(st.just(leaf), hostile(leaf)))


# ---------------------------------------------------------------- the bridge: classify, then store
@budget(ci=150, long=10_000)
@given(leaf_and_bytes(), st.booleans())
def test_classify_never_raises_and_a_payload_it_accepts_is_its_leafs_model_for_its_unit(case, on_own_topic):
    leaf, raw = case
    count()
    item = classify(topic(SITE, UNIT if on_own_topic else "lane-02", leaf), raw, time.time())
    assert (item.payload is None) == (item.reason is not None)
    if item.payload is not None:
        assert isinstance(item.payload, Payload) and getattr(item.payload, "unit", item.unit) == item.unit
        assert not (item.leaf == Leaf.EVENTS and item.payload.kind == EventKind.EVENT_REFUSED)


@budget(ci=100, long=5_000)
@given(topics, st.binary(max_size=64))
def test_classify_never_raises_for_any_topic(topic_name, raw):
    count()
    item = classify(topic_name, raw, time.time())
    assert item.payload is None or item.leaf is not None


@budget(ci=40, long=2_000)
@given(st.lists(leaf_and_bytes(), min_size=1, max_size=6))
@example([(Leaf.EVENTS, b'{"v":1,"unit":"lane-01","seq":1,"ts":1,"kind":"case.opened","actor":"a\\u0000b"}')])
@example([(Leaf.EVENTS, b'{"seq": 7, "x": "\x00"}')])
@example([(Leaf.STATUS, b'{"v":1,"unit":"lane-01","state":"online","ts":1,"software":"\\u0000"}')])
@example([(Leaf.EVENTS, b'{"v":1,"unit":"lane-01","seq":3,"ts":1,"kind":"device.fault","data":{"device":"\\u0000"}}')])
@example([(Leaf.EVENTS, b'{"v":1,"unit":"lane-01","seq":4,"ts":1,"kind":"case.opened","\\u0000":1}')])
def test_the_store_ingests_whatever_classify_made_of_any_bytes_on_both_engines(store, ingest, batch):
    count()
    items = [classify(topic(SITE, UNIT, leaf), raw, time.time()) for leaf, raw in batch]
    acked = watermark(store, UNIT)
    result = ingest(items)
    assert result.dead >= sum(1 for i in items if i.payload is None)
    for item in items:
        seq = refused_seq(item) if item.payload is None else None
        if seq is not None and seq <= acked + MAX_SEQ_AHEAD:
            stored = unit_events(store, UNIT, seq - 1, 1)
            assert stored and stored[0]["seq"] == seq, "a refused event that names its seq holds its place"


# ---------------------------------------------------------------- the unit: what it receives
@pytest.mark.parametrize("leaf", UNIT_SUBSCRIBES, ids=[leaf.value for leaf in UNIT_SUBSCRIBES])
def test_a_unit_decodes_its_leaves_raising_only_payload_error(leaf):
    @budget(ci=100, long=5_000)
    @given(hostile(leaf))
    def decode_one(raw):
        count()
        try:
            payload = decode(leaf, raw)
        except PayloadError as exc:
            assert str(exc)
        else:
            assert isinstance(payload, Payload)

    decode_one()


# ---------------------------------------------------------------- crashes the fuzzing found, pinned
NUL_PAYLOADS = [  # (leaf, bytes): each crashed PostgreSQL ingest ("text fields cannot contain NUL (0x00) bytes")
    (Leaf.EVENTS, b'{"v":1,"unit":"lane-01","seq":1,"ts":1,"kind":"inspector.sign_in_failed","actor":"a\\u0000b"}'),
    (Leaf.EVENTS, b'{"v":1,"unit":"lane-01","seq":2,"ts":1,"kind":"device.fault","data":{"device":"\\u0000"}}'),
    (
        Leaf.EVENTS,
        b'{"v":1,"unit":"lane-01","seq":3,"ts":1,"kind":"case.opened","case_id":"lane-01-261206-abcdef","data":{"owner_name":"\\u0000"}}',
    ),
    (
        Leaf.EVENTS,
        b'{"v":1,"unit":"lane-01","seq":4,"ts":1,"kind":"case.opened","a\\u0000b":1}',
    ),  # the reason quoted the key
    (Leaf.EVENTS, b'{"seq": 5, "junk": "\x00"}'),  # not JSON (a raw control character): a dead letter naming no seq
    (Leaf.STATUS, b'{"v":1,"unit":"lane-01","state":"online","ts":1,"software":"\\u0000"}'),
    (
        Leaf.TELEMETRY,
        b'{"v":1,"unit":"lane-01","ts":1,"load_1m":1,"mem_used_pct":1,"disk_used_pct":1,"outbox_depth":1,"stage":"\\u0000"}',
    ),
    (Leaf.CMD_RESULT, b'{"v":1,"unit":"lane-01","request_id":"r\\u0000","command":"x","status":"done","ts":1}'),
]


@pytest.mark.parametrize("depth", [2**63, 10**30])
def test_telemetry_with_an_integer_beyond_64_bits_is_a_dead_letter_that_both_engines_store(ingest, depth):
    """outbox_depth of 2**63 passed the model and made ingest raise (SQLite OverflowError, PostgreSQL out of range)."""
    raw = b'{"v":1,"unit":"lane-01","ts":1,"load_1m":0,"mem_used_pct":0,"disk_used_pct":0,"outbox_depth":%d}' % depth
    item = classify(topic(SITE, UNIT, Leaf.TELEMETRY), raw, time.time())
    assert item.payload is None and "outbox_depth" in (item.reason or "")
    assert ingest([item]).dead == 1


def test_a_nul_character_anywhere_in_a_payload_makes_it_a_dead_letter_that_both_engines_store(store, ingest):
    items = [classify(topic(SITE, UNIT, leaf), raw, time.time()) for leaf, raw in NUL_PAYLOADS]
    assert all(i.payload is None and "\x00" not in (i.reason or "") for i in items)
    result = ingest(items)
    assert result.dead == len(NUL_PAYLOADS)
    assert [e["seq"] for e in unit_events(store, UNIT)] == [1, 2, 3, 4], (
        "each refused event that names its seq holds its place"
    )
    assert {e["kind"] for e in unit_events(store, UNIT)} == {EventKind.EVENT_REFUSED.value}
    kept = dead_letters(store)
    assert len(kept) == len(NUL_PAYLOADS) and any(d["encoding"] == "base64" for d in kept), (
        "the NUL byte is kept, as base64"
    )
