"""The MQTT contract between PassLane units (lanes, exam vehicles) and the cloud bridge.

Written once, here; both sides import it and `docs/mqtt.md` is checked against
it by a test. Every topic lives under ``passlane/v1/{site}/{unit}/``:

=================  =========  =====  ========  ==========================================
leaf               direction  QoS    retained  payload model
=================  =========  =====  ========  ==========================================
status             unit->     1      yes       UnitStatus (Last Will: state "offline")
events             unit->     1      no        EventEnvelope (durable outbox, per-unit seq)
telemetry          unit->     0      no        Telemetry (may be dropped when offline)
position           unit->     0      no        PositionReport (exam vehicles only; live, never journaled)
req                unit->     1      no        Request (MQTT v5 ResponseTopic + CorrelationData)
cmd/result         unit->     1      no        CommandResult
ack                ->unit     1      yes       Ack (highest contiguous seq stored)
resp               ->unit     1      no        Response (same CorrelationData as the Request)
cmd                ->unit     1      no        RemoteCommand
notify             ->unit     1      no        Notification (e.g. payment confirmed)
=================  =========  =====  ========  ==========================================

The major version is in the topic (``v1``); each payload also carries ``v``
so a receiver can refuse a payload it does not understand without guessing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CONTRACT_VERSION = 1
TOPIC_ROOT = "passlane/v1"
MAX_PAYLOAD_BYTES = 256 * 1024
"""The largest payload on any leaf. Units never publish more (the session refuses it), the bridge
dead-letters more, and the broker's own packet limit (edge/broker.py) is well above it, so no
payload can make the broker drop a unit's connection."""
MAX_EVENT_BYTES = 64 * 1024
"""The largest business event a unit journals (its JSON envelope). Checked when the event is
built (edge/journal.py), a quarter of MAX_PAYLOAD_BYTES, so that an event can never be refused
by the bridge for its size and stop the unit's acknowledged watermark."""
MAX_SEQ = 2**53
"""Sequence numbers stay exact in every JSON reader and in a double."""
MAX_SEQ_AHEAD = 1_000_000
"""The bridge refuses an event whose seq is this far beyond the unit's watermark: no real outbox
holds that many, and one stored would make every later real event look out of order."""
GENESIS_HASH = "0" * 64
"""The ``prev`` of a unit's first event (seq 1)."""
UNIT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
SITE_ID_RE = UNIT_ID_RE
CASE_ID_RE = re.compile(r"^(?P<unit>[a-z0-9][a-z0-9-]{0,31})-(?P<day>[0-9]{6})-(?P<serial>[0-9a-f]{6,16})$")
"""A case id names the unit that opened it: ``{unit}-{yymmdd}-{hex serial}``, e.g. ``lane-01-261206-3fa9c1``.
A case belongs to that unit; the bridge accepts events and requests about a case only from it."""
SHARED_GROUP = "bridge"


class Leaf(StrEnum):
    """The last part of a topic: what kind of message travels there."""

    STATUS = "status"
    EVENTS = "events"
    TELEMETRY = "telemetry"
    POSITION = "position"
    REQ = "req"
    CMD_RESULT = "cmd/result"
    ACK = "ack"
    RESP = "resp"
    CMD = "cmd"
    NOTIFY = "notify"


UNIT_PUBLISHES = (Leaf.STATUS, Leaf.EVENTS, Leaf.TELEMETRY, Leaf.POSITION, Leaf.REQ, Leaf.CMD_RESULT)
UNIT_SUBSCRIBES = (Leaf.ACK, Leaf.RESP, Leaf.CMD, Leaf.NOTIFY)
EXAM_VEHICLE_ONLY = frozenset({Leaf.POSITION})
"""Leaves only an exam vehicle publishes: a lane's account has no right to them."""
QOS: dict[Leaf, int] = dict.fromkeys(Leaf, 1) | {Leaf.TELEMETRY: 0, Leaf.POSITION: 0}
RETAINED = frozenset({Leaf.STATUS, Leaf.ACK})


def topic(site: str, unit: str, leaf: Leaf | str) -> str:
    """The full topic of one unit's leaf, e.g. ``passlane/v1/site-1/lane-01/events``."""
    if not SITE_ID_RE.match(site):
        raise ValueError(f"bad site id {site!r}: lower-case letters, digits and '-', at most 32")
    if not UNIT_ID_RE.match(unit):
        raise ValueError(f"bad unit id {unit!r}: lower-case letters, digits and '-', at most 32")
    return f"{TOPIC_ROOT}/{site}/{unit}/{Leaf(leaf).value}"


def case_owner(case_id: str | None) -> str | None:
    """The unit a case id belongs to, or None when it is not a well-formed case id."""
    m = CASE_ID_RE.match(case_id or "")
    return m.group("unit") if m else None


def new_case_id(unit: str, day: str, serial: str) -> str:
    """``{unit}-{yymmdd}-{serial}``; raises ValueError for parts that would not parse back."""
    case_id = f"{unit}-{day}-{serial}"
    if case_owner(case_id) != unit:
        raise ValueError(f"bad case id parts: {unit!r}, {day!r}, {serial!r}")
    return case_id


def unused_case_id(unit: str, day: str, taken: Callable[[str], bool]) -> str:
    """A new ``{unit}-{yymmdd}-{6 hex}`` that ``taken`` does not know yet.

    With 24 random bits, two of a day's ids are the same on about 3% of days of 1,000 cases, and a clash
    would put a new vehicle's case on top of another one's journal (a 1,000-car soak hit one at car 497).
    """
    while True:
        case_id = new_case_id(unit, day, secrets.token_hex(3))
        if not taken(case_id):
            return case_id


def all_units_filter(leaf: Leaf | str, site: str = "+") -> str:
    """A subscription filter for one leaf of every unit (of one site, or all sites)."""
    return f"{TOPIC_ROOT}/{site}/+/{Leaf(leaf).value}"


def shared_filter(leaf: Leaf | str, group: str = SHARED_GROUP) -> str:
    """The bridge workers' shared subscription: the broker splits messages among the group."""
    return f"$share/{group}/{all_units_filter(leaf)}"


@functools.lru_cache(maxsize=4096)
def parse_topic(topic_name: str) -> tuple[str, str, Leaf]:
    """Split a topic into (site, unit, leaf); raises ValueError for anything outside the contract.

    Cached: a bridge sees the same few topics per unit on every message (a refused topic is never cached)."""
    prefix = TOPIC_ROOT + "/"
    if not topic_name.startswith(prefix):
        raise ValueError(f"topic {topic_name!r} is not under {TOPIC_ROOT}/")
    parts = topic_name[len(prefix) :].split("/", 2)
    if len(parts) != 3:
        raise ValueError(f"topic {topic_name!r} lacks site/unit/leaf")
    site, unit, leaf = parts
    if not SITE_ID_RE.match(site) or not UNIT_ID_RE.match(unit):
        raise ValueError(f"topic {topic_name!r} has a malformed site or unit id")
    try:
        return site, unit, Leaf(leaf)
    except ValueError:
        raise ValueError(f"topic {topic_name!r} has unknown leaf {leaf!r}") from None


class Payload(BaseModel):
    """Base of every MQTT payload: strict, versioned, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal[1] = 1

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        """Parse a payload; raises PayloadError with a reason a dead-letter table can keep."""
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise PayloadError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
            raise PayloadError(f"{cls.__name__}: {where}: {first.get('msg')}") from None


class PayloadError(ValueError):
    """A payload that is malformed, oversize or violates its schema."""


# ---------------------------------------------------------------- status, ack, telemetry


class UnitState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"  # the Last Will: the unit vanished without saying goodbye
    STOPPED = "stopped"  # clean shutdown


class UnitStatus(Payload):
    unit: str = Field(max_length=32)
    state: UnitState
    ts: float = Field(allow_inf_nan=False, description="unix time, seconds")
    role: Literal["lane", "exam-vehicle", "bridge"] = "lane"
    software: str = Field("", max_length=64)


class Ack(Payload):
    """The bridge's watermark for one unit: every seq <= acked_seq is durably stored."""

    unit: str = Field(max_length=32)
    acked_seq: int = Field(ge=0, le=MAX_SEQ)
    ts: float = Field(allow_inf_nan=False)


class BoardHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=32)
    online: bool
    frames_tx: int = 0
    frames_rx: int = 0
    crc_errors: int = 0
    retransmits: int = 0
    timeouts: int = 0
    reconnects: int = 0
    rtt_ms_p50: float | None = None
    rtt_ms_p99: float | None = None


class Telemetry(Payload):
    """Health of one unit, every N seconds. Low value: may be dropped when offline."""

    unit: str = Field(max_length=32)
    ts: float = Field(allow_inf_nan=False)
    cpu_temp_c: float | None = None
    load_1m: float
    mem_used_pct: float
    disk_used_pct: float
    outbox_depth: int = Field(ge=0)
    outbox_alarm: bool = False
    telemetry_dropped: int = Field(0, ge=0, description="telemetry messages dropped while offline")
    boards: list[BoardHealth] = Field([], max_length=16)
    camera_fps: float | None = None
    stage: str | None = Field(None, max_length=64, description="current case stage per station, for the dashboard")
    stations: dict[str, Any] = {}
    clock_synced: bool | None = Field(
        None, description="the unit's clock is synchronised (NTP or GNSS); no case or exam starts until it is"
    )
    disk_full: bool = Field(False, description="too little free space: the unit takes no new case or exam")


# ---------------------------------------------------------------- an exam vehicle's live position


FixQualityName = Literal["invalid", "gps", "dgps", "rtk_float", "rtk_fixed", "dead_reckoning"]


class PositionReport(Payload):
    """Where an exam car is now, for the live map: QoS 0 at the car's `position_hz`, never journaled or stored.

    The exam's uploaded track is the record; a dropped position only makes the map a moment late.
    """

    unit: str = Field(max_length=32)
    t: float = Field(
        ge=0, le=1e11, allow_inf_nan=False, description="the epoch's time on the unit's judging time base, unix seconds"
    )
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="WGS-84 degrees")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="WGS-84 degrees")
    e: float = Field(allow_inf_nan=False, description="course metres east of the survey origin")
    n: float = Field(allow_inf_nan=False, description="course metres north of the survey origin")
    heading_deg: float | None = Field(None, ge=0, lt=360, allow_inf_nan=False, description="null when unknown")
    speed_mps: float | None = Field(None, ge=0, allow_inf_nan=False, description="ground speed")
    quality: FixQualityName
    exam_id: str | None = Field(None, max_length=64, description="the exam under way, null when none")
    item: str | None = Field(None, max_length=64, description="its current item, null between items")
    score: int | None = Field(None, ge=0, le=100, description="its score so far")


# ---------------------------------------------------------------- business events


class EventKind(StrEnum):
    """Every business event a unit records. One name per concept, everywhere."""

    CASE_OPENED = "case.opened"
    CASE_PARTNER_RECORDS = "case.partner_records"
    CASE_ADMITTED = "case.admitted"
    CASE_VIN_READ = "case.vin_read"
    CASE_VIN_CONFIRMED = "case.vin_confirmed"
    CASE_INSPECTION_ITEM = "case.inspection_item"
    CASE_PHOTO = "case.photo"
    CASE_INSPECTED = "case.inspected"
    CASE_PLATE_RESERVED = "case.plate_reserved"
    CASE_PAID = "case.paid"
    CASE_PLATES_ISSUED = "case.plates_issued"
    CASE_PLATES_FITTED = "case.plates_fitted"
    CASE_EXIT_OPENED = "case.exit_opened"
    CASE_CLOSED = "case.closed"
    CASE_REJECTED = "case.rejected"
    CASE_ABORTED = "case.aborted"
    CASE_HELD = "case.held"
    CASE_RESUMED = "case.resumed"
    BARRIER_ACTUATED = "barrier.actuated"
    DEVICE_FAULT = "device.fault"
    DEVICE_RECOVERED = "device.recovered"
    COMMAND_EXECUTED = "command.executed"
    INSPECTOR_SIGNED_IN = "inspector.signed_in"
    INSPECTOR_SIGN_IN_FAILED = "inspector.sign_in_failed"
    EXAM_STARTED = "exam.started"
    EXAM_ITEM_STARTED = "exam.item_started"
    EXAM_ITEM_ENDED = "exam.item_ended"
    EXAM_DEDUCTION = "exam.deduction"
    EXAM_RESULT = "exam.result"
    EXAM_INVALID = "exam.invalid"
    EXAM_INTERRUPTED = "exam.interrupted"
    EXAM_TRACK_CHUNK = "exam.track_chunk"
    EVENT_REFUSED = "event.refused"
    """Written by the bridge, never by a unit: the place of a (unit, seq) whose message it could
    not accept (oversize, malformed). Its dead letter keeps the content; the watermark moves past it."""


class EventEnvelope(Payload):
    """One business event from a unit's durable outbox.

    ``seq`` is per unit, starts at 1 and has no gaps: the bridge stores
    idempotently by (unit, seq) and acknowledges the highest contiguous seq.
    ``prev`` is the :func:`event_hash` of the unit's previous event (seq - 1),
    so a unit's events form a chain: an event forged or altered by anyone
    else breaks it, and the bridge sees that on ingest and in ``audit verify``.
    """

    unit: str = Field(max_length=32)
    seq: int = Field(ge=1, le=MAX_SEQ, strict=True)
    ts: float = Field(ge=0, le=1e11, allow_inf_nan=False, description="unix time of the state change, seconds")
    kind: EventKind
    case_id: str | None = Field(None, max_length=64)
    station: str | None = Field(None, max_length=32)
    actor: str | None = Field(None, max_length=64, description="inspector id or 'system'")
    data: dict[str, Any] = {}
    prev: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="event_hash of the unit's previous event; the genesis hash for seq 1",
    )

    @field_validator("data")
    @classmethod
    def _finite_numbers(cls, data: dict[str, Any]) -> dict[str, Any]:
        """NaN and infinities are not JSON: they would be stored as text and hash differently on each side."""
        if _has_non_finite(data):
            raise ValueError("data holds NaN or an infinite number")
        return data


BATCH_MAX_EVENTS = 100
"""Events one ``events`` message carries at most (a batch); with MAX_PAYLOAD_BYTES the other bound."""
_BATCH_HEAD = b'{"v":1,"unit":"%s","events":['


def pack_events(unit: str, payloads: list[bytes], max_bytes: int = MAX_PAYLOAD_BYTES) -> list[list[int]]:
    """How consecutive journaled events (their envelope bytes, in seq order) go out: the index ranges of the
    messages, each one event (sent as its envelope) or a batch of up to BATCH_MAX_EVENTS within `max_bytes`.

    A batch amortises the per-message cost of MQTT (a PUBLISH and a PUBACK, the client's parsing) over its events:
    a unit catching up after an outage, or a busy one, sends tens of events per message. The bridge stores each
    event of a batch as if it had come alone and acknowledges the message once all of them are stored."""
    overhead = len(_BATCH_HEAD % unit.encode()) + 2
    groups: list[list[int]] = []
    size = 0
    for i, raw in enumerate(payloads):
        if groups and len(groups[-1]) < BATCH_MAX_EVENTS and size + 1 + len(raw) <= max_bytes:
            groups[-1].append(i)
            size += 1 + len(raw)
        else:
            groups.append([i])
            size = overhead + len(raw)
    return groups


def batch_bytes(unit: str, payloads: list[bytes]) -> bytes:
    """One ``events`` message for these envelopes: the envelope itself for one, else an EventBatch."""
    if len(payloads) == 1:
        return payloads[0]
    return _BATCH_HEAD % unit.encode() + b",".join(payloads) + b"]}"


class EventBatch(Payload):
    """Several consecutive events of one unit in one ``events`` message (see `pack_events`)."""

    unit: str = Field(max_length=32)
    events: list[dict[str, Any]] = Field(min_length=2, max_length=BATCH_MAX_EVENTS)


def split_events(raw: bytes) -> list[dict[str, Any]] | None:
    """The events of an ``events`` message that is a batch, each as parsed JSON (validated one by one by the
    bridge, so one bad event is refused alone); None when the message is a single envelope.

    Raises PayloadError for a batch that is malformed as a whole (the message is then one dead letter)."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    if b'"events"' not in raw:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PayloadError("EventBatch: not JSON") from None
    if not isinstance(obj, dict) or "events" not in obj:
        return None  # an envelope whose data merely mentions "events": parsed as one
    try:
        batch = EventBatch.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise PayloadError(f"EventBatch: {where}: {first.get('msg')}") from None
    return batch.events


CASE_KINDS = frozenset(k for k in EventKind if k.value.startswith("case."))


def is_case_event(kind: EventKind) -> bool:
    """A registration case's event (``case.*``): the ones the bridge folds into its case view. An exam's events
    carry the exam id in ``case_id`` (exam ids have the same form and the same owner rule) but are not cases."""
    return kind in CASE_KINDS


_FINITE_LEAVES = frozenset({str, int, bool, type(None)})  # exact types: the common values skip the other checks


def _has_non_finite(value: Any) -> bool:
    """Whether a float anywhere in parsed JSON is NaN or infinite (every event's data passes here: kept cheap)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple)):
        return False
    for v in value:
        if type(v) not in _FINITE_LEAVES and _has_non_finite(v):
            return True
    return False


def canonical_json(value: Any) -> bytes:
    """One byte form of a JSON value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def event_hash(ev: EventEnvelope, data_json: bytes | None = None) -> str:
    """SHA-256 (hex) of an event's canonical form, ``prev`` included: the link its successor carries.

    Computed from the fields, not the wire bytes, so the bridge can recompute it from what it
    stored. The unit computes it from the envelope as the bridge will parse it (edge/journal.py).
    `data_json`: ``canonical_json(ev.data)`` when the caller has it already (the bridge stores it);
    the bytes hashed are the same either way (a JSON array is its items' encodings joined by commas).
    """
    head = [ev.v, ev.unit, ev.seq, ev.ts, ev.kind.value, ev.case_id, ev.station, ev.actor]
    if data_json is None:
        return hashlib.sha256(canonical_json([*head, ev.data, ev.prev])).hexdigest()
    return hashlib.sha256(
        canonical_json(head)[:-1] + b"," + data_json + b"," + canonical_json(ev.prev) + b"]"
    ).hexdigest()


# ---------------------------------------------------------------- plate kinds


class PlateKind(StrEnum):
    """The kind of plate a vehicle gets (GA 36-2018), one name everywhere: requests, events, the issuer, the tablet."""

    ORDINARY = "ordinary"  # small car: blue, authority + 5 characters
    NEW_ENERGY = "new-energy"  # small new-energy car: green, authority + 6 characters

    @property
    def colour(self) -> str:
        """The plate's colour, as the plate issuer's blanks are sorted."""
        return "green" if self is PlateKind.NEW_ENERGY else "blue"


BATTERY_FUELS = frozenset({"bev", "ev", "electric", "battery-electric", "纯电动"})
"""Fuel types (lower case, as certificates spell them) of battery-electric vehicles: new-energy numbers start with D."""
NEW_ENERGY_FUELS = BATTERY_FUELS | {
    "phev",
    "plug-in-hybrid",
    "插电式混合动力",
    "erev",
    "fcev",
    "fuel-cell",
    "燃料电池",
    "new-energy",
}
"""Every fuel type that makes a vehicle new-energy (green plate)."""


def plate_kind_for_fuel(fuel_type: str | None) -> PlateKind:
    """The plate kind a certificate's fuel type calls for."""
    return PlateKind.NEW_ENERGY if (fuel_type or "").strip().lower() in NEW_ENERGY_FUELS else PlateKind.ORDINARY


# ---------------------------------------------------------------- request / response


class RequestKind(StrEnum):
    PARTNER_LOOKUP = "partner.lookup"  # body: {id_number | booking_number, vin?}
    PLATE_OPTIONS = "plate.options"  # body: {case_id, authority, plate_kind, count}
    PLATE_RESERVE = "plate.reserve"  # body: {case_id, authority, number, plate_kind}
    PLATE_RELEASE = "plate.release"  # body: {case_id, number}
    PAYMENT_START = "payment.start"  # body: {case_id, items}
    CASE_STATE = "case.state"  # body: {case_id}: what the cloud knows (paid? plate?)


class Request(Payload):
    unit: str = Field(max_length=32)
    kind: RequestKind
    case_id: str | None = Field(None, max_length=64)
    body: dict[str, Any] = {}
    ts: float = Field(allow_inf_nan=False)
    expires_at: float | None = Field(None, description="the bridge drops a request it sees after this time")


class Response(Payload):
    kind: RequestKind
    ok: bool
    error: str | None = Field(None, max_length=64, description="machine-readable reason when ok is false")
    detail: str | None = Field(None, max_length=2000)
    body: dict[str, Any] = {}


# ---------------------------------------------------------------- commands and notifications


class CommandName(StrEnum):
    OPEN_BARRIER = "open_barrier"  # args: {barrier: entry|exit, reason}
    RELOAD_CONFIG = "reload_config"
    SEND_DIAGNOSTICS = "send_diagnostics"
    START_EXAM = "start_exam"  # exam vehicle; args: {candidate, exam_id?}
    END_EXAM = "end_exam"  # exam vehicle; args: {exam_id}: the examiner ends the test (the judge gives its result)


class RemoteCommand(Payload):
    request_id: str = Field(min_length=8, max_length=64)
    command: CommandName
    args: dict[str, Any] = {}
    issued_by: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=500)
    issued_at: float = Field(allow_inf_nan=False)
    expires_at: float = Field(allow_inf_nan=False)


class CommandStatus(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    EXPIRED = "expired"
    FAILED = "failed"


class CommandResult(Payload):
    unit: str = Field(max_length=32)
    request_id: str = Field(max_length=64)
    command: CommandName | str = Field(max_length=64)
    status: CommandStatus
    detail: str = Field("", max_length=2000)
    ts: float = Field(allow_inf_nan=False)
    data: dict[str, Any] = {}


class NotificationKind(StrEnum):
    PAYMENT_CONFIRMED = "payment.confirmed"  # data: {payment_id, amount_cents}
    RESERVATION_EXPIRED = "plate.reservation_expired"  # data: {number}


class Notification(Payload):
    kind: NotificationKind
    case_id: str = Field(max_length=64)
    data: dict[str, Any] = {}
    ts: float = Field(allow_inf_nan=False)


def decode(leaf: Leaf, raw: bytes) -> Payload:
    """Parse the payload that belongs on ``leaf``."""
    model = PAYLOAD_MODELS[leaf]
    return model.from_bytes(raw)


PAYLOAD_MODELS: dict[Leaf, type[Payload]] = {
    Leaf.STATUS: UnitStatus,
    Leaf.EVENTS: EventEnvelope,
    Leaf.TELEMETRY: Telemetry,
    Leaf.POSITION: PositionReport,
    Leaf.REQ: Request,
    Leaf.CMD_RESULT: CommandResult,
    Leaf.ACK: Ack,
    Leaf.RESP: Response,
    Leaf.CMD: RemoteCommand,
    Leaf.NOTIFY: Notification,
}
