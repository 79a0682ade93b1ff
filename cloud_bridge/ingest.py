"""Turning MQTT messages into things to store. Pure: bytes and topics in, `Inbound` out.

A message that cannot be parsed, is too big, violates its payload model or
claims another unit than its topic becomes a dead letter with the reason;
nothing here raises. A dead letter on a unit's ``events`` leaf that still
names its seq (`refused_seq`) takes that seq's place in the unit's stream as
an ``event.refused`` marker (`refusal_marker`), so that one bad event never
holds the unit's acknowledged watermark back.

`Batch.of` sorts a batch of messages by what the store does with them; the
store's fold answers with an `IngestResult` whose `FoldFindings` are what the
risk rules judge after the commit (`cloud_bridge.rules.fold_signals`).
"""

from __future__ import annotations

import hashlib
import json
import json.encoder
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from cloud_bridge.case_view import CaseFacts
from edge.contract import (
    GENESIS_HASH,
    MAX_PAYLOAD_BYTES,
    MAX_SEQ,
    CommandResult,
    EventEnvelope,
    EventKind,
    Leaf,
    Payload,
    PayloadError,
    Telemetry,
    UnitStatus,
    decode,
    parse_topic,
    split_events,
)

if TYPE_CHECKING:
    from cloud_bridge.rules import AlertSignal

STORED_LEAVES = (Leaf.EVENTS, Leaf.STATUS, Leaf.TELEMETRY, Leaf.CMD_RESULT)


def _canonical_encoder() -> Callable[[Any], str]:
    """`edge.contract.canonical_json`, as text, with its encoder made once: json.dumps makes a JSONEncoder per call,
    and JSONEncoder.encode a C encoder per call (half the cost of encoding a small event). Without the circular
    check, which JSON parsed from a message never needs (a cycle would be a RecursionError, not a ValueError)."""
    enc = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # (an interpreter without the C accelerator)
        return enc.encode
    c_encode = make(
        None,
        enc.default,
        json.encoder.encode_basestring,
        None,
        enc.key_separator,
        enc.item_separator,
        True,
        False,
        False,
    )

    def text(value: Any) -> str:
        return "".join(c_encode(value, 0))

    return text


_canonical_text = _canonical_encoder()


def encoded_event(ev: EventEnvelope) -> tuple[str, str]:
    """(data, hash) of an event: its data as canonical JSON (what the store keeps) and `edge.contract.event_hash`
    of it, both from one encoding of the data (the bytes hashed are event_hash's: a JSON array is its items'
    encodings joined by commas)."""
    data = _canonical_text(ev.data)
    head = _canonical_text([ev.v, ev.unit, ev.seq, ev.ts, ev.kind.value, ev.case_id, ev.station, ev.actor])
    prev = "null" if ev.prev is None else _canonical_text(ev.prev)
    return data, hashlib.sha256(f"{head[:-1]},{data},{prev}]".encode()).hexdigest()


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


MAX_REASON = 500


def _reason(text: str) -> str:
    """A dead-letter reason fit for any store: NUL escaped (PostgreSQL refuses it in text), at most MAX_REASON characters.

    A reason may quote the payload (a schema error names the offending key)."""
    text = text.replace("\x00", "\\x00")
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _holds_nul(value: Any) -> bool:
    """Whether a parsed payload has a NUL character in any string, key or value, at any depth."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_nul(v) for v in value)
    return False


def _may_hold_nul(raw: bytes) -> bool:
    """Whether the wire bytes could parse to a string holding U+0000: JSON can only spell it escaped
    (``\\u0000``; a raw control byte in a string is invalid JSON), so most payloads need no walk."""
    return b"\\u0000" in raw or b"\x00" in raw


def _payload_refusal(payload: Payload, unit: str, raw: bytes, may_hold_nul: bool | None = None) -> str | None:
    """Why a payload that matched its schema still cannot be stored, or None when it can.

    `may_hold_nul`: `_may_hold_nul(raw)` when the caller knows it already (one scan per message, not per event)."""
    # a model's own integers go into BIGINT columns (telemetry's outbox_depth): SQLite and PostgreSQL refuse more
    # (the fields read straight from __dict__: the payload models forbid extra keys, and pydantic's __iter__ costs more)
    # (an event's own integers, v and seq, are bounded by its schema: the walk is for the other payloads)
    wide = type(payload) is not EventEnvelope and next(
        (name for name, value in vars(payload).items() if type(value) is int and not -(2**63) <= value < 2**63), None
    )
    if wide:
        return f"schema: {wide}: an integer beyond 64 bits"
    if (_may_hold_nul(raw) if may_hold_nul is None else may_hold_nul) and _holds_nul(payload.model_dump()):
        # JSON may spell U+0000 (\u0000); PostgreSQL cannot keep it in text, so no store would take this payload
        return "schema: a string holds a NUL character (U+0000)"
    claimed = getattr(payload, "unit", unit)
    if claimed != unit:
        return f"unit mismatch: payload says {claimed!r}, topic {unit!r}"
    if isinstance(payload, EventEnvelope) and payload.kind == EventKind.EVENT_REFUSED:
        return "schema: event.refused is written by the bridge, never by a unit"
    return None


def classify(topic_name: str, raw: bytes, received_at: float, token: Any = None) -> Inbound:
    """One received message, parsed and checked: its payload, or the reason it goes to the dead letters."""
    try:
        site, unit, leaf = parse_topic(topic_name)
    except ValueError as exc:
        return Inbound(topic_name, None, None, None, None, raw, received_at, _reason(f"topic: {exc}"), token)

    def refused(reason: str) -> Inbound:
        return Inbound(topic_name, site, unit, leaf, None, raw, received_at, _reason(reason), token)

    if leaf not in STORED_LEAVES:
        return refused(f"leaf {leaf.value} is not sent to the bridge")
    if len(raw) > MAX_PAYLOAD_BYTES:
        return refused(f"oversize: {len(raw)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        payload = decode(leaf, raw)
    except PayloadError as exc:
        return refused(f"schema: {exc}")
    reason = _payload_refusal(payload, unit, raw)
    if reason is not None:
        return refused(reason)
    assert isinstance(payload, (EventEnvelope, UnitStatus, Telemetry, CommandResult))  # the models of STORED_LEAVES
    return Inbound(topic_name, site, unit, leaf, payload, raw, received_at, None, token)


def classify_all(topic_name: str, raw: bytes, received_at: float, token: Any = None) -> list[Inbound]:
    """Every item of one received message: one for most, one per event for a unit's batch of events
    (`edge.contract.pack_events`), each checked as if it had come alone; all carry the message's `token`, so
    the message is acknowledged once every one of them is stored."""
    if not topic_name.endswith("/" + Leaf.EVENTS.value) or len(raw) > MAX_PAYLOAD_BYTES:
        return [classify(topic_name, raw, received_at, token)]  # (which names an oversize message as such)
    try:
        events = split_events(raw)
    except PayloadError as exc:  # a malformed batch: one dead letter
        try:
            site, unit, leaf = parse_topic(topic_name)
        except ValueError:
            return [classify(topic_name, raw, received_at, token)]  # (which names the bad topic)
        return [Inbound(topic_name, site, unit, leaf, None, raw, received_at, _reason(f"schema: {exc}"), token)]
    if events is None:
        return [classify(topic_name, raw, received_at, token)]
    try:
        site, unit, leaf = parse_topic(topic_name)
    except ValueError:
        return [classify(topic_name, raw, received_at, token)]  # (which names the bad topic)
    nul = _may_hold_nul(raw)  # the batch's bytes, scanned once: a NUL anywhere in it means a closer look at each event
    return [_batched(topic_name, site, unit, event, raw, nul, received_at, token) for event in events]


def _batched(
    topic_name: str,
    site: str,
    unit: str,
    event: dict[str, Any],
    batch: bytes,
    may_hold_nul: bool,
    received_at: float,
    token: Any,
) -> Inbound:
    """One event of a batch, checked as `classify` checks one that came alone (validated from the batch's parsed
    JSON: one parse per message). Its raw bytes are written only when it is refused (for the dead letter)."""
    try:
        payload = EventEnvelope.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        reason: str | None = f"schema: EventEnvelope: {where}: {first.get('msg')}"
    else:
        reason = _payload_refusal(payload, unit, batch, may_hold_nul)
        if reason is None:
            return Inbound(topic_name, site, unit, Leaf.EVENTS, payload, b"", received_at, None, token)
    return Inbound(
        topic_name, site, unit, Leaf.EVENTS, None, _event_bytes(event), received_at, _reason(str(reason)), token
    )


def _event_bytes(event: dict[str, Any]) -> bytes:
    """One event of a batch as the bytes it would have come alone in (NaN kept as JSON's reader wrote it: the
    envelope's own checks refuse it, with the reason)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def refused_seq(item: Inbound) -> int | None:
    """The seq a dead letter on a unit's events leaf claims, when it names one that a unit could have sent."""
    if item.leaf != Leaf.EVENTS or not item.unit:
        return None
    try:
        obj = json.loads(item.raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(obj, dict) or obj.get("unit", item.unit) != item.unit:
        return None
    seq = obj.get("seq")
    return seq if type(seq) is int and 1 <= seq <= MAX_SEQ else None


def refusal_marker(item: Inbound, seq: int) -> EventEnvelope:
    """The ``event.refused`` event that holds a refused message's place in its unit's stream."""
    data = {"reason": (item.reason or "")[:300], "size": len(item.raw), "sha256": hashlib.sha256(item.raw).hexdigest()}
    return EventEnvelope.model_construct(
        v=1,
        unit=item.unit or "",
        seq=seq,
        ts=item.received_at,
        kind=EventKind.EVENT_REFUSED,
        case_id=None,
        station=None,
        actor="bridge",
        data=data,
        prev=None,
    )


@dataclass(frozen=True)
class DeadLetterKeep:
    """How much of one dead letter to keep: all of it, its head, or only a count."""

    store_row: bool
    keep_bytes: int


def dead_letter_keep(
    rows_this_hour: int,
    bytes_this_hour: int,
    size: int,
    *,
    full_rows: int = 200,
    full_bytes: int = 16 << 20,
    max_rows: int = 2000,
    head_bytes: int = 1024,
) -> DeadLetterKeep:
    """A flood of junk must not fill the disk: past a per-unit hourly budget keep a head, then only count.

    `rows_this_hour` and `bytes_this_hour` are what this unit's dead letters used before this one.
    """
    if rows_this_hour >= max_rows:
        return DeadLetterKeep(False, 0)
    if rows_this_hour < full_rows and bytes_this_hour + size <= full_bytes:
        return DeadLetterKeep(True, size)
    return DeadLetterKeep(True, min(size, head_bytes))


def payload_text(raw: bytes) -> tuple[str, str]:
    """(text, encoding) to keep a payload in a TEXT column without losing a byte: UTF-8 as is, anything else base64.

    A NUL byte is valid UTF-8 but PostgreSQL refuses it in text: such a payload is kept as base64 too."""
    if b"\x00" not in raw:
        try:
            return raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    import base64

    return base64.b64encode(raw).decode(), "base64"


class StoredLink(NamedTuple):
    """What the chain needs of one stored event: its hash, the prev it carried, its kind (a tuple: one per event folded)."""

    hash: str | None
    prev: str | None
    kind: str


def chain_link_problem(before: StoredLink | None, claimed_prev: str | None, seq: int) -> str | None:
    """Why an event's ``prev`` does not fit the stored event before it; None when it fits or cannot be judged.

    `before` is the unit's stored event at seq - 1 (None when not stored yet). An ``event.refused``
    marker cannot be judged (its content is a dead letter), nor can a stream that was never chained.
    """
    if seq == 1:
        return None if claimed_prev in (None, GENESIS_HASH) else "the first event names a predecessor"
    if before is None or before.kind == EventKind.EVENT_REFUSED.value or before.hash is None:
        return None
    if claimed_prev is None:
        return "an unchained event follows a chained one" if before.prev is not None else None
    return None if claimed_prev == before.hash else f"its prev is not the hash of the stored event {seq - 1}"


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


# ---------------------------------------------------------------- a batch, sorted for the store


class Arrived(NamedTuple):
    """One event of a batch: its site, the event, when it arrived, its chain hash (None for a refusal marker)."""

    site: str
    ev: EventEnvelope
    received_at: float
    hash: str | None


@dataclass
class Conflict:
    """A (unit, seq) that arrived again with other content than the stored event (`stored_hash` None: a refusal replaced)."""

    site: str
    unit: str
    seq: int
    stored_hash: str | None
    incoming: EventEnvelope
    incoming_hash: str | None
    received_at: float


@dataclass
class Batch:
    """A batch of received messages sorted by what the store does with them.

    The store's first transaction completes it (events far ahead become dead letters, repeats become
    duplicates or conflicts, replaced refusals are noted); the fold reads it.
    """

    events: dict[tuple[str, int], Arrived] = field(
        default_factory=dict
    )  # (unit, seq) -> the event (or a refusal marker)
    statuses: list[Inbound] = field(default_factory=list)
    telemetry: dict[str, Inbound] = field(default_factory=dict)
    results: list[Inbound] = field(default_factory=list)
    dead: list[Inbound] = field(default_factory=list)
    in_batch_dupes: int = 0
    batch_dupes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    conflicts: list[Conflict] = field(default_factory=list)
    superseded: set[tuple[str, int]] = field(default_factory=set)  # refusal markers replaced by a valid event
    data_json: dict[tuple[str, int], str] = field(default_factory=dict)  # (unit, seq) -> its data, canonical JSON
    dead_dropped: dict[str, int] = field(
        default_factory=lambda: defaultdict(int)
    )  # per unit: dead letters only counted

    @classmethod
    def of(cls, items: list[Inbound]) -> Batch:
        b = cls()
        for i in items:
            if i.payload is None:
                b.dead.append(i)
                seq = refused_seq(i)
                if seq is not None and (i.unit or "", seq) not in b.events:
                    b.events[(i.unit or "", seq)] = Arrived(i.site or "", refusal_marker(i, seq), i.received_at, None)
            elif i.leaf == Leaf.EVENTS:
                ev = i.payload
                assert isinstance(ev, EventEnvelope)
                b._add_event(i.site or "", ev, i.received_at)
            elif i.leaf == Leaf.STATUS:
                b.statuses.append(i)
            elif i.leaf == Leaf.TELEMETRY:
                b.telemetry[i.unit or ""] = i
            elif i.leaf == Leaf.CMD_RESULT:
                b.results.append(i)
        return b

    def _add_event(self, site: str, ev: EventEnvelope, received_at: float) -> None:
        key = (ev.unit, ev.seq)
        data_json, h = encoded_event(ev)  # data encoded once: hashed here, stored as is (UnitRecords)
        known = self.events.get(key)
        if known is None or known.hash is None:  # new, or a valid event in place of a refusal
            self.events[key] = Arrived(site, ev, received_at, h)
            self.data_json[key] = data_json
        elif known.hash == h:
            self.in_batch_dupes += 1
            self.batch_dupes[ev.unit] += 1
        else:
            self.conflicts.append(Conflict(site, ev.unit, ev.seq, known.hash, ev, h, received_at))


# ---------------------------------------------------------------- what a fold found


def sign_in_name(ev: EventEnvelope) -> str:
    """The name a lane inspector's failed sign-in is counted under (unit/inspector), next to dashboard/<user>."""
    return f"{ev.unit}/{ev.actor or ev.data.get('inspector') or '?'}"


@dataclass(frozen=True)
class PlateClash:
    """A case.plates_issued whose number could not be recorded for its case: the case holding the number (None: unknown)."""

    number: str
    holder: str | None


@dataclass(frozen=True)
class FoldedEvent:
    """One newly folded event with what the rules need of the moment it was folded."""

    site: str
    ev: EventEnvelope
    before: CaseFacts | None = None  # its case as it was before this event (None: no case)
    foreign: bool = False  # it names a case another unit opened: kept in its unit's record, applied to nothing
    paid_by_bridge: bool = False  # case.plates_issued: the bridge holds a paid payment for the case
    sign_in_failures: int | None = (
        None  # inspector.sign_in_failed: that name's failures within the window, this one included
    )
    plate_clash: PlateClash | None = None  # case.plates_issued: the number belongs to another case


@dataclass(frozen=True)
class InspectorTotals:
    """An inspector's inspections and VIN corrections after a fold (the override rate's inputs)."""

    inspector: str
    inspections: int
    corrections: int
    site: str
    unit: str


@dataclass(frozen=True)
class ExamFinding:
    """One folded exam event with what the exam rules need: the exam's row after it, and history the rules cannot look up."""

    kind: str  # started, result, result_changed, track_complete, track_corrupt
    site: str
    unit: str
    exam: dict[str, Any]
    id_number: str | None = None  # the candidate's, when the bridge started the exam
    last_failed_at: float | None = None  # started: when that ID number's latest failed exam ended
    previous: dict[str, Any] | None = None  # result_changed: the stored result before


@dataclass
class FoldFindings:
    """What a fold saw, for the risk rules to judge once it is committed.

    `events` in fold order (time, unit, seq): those a rule judges (a kind in `rules.JUDGED_KINDS`, a case of another
    unit, a failed sign-in, a plate clash; the others are folded but not noted); `conflicts` include refusals replaced by a valid event;
    `refused` are the refusal markers folded; `breaks` is unit -> (broken links, a seq, why).
    """

    events: list[FoldedEvent] = field(default_factory=list)
    inspectors: list[InspectorTotals] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    refused: list[Arrived] = field(default_factory=list)
    breaks: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    dead_dropped: dict[str, int] = field(default_factory=dict)
    unit_site: dict[str, str] = field(default_factory=dict)
    exams: list[ExamFinding] = field(default_factory=list)


@dataclass
class IngestResult:
    """What one stored batch changed: counts for metrics, watermarks to publish, findings and the alerts raised from them."""

    stored: int = 0
    duplicates: int = 0
    dead: int = 0
    gaps: int = 0
    out_of_order: int = 0
    watermarks: dict[tuple[str, str], int] = field(default_factory=dict)  # (site, unit) -> acked seq (changed only)
    alerts: list[AlertSignal] = field(default_factory=list)  # filled by the ingest service after the commit
    dead_reasons: list[str] = field(default_factory=list)
    conflicts: int = 0
    chain_breaks: int = 0
    refused: int = 0
    findings: FoldFindings = field(default_factory=FoldFindings)
