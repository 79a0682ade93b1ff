"""Property: each event of a batch (`edge.contract.pack_events`) is judged exactly as if it had come alone."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_bridge.ingest import classify, classify_all
from edge.contract import EventEnvelope, Leaf, batch_bytes, topic

UNIT = "lane-01"
TOPIC = topic("site-1", UNIT, Leaf.EVENTS)


def good(seq: int, item: str) -> bytes:
    return EventEnvelope(
        unit=UNIT, seq=seq, ts=1.7e9 + seq, kind="case.inspection_item", data={"item": item}
    ).to_bytes()


# ways a unit (or someone with its account) can get one event wrong; each is refused alone
SPOILERS = {
    "kind": lambda raw: raw.replace(b'"case.inspection_item"', b'"case.teleported"'),
    "unit": lambda raw: raw.replace(b'"lane-01"', b'"lane-02"'),
    "seq": lambda raw: raw.replace(b'"seq":', b'"seq":-'),
    "nul": lambda raw: raw.replace(b'"item":"', b'"item":"\\u0000'),
    "refused": lambda raw: raw.replace(b'"case.inspection_item"', b'"event.refused"'),
    "extra": lambda raw: raw[:-1] + b',"x":1}',
    "float seq": lambda raw: raw.replace(b'"seq":', b'"seq":0.5+'),
}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(max_size=12), st.sampled_from([None, *SPOILERS])),
        min_size=2,
        max_size=30,
    )
)
def test_a_batched_event_gets_the_verdict_it_would_get_alone(spec: list[tuple[str, str | None]]) -> None:
    raws = []
    for i, (item, spoil) in enumerate(spec, start=1):
        raw = good(i, item)
        raws.append(SPOILERS[spoil](raw) if spoil else raw)
    raws = [r for r in raws if _is_json_object(r)]  # (a spoiler that broke the JSON itself breaks the whole batch)
    if len(raws) < 2:
        return
    together = classify_all(TOPIC, batch_bytes(UNIT, raws), 0.0, token="m")
    alone = [classify(TOPIC, r, 0.0, token="m") for r in raws]
    assert len(together) == len(alone)
    for t, a in zip(together, alone, strict=True):
        assert (t.payload is None) == (a.payload is None), (t.reason, a.reason)
        assert t.payload == a.payload
        if a.payload is None:
            assert t.reason is not None and t.reason.split(":")[0] == (a.reason or "").split(":")[0]
            assert json.loads(t.raw) == json.loads(a.raw)  # the dead letter keeps the event's content
        assert t.token == "m"


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return False


def test_a_single_event_and_a_malformed_batch_are_one_item_each() -> None:
    assert len(classify_all(TOPIC, good(1, "vin"), 0.0)) == 1
    (dead,) = classify_all(TOPIC, b'{"v":1,"unit":"lane-01","events":[{},1]}', 0.0)
    assert dead.payload is None and dead.reason is not None and dead.reason.startswith("schema: EventBatch")
