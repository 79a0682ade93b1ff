"""The MQTT contract between PassLane units (lanes, exam vehicles) and the cloud bridge.

Written once, here; both sides import it and `docs/mqtt.md` is checked against
it by a test. Every topic lives under ``passlane/v1/{site}/{unit}/``:

=================  =========  =====  ========  ==========================================
leaf               direction  QoS    retained  payload model
=================  =========  =====  ========  ==========================================
status             unit->     1      yes       UnitStatus (Last Will: state "offline")
events             unit->     1      no        EventEnvelope (durable outbox, per-unit seq)
telemetry          unit->     0      no        Telemetry (may be dropped when offline)
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

import json
import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

CONTRACT_VERSION = 1
TOPIC_ROOT = "passlane/v1"
MAX_PAYLOAD_BYTES = 256 * 1024
UNIT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
SITE_ID_RE = UNIT_ID_RE
SHARED_GROUP = "bridge"


class Leaf(StrEnum):
    """The last part of a topic: what kind of message travels there."""

    STATUS = "status"
    EVENTS = "events"
    TELEMETRY = "telemetry"
    REQ = "req"
    CMD_RESULT = "cmd/result"
    ACK = "ack"
    RESP = "resp"
    CMD = "cmd"
    NOTIFY = "notify"


UNIT_PUBLISHES = (Leaf.STATUS, Leaf.EVENTS, Leaf.TELEMETRY, Leaf.REQ, Leaf.CMD_RESULT)
UNIT_SUBSCRIBES = (Leaf.ACK, Leaf.RESP, Leaf.CMD, Leaf.NOTIFY)
QOS: dict[Leaf, int] = {leaf: 1 for leaf in Leaf} | {Leaf.TELEMETRY: 0}
RETAINED = frozenset({Leaf.STATUS, Leaf.ACK})


def topic(site: str, unit: str, leaf: Leaf | str) -> str:
    """The full topic of one unit's leaf, e.g. ``passlane/v1/site-1/lane-01/events``."""
    if not SITE_ID_RE.match(site):
        raise ValueError(f"bad site id {site!r}: lower-case letters, digits and '-', at most 32")
    if not UNIT_ID_RE.match(unit):
        raise ValueError(f"bad unit id {unit!r}: lower-case letters, digits and '-', at most 32")
    return f"{TOPIC_ROOT}/{site}/{unit}/{Leaf(leaf).value}"


def all_units_filter(leaf: Leaf | str, site: str = "+") -> str:
    """A subscription filter for one leaf of every unit (of one site, or all sites)."""
    return f"{TOPIC_ROOT}/{site}/+/{Leaf(leaf).value}"


def shared_filter(leaf: Leaf | str, group: str = SHARED_GROUP) -> str:
    """The bridge workers' shared subscription: the broker splits messages among the group."""
    return f"$share/{group}/{all_units_filter(leaf)}"


def parse_topic(topic_name: str) -> tuple[str, str, Leaf]:
    """Split a topic into (site, unit, leaf); raises ValueError for anything outside the contract."""
    prefix = TOPIC_ROOT + "/"
    if not topic_name.startswith(prefix):
        raise ValueError(f"topic {topic_name!r} is not under {TOPIC_ROOT}/")
    parts = topic_name[len(prefix):].split("/", 2)
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
    def from_bytes(cls, raw: bytes) -> "Payload":
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
    unit: str
    state: UnitState
    ts: float = Field(description="unix time, seconds")
    role: Literal["lane", "exam-vehicle", "bridge"] = "lane"
    software: str = ""


class Ack(Payload):
    """The bridge's watermark for one unit: every seq <= acked_seq is durably stored."""

    unit: str
    acked_seq: int = Field(ge=0)
    ts: float


class BoardHealth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
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

    unit: str
    ts: float
    cpu_temp_c: float | None = None
    load_1m: float
    mem_used_pct: float
    disk_used_pct: float
    outbox_depth: int = Field(ge=0)
    outbox_alarm: bool = False
    telemetry_dropped: int = Field(0, ge=0, description="telemetry messages dropped while offline")
    boards: list[BoardHealth] = []
    camera_fps: float | None = None
    stage: str | None = Field(None, description="current case stage per station, for the dashboard")
    stations: dict[str, Any] = {}


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


class EventEnvelope(Payload):
    """One business event from a unit's durable outbox.

    ``seq`` is per unit, starts at 1 and has no gaps: the bridge stores
    idempotently by (unit, seq) and acknowledges the highest contiguous seq.
    """

    unit: str
    seq: int = Field(ge=1)
    ts: float = Field(description="unix time of the state change, seconds")
    kind: EventKind
    case_id: str | None = None
    station: str | None = None
    actor: str | None = Field(None, description="inspector id or 'system'")
    data: dict[str, Any] = {}


# ---------------------------------------------------------------- request / response


class RequestKind(StrEnum):
    PARTNER_LOOKUP = "partner.lookup"  # body: {id_number | booking_number, vin?}
    PLATE_OPTIONS = "plate.options"  # body: {case_id, authority, plate_kind, count}
    PLATE_RESERVE = "plate.reserve"  # body: {case_id, authority, number, plate_kind}
    PLATE_RELEASE = "plate.release"  # body: {case_id, number}
    PAYMENT_START = "payment.start"  # body: {case_id, items}
    CASE_STATE = "case.state"  # body: {case_id}: what the cloud knows (paid? plate?)


class Request(Payload):
    unit: str
    kind: RequestKind
    case_id: str | None = None
    body: dict[str, Any] = {}
    ts: float
    expires_at: float | None = Field(None, description="the bridge drops a request it sees after this time")


class Response(Payload):
    kind: RequestKind
    ok: bool
    error: str | None = Field(None, description="machine-readable reason when ok is false")
    detail: str | None = None
    body: dict[str, Any] = {}


# ---------------------------------------------------------------- commands and notifications


class CommandName(StrEnum):
    OPEN_BARRIER = "open_barrier"  # args: {barrier: entry|exit, reason}
    RELOAD_CONFIG = "reload_config"
    SEND_DIAGNOSTICS = "send_diagnostics"


class RemoteCommand(Payload):
    request_id: str = Field(min_length=8, max_length=64)
    command: CommandName
    args: dict[str, Any] = {}
    issued_by: str
    reason: str = Field(min_length=1)
    issued_at: float
    expires_at: float


class CommandStatus(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    EXPIRED = "expired"
    FAILED = "failed"


class CommandResult(Payload):
    unit: str
    request_id: str
    command: CommandName | str
    status: CommandStatus
    detail: str = ""
    ts: float
    data: dict[str, Any] = {}


class NotificationKind(StrEnum):
    PAYMENT_CONFIRMED = "payment.confirmed"  # data: {payment_id, amount_cents}
    RESERVATION_EXPIRED = "plate.reservation_expired"  # data: {number}


class Notification(Payload):
    kind: NotificationKind
    case_id: str
    data: dict[str, Any] = {}
    ts: float


def decode(leaf: Leaf, raw: bytes) -> Payload:
    """Parse the payload that belongs on ``leaf``."""
    model = PAYLOAD_MODELS[leaf]
    return model.from_bytes(raw)


PAYLOAD_MODELS: dict[Leaf, type[Payload]] = {
    Leaf.STATUS: UnitStatus,
    Leaf.EVENTS: EventEnvelope,
    Leaf.TELEMETRY: Telemetry,
    Leaf.REQ: Request,
    Leaf.CMD_RESULT: CommandResult,
    Leaf.ACK: Ack,
    Leaf.RESP: Response,
    Leaf.CMD: RemoteCommand,
    Leaf.NOTIFY: Notification,
}


def json_bytes(obj: Any) -> bytes:
    """Compact JSON for correlation data and the like."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
