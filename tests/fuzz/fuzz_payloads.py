"""Payloads of every MQTT leaf (edge/contract.py) as hypothesis strategies: valid ones, and everything around them.

`valid_object(leaf)` draws a payload object its model accepts (the bridge's strings and numbers within the
model's bounds, event data with the keys the bridge reads holding any JSON); `hostile(leaf)` draws bytes a
sender with an account on that leaf could publish: junk, valid payloads mutated, wrong types, nasty values.
"""

from __future__ import annotations

from typing import Any

from fuzz_helpers import NASTY_TEXT, bytes_around, dumps, hostile_object, json_values
from hypothesis import strategies as st

from edge.contract import (
    MAX_SEQ,
    CommandName,
    CommandStatus,
    EventKind,
    Leaf,
    NotificationKind,
    RequestKind,
    UnitState,
)

SITE = "site-1"
UNIT = "lane-01"
OWN_CASE = "lane-01-261206-abcdef"
OTHER_CASE = "lane-02-261206-abcdef"

short_text = st.one_of(st.text(max_size=20), st.sampled_from([t for t in NASTY_TEXT if len(t) <= 20]))
finite = st.floats(allow_nan=False, allow_infinity=False)
unix_time = st.floats(min_value=0, max_value=1e11, allow_nan=False)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
case_ids = st.one_of(
    st.none(), st.just(OWN_CASE), st.just(OTHER_CASE), st.from_regex(r"\Alane-01-[0-9]{6}-[0-9a-f]{6,16}\Z"), short_text
)

# the event data keys the bridge reads (docs/mqtt.md, "What the bridge reads from event data")
DATA_KEYS = [
    "id_number",
    "owner_name",
    "records",
    "vehicle",
    "certificate",
    "owner",
    "vin",
    "certificate_vin",
    "image",
    "image_b64",
    "image_url",
    "by",
    "read",
    "read_vin",
    "corrected",
    "code",
    "duration_s",
    "too_fast",
    "number",
    "plate",
    "plate_kind",
    "outcome",
    "barrier",
    "command",
    "state",
    "remote",
    "device",
    "detail",
    "reason",
    "inspector",
    "inspector_truncated",
    "inspector_length",
    "name",
]
PLAUSIBLE = st.one_of(
    st.sampled_from(
        [
            "LSVAB4182E2100001",
            "苏A12345",
            "苏AD12345",
            "registered",
            "rejected",
            "aborted",
            "open",
            "close",
            "entry",
            "exit",
            "inspector",
            "reader",
            "0113",
            "data:image/png;base64,iVBORw0KGgo=",
            "https://example.invalid/x.jpg",
            "/var/lane/photo.jpg",
            "/9j/4AAQ",
            "new-energy",
            "ordinary",
        ]
    ),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
event_data = st.dictionaries(
    st.sampled_from(DATA_KEYS),
    st.one_of(
        PLAUSIBLE,
        json_values,
        st.recursive(PLAUSIBLE, lambda c: st.dictionaries(st.sampled_from(DATA_KEYS), c, max_size=4), max_leaves=8),
    ),
    max_size=8,
)
finite_json = json_values.filter(
    lambda v: "NaN" not in dumps(v).decode("utf-8", "replace") and "Infinity" not in dumps(v).decode("utf-8", "replace")
)


def _board() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"name": st.text(max_size=32), "online": st.booleans()},
        optional={
            "frames_tx": st.integers(),
            "crc_errors": st.integers(-1, 10**9),
            "rtt_ms_p50": st.one_of(st.none(), finite),
        },
    )


def valid_object(leaf: Leaf, unit: str = UNIT) -> st.SearchStrategy[dict[str, Any]]:
    """A payload object for `leaf` that its model accepts (the unit as given)."""
    if leaf == Leaf.STATUS:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "state": st.sampled_from([s.value for s in UnitState]),
                "ts": finite,
            },
            optional={"role": st.sampled_from(["lane", "exam-vehicle", "bridge"]), "software": st.text(max_size=64)},
        )
    if leaf == Leaf.EVENTS:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "seq": st.one_of(st.integers(1, 60), st.integers(1, MAX_SEQ)),
                "ts": unix_time,
                "kind": st.sampled_from([k.value for k in EventKind if k != EventKind.EVENT_REFUSED]),
            },
            optional={
                "case_id": case_ids.filter(lambda c: c is None or len(c) <= 64),
                "station": st.one_of(st.none(), st.text(max_size=32)),
                "actor": st.one_of(st.none(), st.text(max_size=64)),
                "data": event_data.filter(
                    lambda d: (
                        "NaN" not in dumps(d).decode("utf-8", "replace")
                        and "Infinity" not in dumps(d).decode("utf-8", "replace")
                    )
                ),
                "prev": st.one_of(st.none(), hex64, st.just("0" * 64)),
            },
        )
    if leaf == Leaf.POSITION:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "t": st.floats(0, 1e11),
                "lat": st.floats(-90, 90),
                "lon": st.floats(-180, 180),
                "e": finite,
                "n": finite,
                "quality": st.sampled_from(["invalid", "gps", "dgps", "rtk_float", "rtk_fixed", "dead_reckoning"]),
            },
            optional={
                "heading_deg": st.one_of(st.none(), st.floats(0, 359.9)),
                "speed_mps": st.one_of(st.none(), st.floats(0, 100)),
                "exam_id": st.one_of(st.none(), st.text(max_size=64)),
                "item": st.one_of(st.none(), st.text(max_size=64)),
                "score": st.one_of(st.none(), st.integers(0, 100)),
            },
        )
    if leaf == Leaf.TELEMETRY:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "ts": finite,
                "load_1m": finite,
                "mem_used_pct": finite,
                "disk_used_pct": finite,
                "outbox_depth": st.integers(0, 2**63),
            },
            optional={
                "cpu_temp_c": st.one_of(st.none(), finite),
                "outbox_alarm": st.booleans(),
                "telemetry_dropped": st.integers(0, 2**40),
                "boards": st.lists(_board(), max_size=3),
                "camera_fps": st.one_of(st.none(), finite),
                "stage": st.one_of(st.none(), st.text(max_size=64)),
                "stations": st.dictionaries(st.text(max_size=8), finite_json, max_size=4),
            },
        )
    if leaf == Leaf.REQ:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "kind": st.sampled_from([k.value for k in RequestKind]),
                "ts": finite,
            },
            optional={
                "case_id": case_ids.filter(lambda c: c is None or len(c) <= 64),
                "body": request_body(),
                "expires_at": st.one_of(st.none(), st.just(4e9), finite),
            },
        )
    if leaf == Leaf.CMD_RESULT:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "unit": st.just(unit),
                "request_id": st.text(max_size=64),
                "command": st.one_of(st.sampled_from([c.value for c in CommandName]), st.text(max_size=64)),
                "status": st.sampled_from([s.value for s in CommandStatus]),
                "ts": finite,
            },
            optional={
                "detail": st.text(max_size=200),
                "data": st.dictionaries(st.text(max_size=8), finite_json, max_size=4),
            },
        )
    if leaf == Leaf.ACK:
        return st.fixed_dictionaries(
            {"v": st.just(1), "unit": st.just(unit), "acked_seq": st.integers(0, MAX_SEQ), "ts": finite}
        )
    if leaf == Leaf.RESP:
        return st.fixed_dictionaries(
            {"v": st.just(1), "kind": st.sampled_from([k.value for k in RequestKind]), "ok": st.booleans()},
            optional={
                "error": st.one_of(st.none(), st.text(max_size=64)),
                "detail": st.one_of(st.none(), st.text(max_size=200)),
                "body": st.dictionaries(st.text(max_size=8), finite_json, max_size=4),
            },
        )
    if leaf == Leaf.CMD:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "request_id": st.text(min_size=8, max_size=64),
                "command": st.sampled_from([c.value for c in CommandName]),
                "issued_by": st.text(min_size=1, max_size=64),
                "reason": st.text(min_size=1, max_size=100),
                "issued_at": finite,
                "expires_at": finite,
            },
            optional={"args": st.dictionaries(st.text(max_size=8), finite_json, max_size=4)},
        )
    if leaf == Leaf.NOTIFY:
        return st.fixed_dictionaries(
            {
                "v": st.just(1),
                "kind": st.sampled_from([k.value for k in NotificationKind]),
                "case_id": st.text(max_size=64),
                "ts": finite,
            },
            optional={
                "data": st.dictionaries(
                    st.sampled_from(["payment_id", "amount_cents", "number"]), finite_json, max_size=3
                )
            },
        )
    raise AssertionError(leaf)


REQUEST_KEYS = [
    "case_id",
    "id_number",
    "booking_number",
    "vin",
    "authority",
    "plate_kind",
    "count",
    "fuel_type",
    "number",
    "composed",
    "items",
]


def request_body() -> st.SearchStrategy[dict[str, Any]]:
    """A request body: the keys the bridge reads, holding plausible values or any JSON."""
    plausible = st.one_of(
        st.sampled_from(
            [
                OWN_CASE,
                OTHER_CASE,
                "苏A",
                "京A",
                "ordinary",
                "new-energy",
                "bev",
                "phev",
                "苏A3K721",
                "苏AD12345",
                "110101199001011234",
                "BK0001",
                "LSVAB4182E2100001",
                "plate",
                "licence",
            ]
        ),
        st.integers(-10, 300),
        st.booleans(),
        st.lists(st.sampled_from(["plate", "licence", "x"]), max_size=3),
    )
    return st.dictionaries(st.sampled_from(REQUEST_KEYS), st.one_of(plausible, plausible, finite_json), max_size=6)


def valid_bytes(leaf: Leaf, unit: str = UNIT) -> st.SearchStrategy[bytes]:
    return st.tuples(valid_object(leaf, unit), st.booleans()).map(lambda t: dumps(t[0], ascii_only=t[1]))


def hostile(leaf: Leaf, unit: str = UNIT) -> st.SearchStrategy[bytes]:
    """Bytes anyone with publish rights on `leaf` could send: junk, mutations of valid payloads, wrong types, nasty values."""
    return st.one_of(bytes_around(valid_bytes(leaf, unit)), valid_object(leaf, unit).flatmap(hostile_object))
