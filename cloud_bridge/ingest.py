"""Turning MQTT messages into things to store. Pure: bytes and topics in, `Inbound` out.

A message that cannot be parsed, is too big, violates its payload model or
claims another unit than its topic becomes a dead letter with the reason;
nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.contract import (
    MAX_PAYLOAD_BYTES,
    CommandResult,
    EventEnvelope,
    Leaf,
    PayloadError,
    Telemetry,
    UnitStatus,
    decode,
    parse_topic,
)

STORED_LEAVES = (Leaf.EVENTS, Leaf.STATUS, Leaf.TELEMETRY, Leaf.CMD_RESULT)


@dataclass
class Inbound:
    """One received message, classified. `payload` is None for a dead letter."""

    topic: str
    site: str | None
    unit: str | None
    leaf: Leaf | None
    payload: EventEnvelope | UnitStatus | Telemetry | CommandResult | None
    raw: bytes
    received_at: float
    reason: str | None = None  # dead-letter reason
    token: Any = field(default=None, repr=False)  # whatever the transport needs to acknowledge it


def classify(topic_name: str, raw: bytes, received_at: float, token: Any = None) -> Inbound:
    try:
        site, unit, leaf = parse_topic(topic_name)
    except ValueError as exc:
        return Inbound(topic_name, None, None, None, None, raw, received_at, f"topic: {exc}", token)
    if leaf not in STORED_LEAVES:
        return Inbound(topic_name, site, unit, leaf, None, raw, received_at, f"leaf {leaf.value} is not sent to the bridge", token)
    if len(raw) > MAX_PAYLOAD_BYTES:
        return Inbound(topic_name, site, unit, leaf, None, raw, received_at, f"oversize: {len(raw)} bytes > {MAX_PAYLOAD_BYTES}", token)
    try:
        payload = decode(leaf, raw)
    except PayloadError as exc:
        return Inbound(topic_name, site, unit, leaf, None, raw, received_at, f"schema: {exc}", token)
    claimed = getattr(payload, "unit", unit)
    if claimed != unit:
        return Inbound(topic_name, site, unit, leaf, None, raw, received_at, f"unit mismatch: payload says {claimed!r}, topic {unit!r}", token)
    return Inbound(topic_name, site, unit, leaf, payload, raw, received_at, None, token)  # type: ignore[arg-type]


@dataclass
class UnitProgress:
    """Per-unit sequence bookkeeping for one batch (pure)."""

    max_seq: int
    gaps: int = 0  # times a seq jumped past max_seq + 1
    out_of_order: int = 0  # seqs that arrived below max_seq (filling a gap, or reordered)


def track_sequences(prev_max: int, inserted_seqs: list[int]) -> UnitProgress:
    """Gaps and out-of-order arrivals among newly stored seqs, in arrival order."""
    p = UnitProgress(prev_max)
    for s in inserted_seqs:
        if s > p.max_seq + 1:
            p.gaps += 1
        if s < p.max_seq:
            p.out_of_order += 1
        p.max_seq = max(p.max_seq, s)
    return p
