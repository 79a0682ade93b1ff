"""The case view: what the bridge knows of one case, folded from its events. Pure.

`project` folds one event into a case's `CaseFacts`; the store keeps the
result as the `cases` row, and the risk rules (`cloud_bridge.rules`) judge an
event against the facts as they were before it. The readers of event data
here (`issued_number`, `vin_confirmation`) are shared by the fold and the
rules, so both read a lane's event the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
        """A copy that later folds do not change (the facts as they were before an event, for the rules)."""
        return replace(self, stage_times=dict(self.stage_times))


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
    if facts.stage_since is None or ev.ts >= facts.stage_since:
        facts.stage, facts.stage_since = ev.kind.value, ev.ts
    facts.stage_times.setdefault(ev.kind.value, ev.ts)
    k = ev.kind
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
