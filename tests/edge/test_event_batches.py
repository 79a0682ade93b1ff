"""Pending events packed into messages (`pack_events`, `batch_bytes`) and split again (`split_events`)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.contract import (
    BATCH_MAX_EVENTS,
    MAX_PAYLOAD_BYTES,
    EventEnvelope,
    PayloadError,
    batch_bytes,
    pack_events,
    split_events,
)

UNIT = "lane-01"


def envelope(seq: int, pad: int) -> bytes:
    return EventEnvelope(unit=UNIT, seq=seq, ts=1.0, kind="case.opened", case_id="c", data={"p": "x" * pad}).to_bytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40_000), min_size=1, max_size=250), st.integers(2_000, MAX_PAYLOAD_BYTES))
def test_every_event_goes_once_in_order_and_no_message_is_over_its_bounds(pads: list[int], max_bytes: int) -> None:
    payloads = [envelope(i + 1, pad) for i, pad in enumerate(pads)]
    groups = pack_events(UNIT, payloads, max_bytes)
    assert [i for g in groups for i in g] == list(range(len(payloads)))
    for g in groups:
        message = batch_bytes(UNIT, [payloads[i] for i in g])
        assert len(g) <= BATCH_MAX_EVENTS
        if len(g) == 1:
            assert message == payloads[g[0]] and split_events(message) is None  # one event goes as itself
        else:
            assert len(message) <= max_bytes
            parsed = split_events(message)
            assert parsed == [json.loads(payloads[i]) for i in g]
            assert [EventEnvelope.model_validate(e).seq for e in parsed] == [i + 1 for i in g]
    # greedy: a message is only closed when the next event does not fit or it is full
    for a, b in itertools.pairwise(groups):
        joined = batch_bytes(UNIT, [payloads[i] for i in a + [b[0]]])
        assert len(a) == BATCH_MAX_EVENTS or len(joined) > max_bytes


def test_an_envelope_that_merely_mentions_events_is_one_event() -> None:
    raw = EventEnvelope(unit=UNIT, seq=1, ts=1.0, kind="case.opened", data={"events": [1, 2]}).to_bytes()
    assert split_events(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        b'{"v":1,"unit":"lane-01","events":[{"seq":1}]}',  # one is not a batch
        b'{"v":1,"unit":"lane-01","events":[1,2]}',  # events are objects
        b'{"v":1,"unit":"lane-01","events":[{},{}],"x":1}',  # unknown key
        b'{"v":2,"unit":"lane-01","events":[{},{}]}',
        b'{"v":1,"unit":"lane-01","events":' + json.dumps([{}] * (BATCH_MAX_EVENTS + 1)).encode() + b"}",
        b'{"events": [',
    ],
)
def test_a_malformed_batch_is_refused_as_a_whole(raw: bytes) -> None:
    with pytest.raises(PayloadError):
        split_events(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6), st.sampled_from([None, "a" * 64]))
def test_the_hash_from_data_encoded_once_is_the_hash(data: dict, prev: str | None) -> None:
    """The bridge hashes with the data's canonical JSON it also stores: the same bytes, the same hash."""
    from edge.contract import canonical_json, event_hash

    ev = EventEnvelope(unit=UNIT, seq=3, ts=1.5, kind="case.photo", case_id="c", actor="a", data=data, prev=prev)
    assert event_hash(ev, canonical_json(ev.data)) == event_hash(ev)


any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


def _holds_non_finite(value: object) -> bool:
    """The plain definition the envelope's fast check must agree with."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_holds_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_non_finite(v) for v in value)
    return False


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=6), any_json, max_size=5))
def test_an_event_with_nan_or_infinity_anywhere_in_its_data_is_refused(data: dict) -> None:
    """NaN and infinities are not JSON: at any depth they refuse the event, and nothing else does."""
    from pydantic import ValidationError

    try:
        EventEnvelope(unit=UNIT, seq=1, ts=1.0, kind="case.photo", data=data)
    except ValidationError:
        assert _holds_non_finite(data)
    else:
        assert not _holds_non_finite(data)
