"""The case view: what the bridge knows of one case, folded from its events. Pure.

`project` folds one event into a case's `CaseFacts`; the store keeps the
result as the `cases` row, and the risk rules (`cloud_bridge.rules`) judge an
event against the facts as they were before it. The readers of event data
here (`issued_number`, `vin_confirmation`) are shared by the fold and the
rules, so both read a lane's event the same way.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from edge.contract import EventEnvelope, EventKind


@dataclass
class CaseFacts:
    """What the bridge knows about one case, folded from its events (order-insensitive where it can be)."""

    case_id: str
    unit: str = ""
    site: str = ""
    opened_at: float | None = None
    admitted_at: float | None = None
    first_item_at: float | None = None
    inspected_at: float | None = None
    closed_at: float | None = None
    outcome: str | None = None  # registered | rejected | aborted
    stage: str | None = None
    stage_since: float | None = None
    vin: str | None = None
    cert_vin: str | None = None
    plate: str | None = None
    owner_name: str | None = None
    id_number: str | None = None
    paid: bool = False
    vin_image: str | None = None
    events: int = 0
    stage_times: dict[str, float] = field(default_factory=dict)  # stage -> first ts

    def as_row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in CASE_COLUMNS}

    def snapshot(self) -> CaseFacts:
        """A copy that later folds do not change (the facts as they were before an event, for the rules).

        (A shallow copy with its own stage_times, the only mutable field: `dataclasses.replace` re-ran __init__ and
        was a tenth of the bridge's ingest CPU; `copy.copy` still half of that.)"""
        twin = object.__new__(CaseFacts)
        twin.__dict__.update(self.__dict__)
        twin.stage_times = dict(self.stage_times)
        return twin


CASE_COLUMNS = (
    "case_id",
    "unit",
    "site",
    "opened_at",
    "admitted_at",
    "first_item_at",
    "inspected_at",
    "closed_at",
    "outcome",
    "stage",
    "stage_since",
    "vin",
    "cert_vin",
    "plate",
    "owner_name",
    "id_number",
    "paid",
    "vin_image",
    "events",
)

OUTCOMES = ("registered", "rejected", "aborted")
TERMINAL = (EventKind.CASE_CLOSED, EventKind.CASE_REJECTED, EventKind.CASE_ABORTED)


def terminal_outcome(kind: EventKind, data: dict[str, Any], known: str | None) -> str:
    """The case outcome after a terminal event, whatever order they arrive in.

    ``case.rejected`` and ``case.aborted`` name the outcome; ``case.closed`` only ends the
    case (the lane writes it after a rejection too) and carries the outcome in ``data``.
    A rejection or abort is never turned back into "registered".
    """
    if kind == EventKind.CASE_REJECTED:
        return "rejected"
    if kind == EventKind.CASE_ABORTED:
        return "aborted"
    if known in ("rejected", "aborted"):
        return known
    said = data.get("outcome")
    return said if said in OUTCOMES else "registered"


def _first(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def data_str(x: Any) -> str | None:
    """A non-empty string from event data, or None (lanes may send anything)."""
    return x if isinstance(x, str) and x else None


def data_float(x: Any) -> float | None:
    try:
        return None if x is None or isinstance(x, bool) else float(x)
    except (TypeError, ValueError):
        return None


def _d(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def project(facts: CaseFacts, ev: EventEnvelope, site: str) -> CaseFacts:
    """Fold one event into its case's facts (mutates and returns `facts`)."""
    d = ev.data
    facts.unit = facts.unit or ev.unit
    facts.site = facts.site or site
    facts.events += 1
    k = ev.kind
    if facts.stage_since is None or ev.ts >= facts.stage_since:
        facts.stage, facts.stage_since = k.value, ev.ts
    facts.stage_times.setdefault(k.value, ev.ts)
    if k == EventKind.CASE_OPENED:
        facts.opened_at = _first(facts.opened_at, ev.ts)
        facts.owner_name = data_str(d.get("owner_name")) or facts.owner_name
        facts.id_number = data_str(d.get("id_number")) or facts.id_number
    elif k == EventKind.CASE_PARTNER_RECORDS:
        records = _d(d.get("records")) or d  # the lane keeps {"records": {"owner", "vehicle"}}
        vehicle = _d(records.get("vehicle")) or records
        cert = _d(vehicle.get("certificate"))
        facts.cert_vin = data_str(cert.get("vin")) or data_str(vehicle.get("vin")) or facts.cert_vin
        owner = _d(records.get("owner"))
        facts.owner_name = data_str(owner.get("name")) or facts.owner_name
        facts.id_number = data_str(owner.get("id_number")) or facts.id_number
    elif k == EventKind.CASE_ADMITTED:
        facts.admitted_at = _first(facts.admitted_at, ev.ts)
    elif k == EventKind.CASE_INSPECTION_ITEM:
        facts.first_item_at = _first(facts.first_item_at, ev.ts)
    elif k in (EventKind.CASE_VIN_READ, EventKind.CASE_VIN_CONFIRMED):
        if k == EventKind.CASE_VIN_CONFIRMED or not facts.vin:
            facts.vin = data_str(d.get("vin")) or facts.vin
        facts.cert_vin = facts.cert_vin or data_str(d.get("certificate_vin"))
        img = (
            data_str(d.get("image"))
            or data_str(d.get("image_b64"))
            or data_str(d.get("image_url"))
            or data_str(d.get("photo"))
        )
        if img:
            facts.vin_image = img
    elif k == EventKind.CASE_PHOTO:
        img = data_str(d.get("image")) or data_str(d.get("image_b64")) or data_str(d.get("image_url"))
        if str(d.get("code", "")) == "0113" and img:
            facts.vin_image = img
    elif k == EventKind.CASE_INSPECTED:
        facts.inspected_at = _first(facts.inspected_at, ev.ts)
    elif k == EventKind.CASE_PLATE_RESERVED:
        facts.plate = data_str(d.get("number")) or facts.plate
    elif k == EventKind.CASE_PAID:
        facts.paid = True
    elif k == EventKind.CASE_PLATES_ISSUED:
        facts.plate = issued_number(d) or facts.plate
    elif k in TERMINAL:
        facts.closed_at = _first(facts.closed_at, ev.ts)
        facts.outcome = terminal_outcome(k, d, facts.outcome)
    return facts


def issued_number(d: dict[str, Any]) -> str | None:
    """The plate number of a case.plates_issued event (`number`, or the lane controller's `plate`)."""
    n = d.get("number") or d.get("plate")
    return n if isinstance(n, str) and n else None


class VinConfirmation(NamedTuple):
    """What a case.vin_confirmed event says: the confirmed VIN, what the reader read, whether the inspector corrected it."""

    vin: str | None
    read: str | None
    corrected: bool


def vin_confirmation(d: dict[str, Any]) -> VinConfirmation:
    """The confirmed VIN, the reader's VIN and whether an inspector corrected or overrode the reader (lanes spell these several ways)."""
    vin = data_str(d.get("vin"))
    read = d.get("read_vin") or d.get("read") or d.get("ocr_vin") or d.get("vin_read")
    read = data_str(read.get("vin")) if isinstance(read, dict) else data_str(read)
    # a manual confirmation after the reader read nothing is not a correction; one that changes what it read is
    corrected = bool(d.get("corrected") or d.get("override") or d.get("overridden") or (read and vin and read != vin))
    return VinConfirmation(vin, read, corrected)


def is_person(actor: str | None) -> bool:
    """Whether an event's actor is a person (an inspector), not the lane's own software."""
    return bool(actor) and actor != "system"


# ------------------------------------------------------------------ what the ops case pages show (pure)
def mask_id_number(s: str) -> str:
    """An ID number as ops see it without the personal-data permission: the first 4 and last 4 characters
    (3201**********0386); the region code and check digits stay, so cases can be told apart and matched by eye."""
    return s[:4] + "*" * (len(s) - 8) + s[-4:] if len(s) > 8 else "*" * len(s)


def mask_phone(s: str) -> str:
    """A phone number reduced to its carrier prefix and last 4 digits (134****2064)."""
    return s[:3] + "*" * (len(s) - 7) + s[-4:] if len(s) > 7 else "*" * len(s)


_DISTRICT = re.compile(
    r"^((?:[^省]{2,7}省|[^区]{2,10}自治区)?(?:[^市州盟]{1,9}(?:市|自治州|州|盟|地区))?[^区县旗市]{1,9}(?:区|县|旗|市))"
)


def reduce_address(s: str) -> str:
    """An address cut after its district (江苏省南京市玄武区 ***): enough to know the area, not to find the house."""
    m = _DISTRICT.match(s)
    return f"{m.group(1)} ***" if m and len(m.group(1)) < len(s) else "***"


def mask_birth_date(s: str) -> str:
    """A birth date reduced to its year (it is also digits 7-14 of the ID number, which the mask hides)."""
    return s[:4] + "-**-**" if len(s) >= 4 and s[:4].isdigit() else "****"


def mask_name(s: str) -> str:
    """A person's name as its first character (usually the surname) and a star per further character (张*)."""
    return s[:1] + "*" * (len(s) - 1)


PERSONAL_FIELDS: dict[str, Callable[[str], str]] = {
    "id_number": mask_id_number,
    "owner_id_number": mask_id_number,
    "phone": mask_phone,
    "address": reduce_address,
    "birth_date": mask_birth_date,
    "owner_name": mask_name,
}
"""Keys that hold an owner's personal data wherever they appear (case rows, event data, partner records)."""


def mask_personal(value: Any, parent: str = "") -> Any:
    """A copy of `value` (a case, a timeline, any event data) with every personal field masked.

    Walks the whole tree by key, so a field a lane nests anywhere (``records.owner.phone``,
    ``records.vehicle.owner_id_number``) is masked as well as the case row's own columns; an owner's
    ``name`` is personal only inside ``owner``."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            mask = PERSONAL_FIELDS.get(k) or (mask_name if k == "name" and parent == "owner" else None)
            if mask is not None and v is not None and not isinstance(v, (dict, list, bool)) and str(v):
                out[k] = mask(str(v))
            else:
                out[k] = mask_personal(v, k)
        return out
    if isinstance(value, list):
        return [mask_personal(v, parent) for v in value]
    return value


STAGE_MILESTONES: tuple[tuple[str, ...], ...] = (
    (EventKind.CASE_OPENED,),
    (EventKind.CASE_PARTNER_RECORDS,),
    (EventKind.CASE_ADMITTED,),
    (EventKind.CASE_VIN_CONFIRMED, EventKind.CASE_VIN_READ),
    (EventKind.CASE_INSPECTED,),
    (EventKind.CASE_PLATE_RESERVED,),
    (EventKind.CASE_PAID,),
    (EventKind.CASE_PLATES_ISSUED,),
    (EventKind.CASE_PLATES_FITTED,),
    (EventKind.CASE_REJECTED,),
    (EventKind.CASE_ABORTED,),
    (EventKind.CASE_EXIT_OPENED,),
    (EventKind.CASE_CLOSED,),
)
"""The steps a case's time is cut at, in their usual order; a step may name fallbacks (a VIN the reader read but
nobody confirmed ends the VIN step at the read)."""


@dataclass(frozen=True)
class StageBar:
    """One stage of a case: from the step before to the step `kind` (None: still running), in unix seconds."""

    kind: str | None
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class StageChart:
    """A case's time cut into stages, and the periods it was on hold; `origin` is its first step."""

    origin: float
    bars: list[StageBar]
    holds: list[StageBar]

    @property
    def total(self) -> float:
        ends = [b.end for b in self.bars + self.holds]
        return max(ends) - self.origin if ends else 0.0


def _first_times(timeline: list[dict[str, Any]]) -> dict[str, float]:
    first: dict[str, float] = {}
    for e in timeline:
        ts = data_float(e.get("ts"))
        if ts is not None and isinstance(e.get("kind"), str):
            first[e["kind"]] = min(first.get(e["kind"], ts), ts)
    return first


def stage_chart(timeline: list[dict[str, Any]], now: float | None = None) -> StageChart | None:
    """The stages of a case from its stored events (any order): a bar from each step to the next that the events
    give, one more up to `now` while the case is open, and the held periods (case.held to case.resumed or the end).
    None when the events give fewer than two points in time to measure between."""
    first = _first_times(timeline)
    steps: list[tuple[float, int, str]] = []
    for i, kinds in enumerate(STAGE_MILESTONES):
        kind = next((k for k in kinds if k in first), None)
        if kind is not None:
            steps.append((first[kind], i, kind))
    steps.sort()
    closed = any(k in first for k in TERMINAL)
    if not steps or (len(steps) < 2 and (closed or now is None)):
        return None
    bars = [StageBar(k, prev[0], ts) for prev, (ts, _, k) in itertools.pairwise(steps)]
    if not closed and now is not None and now > steps[-1][0]:
        bars.append(StageBar(None, steps[-1][0], now))
    end = bars[-1].end if bars else steps[-1][0]
    return StageChart(steps[0][0], bars, _holds(timeline, end))


def _holds(timeline: list[dict[str, Any]], end: float) -> list[StageBar]:
    """Each case.held to the next case.resumed (or `end`): the time a case waited for someone to act."""
    marks = sorted(
        (float(e["ts"]), e["kind"])
        for e in timeline
        if e.get("kind") in (EventKind.CASE_HELD, EventKind.CASE_RESUMED) and data_float(e.get("ts")) is not None
    )
    holds: list[StageBar] = []
    since: float | None = None
    for ts, kind in marks:
        if kind == EventKind.CASE_HELD and since is None:
            since = ts
        elif kind == EventKind.CASE_RESUMED and since is not None:
            holds.append(StageBar(EventKind.CASE_HELD, since, ts))
            since = None
    if since is not None:
        holds.append(StageBar(EventKind.CASE_HELD, since, max(since, end)))
    return holds


@dataclass(frozen=True)
class VinCell:
    """One position (1-based) of the VIN: what the reader read, what the certificate says, and whether the
    verification on the lane flagged it."""

    position: int
    read: str
    expected: str
    flagged: bool

    @property
    def differs(self) -> bool:
        return bool(self.read and self.expected) and self.read != self.expected


@dataclass(frozen=True)
class VinEvidence:
    """What the bridge knows of a case's VIN check: the read, the certificate's VIN, the confirmed VIN, who confirmed
    it, the reader's confidence and decision, and where the lane keeps the photo (the bridge is never sent its bytes
    unless the lane puts them in the event)."""

    read: str | None
    expected: str | None
    confirmed: str | None
    confirmed_by: str | None
    confirmed_actor: str | None
    reason: str | None
    confidence: float | None
    decision: str | None
    check_digit: str | None
    review_reason: str | None
    verification: str | None
    score: float | None
    photo: str | None
    photo_ref: str | None
    cells: list[VinCell]


def _last(timeline: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = [e for e in timeline if e.get("kind") == kind]
    return max(found, key=lambda e: (data_float(e.get("ts")) or 0.0, e.get("seq") or 0)) if found else None


def _photo_event(timeline: list[dict[str, Any]]) -> dict[str, Any]:
    """The data of the lane's VIN photo (case.photo code 0113), or {}."""
    photos = [e for e in timeline if e.get("kind") == EventKind.CASE_PHOTO and _d(e.get("data")).get("code") == "0113"]
    return _d(photos[-1].get("data")) if photos else {}


def vin_evidence(case: dict[str, Any]) -> VinEvidence | None:
    """The VIN check of a case from its row and timeline; None when no event says anything about its VIN."""
    timeline = case.get("timeline") or []
    read_ev, conf_ev = _last(timeline, EventKind.CASE_VIN_READ), _last(timeline, EventKind.CASE_VIN_CONFIRMED)
    if read_ev is None and conf_ev is None:
        return None
    rd, cd, photo = _d((read_ev or {}).get("data")), _d((conf_ev or {}).get("data")), _photo_event(timeline)
    ver = _d(rd.get("verification"))
    read = data_str(rd.get("vin")) or vin_confirmation(cd).read
    expected = data_str(rd.get("certificate_vin")) or data_str(ver.get("expected")) or data_str(case.get("cert_vin"))
    flagged = {int(p) for p in ver.get("differs_at") or [] if isinstance(p, int) and not isinstance(p, bool)}
    width = max(len(read or ""), len(expected or ""))
    cells = [
        VinCell(i + 1, (read or "")[i : i + 1], (expected or "")[i : i + 1], i + 1 in flagged) for i in range(width)
    ]
    images = [rd.get("image_b64"), rd.get("image"), cd.get("image"), photo.get("image"), case.get("vin_image")]
    refs = [rd.get("image"), photo.get("ref"), photo.get("image_url"), rd.get("image_url")]
    return VinEvidence(
        read=read,
        expected=expected,
        confirmed=data_str(cd.get("vin")),  # not the row's VIN: before a confirmation that is the reader's
        confirmed_by=data_str(cd.get("by")),
        confirmed_actor=data_str((conf_ev or {}).get("actor")),
        reason=data_str(cd.get("reason")),
        confidence=data_float(rd.get("confidence")),
        decision=data_str(rd.get("decision")),
        check_digit=data_str(rd.get("check_digit")),
        review_reason=data_str(rd.get("review_reason")),
        verification=data_str(ver.get("decision")) or data_str(_d(cd.get("verification")).get("decision")),
        score=data_float(ver.get("score")),
        photo=next((p for p in map(image_data_url, images) if p), None),
        photo_ref=next((r for r in map(data_str, refs) if r and not image_data_url(r)), None),
        cells=cells,
    )


def image_data_url(img: Any) -> str | None:
    """A browser-usable source for a VIN photo: a data: URL or bare base64 (JPEG or PNG). A lane-local path is not,
    and neither is a remote URL (the page's Content-Security-Policy loads images only from the bridge and data: URLs)."""
    if not isinstance(img, str) or not img:
        return None
    if img.startswith("data:image/"):
        return img
    if len(img) > 200 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", img):
        return ("data:image/png;base64," if img.startswith("iVBOR") else "data:image/jpeg;base64,") + img
    return None
