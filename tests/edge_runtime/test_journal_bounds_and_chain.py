"""The journal never holds an event the bridge could not accept, and a unit's events form a hash chain the bridge can recompute."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rt_helpers import session_settings

from edge.contract import (
    GENESIS_HASH,
    MAX_EVENT_BYTES,
    MAX_PAYLOAD_BYTES,
    EventEnvelope,
    EventKind,
    Leaf,
    PayloadError,
    event_hash,
)
from edge.journal import EventInvalid, EventTooLarge, Journal, NewEvent
from edge.mqtt_session import MqttSession


def test_an_oversize_event_is_refused_where_it_is_made_and_nothing_is_journaled(journal: Journal) -> None:
    journal.record([NewEvent(EventKind.DEVICE_RECOVERED, data={"device": "io"})])
    with pytest.raises(EventTooLarge) as refused:
        journal.record([NewEvent(EventKind.INSPECTOR_SIGN_IN_FAILED, actor="x", data={"inspector": "A" * 140_000})])
    assert isinstance(refused.value, PayloadError) and str(MAX_EVENT_BYTES) in str(refused.value)
    assert journal.last_seq() == 1 and journal.outbox_depth() == 1 and len(journal.events()) == 1
    journal.record([NewEvent(EventKind.DEVICE_FAULT, data={"device": "io"})])
    assert journal.last_seq() == 2, "the refused event took no seq: the stream has no gap"
    assert max(len(p) for _, p in journal.outbox_unsent(10)) <= MAX_EVENT_BYTES < MAX_PAYLOAD_BYTES


@pytest.mark.parametrize(
    "event",
    [
        NewEvent(EventKind.INSPECTOR_SIGN_IN_FAILED, actor="i" * 65),  # an actor longer than the contract allows
        NewEvent(EventKind.DEVICE_FAULT, data={"reading": math.nan}),  # NaN is not JSON
        NewEvent(EventKind.DEVICE_FAULT, ts=math.inf),
    ],
)
def test_an_event_breaking_the_contract_is_refused_with_a_clear_error(journal: Journal, event: NewEvent) -> None:
    with pytest.raises(EventInvalid, match="not journaled"):
        journal.record([event])
    assert journal.last_seq() == 0 and journal.outbox_depth() == 0


def test_each_event_names_the_hash_of_the_one_before_from_the_genesis_on(journal: Journal) -> None:
    envs = journal.record([NewEvent(EventKind.DEVICE_FAULT, data={"n": i}) for i in range(3)])
    envs += journal.record([NewEvent(EventKind.DEVICE_RECOVERED)])
    assert envs[0].prev == GENESIS_HASH
    assert [e.prev for e in envs[1:]] == [event_hash(e) for e in envs[:-1]]


def test_the_chain_continues_across_a_restart_of_the_unit(tmp_path) -> None:
    j = Journal(tmp_path / "j.sqlite", "lane-01")
    first = j.record([NewEvent(EventKind.DEVICE_FAULT)])[0]
    j.close()
    j = Journal(tmp_path / "j.sqlite", "lane-01")
    try:
        assert j.record([NewEvent(EventKind.DEVICE_RECOVERED)])[0].prev == event_hash(first)
    finally:
        j.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    ts=st.floats(0, 1e10),
    actor=st.none() | st.text(max_size=64),
)
def test_the_bridge_recomputes_the_units_hash_from_the_bytes_it_receives(
    tmp_path_factory, data, ts: float, actor
) -> None:
    j = Journal(tmp_path_factory.mktemp("j") / "j.sqlite", "lane-01")
    try:
        env = j.record([NewEvent(EventKind.DEVICE_FAULT, actor=actor, data=data, ts=ts)])[0]
        ((seq, raw),) = j.outbox_unsent(1)
        received = EventEnvelope.from_bytes(bytes(raw))
        assert event_hash(received) == event_hash(env)
        stored = json.loads(json.dumps(received.data, ensure_ascii=False))  # as the bridge keeps it in a TEXT column
        assert event_hash(received.model_copy(update={"data": stored})) == event_hash(env)
    finally:
        j.close()


def test_the_session_refuses_to_publish_a_payload_the_broker_would_drop_it_for(mqtt_broker, site_pki) -> None:
    session = MqttSession(session_settings(mqtt_broker, site_pki))
    session.start()
    try:
        assert session.wait_connected(10)
        with pytest.raises(PayloadError, match="not sent"):
            session.publish(Leaf.EVENTS, b"x" * (MAX_PAYLOAD_BYTES + 1))
        assert session.publish(Leaf.TELEMETRY, b"{}").rc == 0 and session.connected.is_set()
        fut = session.request_future(
            "partner.lookup", {"id_number": "1" * (MAX_PAYLOAD_BYTES + 1)}, "lane-01-261206-000001"
        )
        with pytest.raises(PayloadError):
            fut.result(1)
        assert session.connected.is_set(), "nothing oversize reached the broker, so the connection stands"
    finally:
        session.stop()


def test_a_watermark_over_an_event_not_yet_sent_leaves_it_in_the_outbox(journal: Journal) -> None:
    """A refused message claiming the unit's next seq moves the watermark past it: the real event must still go out."""
    journal.record([NewEvent(EventKind.DEVICE_FAULT)])
    assert journal.ack(1) == 0 and journal.outbox_depth() == 1, "never sent: kept"
    journal.mark_sent([1], now=1.0)
    assert journal.ack(1) == 1 and journal.outbox_depth() == 0
