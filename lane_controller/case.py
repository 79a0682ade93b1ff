"""The registration case: one vehicle's visit, entry to exit, as a pure state machine.

No I/O here. :func:`step` takes a case, one input (something a person, the
cloud or a device said) and the time as a number, and returns the new case,
the business events to journal and the actions the runtime must carry out;
an illegal input raises :class:`Refused` with a reason the tablet can show.
:func:`pending` says what a case is waiting for, so after a crash the runtime
resumes every open case from its journaled state alone.

Stages::

    opened -> records_fetched -> admitted -> vin_confirmed -> inspected
      -> plate_reserved -> paid -> plates_issued -> plates_fitted -> exit_open -> closed
    any stage before plates_issued --reject/abort--> leaving (in the lane) or closed (never entered)
    leaving -> exit_open -> closed            (a failed inspection leaves without plates)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from edge.contract import EventKind, PlateKind, plate_kind_for_fuel
from edge.plate_numbers import PlateError, PlateRules, validate_number
from vision.vin_read import VinRead

VIN_READ_EVENT_FIELDS = {
    "vin",
    "decision",
    "confidence",
    "check_digit",
    "image",
    "image_b64",
    "ms",
    "review_reason",
    "reshoot",
    "frames",
}
"""What a case.vin_read event carries of the read (the whole read stays in the case)."""
VERIFICATION_EVENT_FIELDS = {"expected", "decision", "score", "read", "differs_at", "thresholds"}
"""... and of its verification against the certificate's VIN, when there was one."""


class Stage(StrEnum):
    OPENED = "opened"
    RECORDS_FETCHED = "records_fetched"
    ADMITTED = "admitted"
    VIN_CONFIRMED = "vin_confirmed"
    INSPECTED = "inspected"
    PLATE_RESERVED = "plate_reserved"
    PAID = "paid"
    PLATES_ISSUED = "plates_issued"
    PLATES_FITTED = "plates_fitted"
    LEAVING = "leaving"
    EXIT_OPEN = "exit_open"
    CLOSED = "closed"


ORDER = list(Stage)
ItemResult = Literal["pass", "fail", "na"]
Barrier = Literal["entry", "exit"]


class Refused(Exception):
    """An input the case does not allow now; ``reason`` is shown to the inspector."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Case(BaseModel):
    """Everything the lane knows about one case; journaled whole with every event."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    case_id: str
    station: str
    opened_at: float
    stage: Stage = Stage.OPENED
    stage_at: float = 0.0
    id_number: str | None = None
    booking_number: str | None = None
    partner: dict[str, Any] | None = None
    record_problems: list[str] = []
    lookup_error: str | None = None
    entry_requested: bool = False
    vin_read: VinRead | None = None
    vin: str | None = None
    vin_reason: str | None = None
    items: dict[str, ItemResult] = {}
    photos: dict[str, str] = {}
    inspected_at: float | None = None
    inspection_ok: bool | None = None
    plate_options: list[str] = []
    plate_choice: str | None = None
    plate_composed: bool = False
    plate_error: str | None = None
    plate: str | None = None
    plate_expires_at: float | None = None
    payment: dict[str, Any] | None = None
    paid_at: float | None = None
    issue_job: str | None = None
    issued_at: float | None = None
    issue_error: str | None = None
    fitted_by: str | None = None
    outcome: Literal["registered", "rejected", "aborted"] | None = None
    reason: str | None = None
    hold: str | None = None
    closed_at: float | None = None

    # ------------------------------------------------------------ derived
    @property
    def is_open(self) -> bool:
        return self.stage != Stage.CLOSED

    @property
    def certificate_vin(self) -> str | None:
        cert = ((self.partner or {}).get("vehicle") or {}).get("certificate") or {}
        return cert.get("vin")

    @property
    def vehicle_choices(self) -> list[str]:
        """The VINs of the owner's pending vehicles when the ID card found several (the inspector says which is here)."""
        return [str(v.get("vin")) for v in (self.partner or {}).get("vehicles") or [] if v.get("vin")]

    @property
    def needs_vehicle_choice(self) -> bool:
        return bool(self.vehicle_choices) and not (self.partner or {}).get("vehicle")

    @property
    def vehicle_type(self) -> str:
        cert = ((self.partner or {}).get("vehicle") or {}).get("certificate") or {}
        return cert.get("vehicle_type") or "passenger_car"

    @property
    def new_energy(self) -> bool:
        cert = ((self.partner or {}).get("vehicle") or {}).get("certificate") or {}
        return bool(cert.get("new_energy"))

    @property
    def plate_kind(self) -> PlateKind:
        return PlateKind.NEW_ENERGY if self.new_energy else PlateKind.ORDINARY

    @property
    def vin_needs_review(self) -> bool:
        if self.vin_read is None or self.vin is not None:
            return False
        return not self.vin_read_confirms

    @property
    def vin_read_confirms(self) -> bool:
        """The read confirms the certificate's VIN without the inspector: the verifier matched that VIN
        in the image, or (no verification) the reader accepted exactly it."""
        read, cert = self.vin_read, self.certificate_vin
        if read is None or not cert:
            return False
        if read.verification is not None:
            return read.verification.decision == "match" and read.verification.expected == cert
        return read.decision == "accept" and read.vin == cert

    def age(self, now: float) -> float:
        return (self.closed_at or now) - self.opened_at

    def over_promise(self, now: float, promise_s: float) -> bool:
        return self.age(now) > promise_s

    def in_lane(self) -> bool:
        """The vehicle is (or may be) inside the lane: it must leave through the exit."""
        return self.entry_requested


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Open:
    case_id: str
    station: str
    id_number: str | None = None
    booking_number: str | None = None


@dataclass(frozen=True)
class PartnerRecords:
    records: dict[str, Any]


@dataclass(frozen=True)
class PartnerLookupFailed:
    error: str


@dataclass(frozen=True)
class ChooseVehicle:
    """The inspector says which of the owner's pending vehicles is the one at the lane (by its certificate VIN)."""

    vin: str


@dataclass(frozen=True)
class Admit:
    pass


@dataclass(frozen=True)
class VehiclePassed:
    barrier: Barrier


@dataclass(frozen=True)
class VinConfirm:
    vin: str
    reason: str | None = None


@dataclass(frozen=True)
class MarkItem:
    item: str
    result: ItemResult


@dataclass(frozen=True)
class Photo:
    code: str
    ref: str


@dataclass(frozen=True)
class Conclude:
    pass


@dataclass(frozen=True)
class PlateOptions:
    options: tuple[str, ...]


@dataclass(frozen=True)
class ChoosePlate:
    number: str
    composed: bool = False


@dataclass(frozen=True)
class PlateReserved:
    number: str
    expires_at: float | None = None


@dataclass(frozen=True)
class PlateReserveFailed:
    number: str
    error: str


@dataclass(frozen=True)
class PaymentStarted:
    payment_id: str
    amount_cents: int
    pay_url: str = ""


@dataclass(frozen=True)
class PaymentConfirmed:
    payment_id: str
    amount_cents: int | None = None


@dataclass(frozen=True)
class Issue:
    pass


@dataclass(frozen=True)
class PlatesIssued:
    job_id: str


@dataclass(frozen=True)
class IssueFailed:
    job_id: str
    error: str


@dataclass(frozen=True)
class Fitted:
    pass


@dataclass(frozen=True)
class OpenExit:
    pass


@dataclass(frozen=True)
class Reject:
    reason: str


@dataclass(frozen=True)
class Abort:
    reason: str


@dataclass(frozen=True)
class Hold:
    reason: str


@dataclass(frozen=True)
class Resume:
    pass


Input = (
    PartnerRecords
    | PartnerLookupFailed
    | ChooseVehicle
    | Admit
    | VehiclePassed
    | VinRead
    | VinConfirm
    | MarkItem
    | Photo
    | Conclude
    | PlateOptions
    | ChoosePlate
    | PlateReserved
    | PlateReserveFailed
    | PaymentStarted
    | PaymentConfirmed
    | Issue
    | PlatesIssued
    | IssueFailed
    | Fitted
    | OpenExit
    | Reject
    | Abort
    | Hold
    | Resume
)


# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class LookupPartner:
    id_number: str | None
    booking_number: str | None


@dataclass(frozen=True)
class OpenBarrier:
    barrier: Barrier


@dataclass(frozen=True)
class CloseBarrier:
    barrier: Barrier


@dataclass(frozen=True)
class SetLight:
    barrier: Barrier
    colour: Literal["red", "green", "off"]


@dataclass(frozen=True)
class CaptureVin:
    pass


@dataclass(frozen=True)
class FetchPlateOptions:
    new_energy: bool


@dataclass(frozen=True)
class ReservePlate:
    number: str
    composed: bool = False


@dataclass(frozen=True)
class ReleasePlate:
    number: str


@dataclass(frozen=True)
class StartPayment:
    plate: str


@dataclass(frozen=True)
class CheckPayment:
    payment_id: str | None


@dataclass(frozen=True)
class IssuePlates:
    job_id: str
    plate_kind: PlateKind
    text: str


Action = (
    LookupPartner
    | OpenBarrier
    | CloseBarrier
    | SetLight
    | CaptureVin
    | FetchPlateOptions
    | ReservePlate
    | ReleasePlate
    | StartPayment
    | CheckPayment
    | IssuePlates
)


# ---------------------------------------------------------------- rules and results


@dataclass(frozen=True)
class Rules:
    """The local rules a case is checked against (from lane.toml)."""

    items: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            "passenger_car": (
                "vin",
                "engine",
                "brand_model",
                "colour",
                "seats",
                "vehicle_type",
                "plate_shape",
                "tyres",
                "belts_triangle",
            ),
        }
    )
    required_photos: tuple[str, ...] = ("0111", "0112", "0113")
    plates: PlateRules = field(default_factory=PlateRules)
    authority: str = "苏A"
    min_inspection_s: float = 0.0

    def checklist(self, vehicle_type: str) -> tuple[str, ...]:
        return self.items.get(vehicle_type) or self.items.get("passenger_car") or ()


@dataclass(frozen=True)
class Event:
    kind: EventKind
    data: dict[str, Any]


@dataclass(frozen=True)
class Step:
    case: Case
    events: list[Event]
    actions: list[Action]


def job_id_for(case: Case) -> str:
    """The plate issuer job: case id + the plate pair's number, so a retry can never issue twice.

    ASCII only and short (the lane bus carries at most 32 bytes of job id): the
    province character is left out of the id; the issuer gets the full text.
    """
    tail = "".join(ch for ch in (case.plate or "") if ch.isascii())
    return f"{case.case_id}:{tail}"


HOLD_BLOCKS = (Admit, Issue, OpenExit, Fitted)


def open_case(open_cases: dict[str, str], inp: Open, now: float) -> Step:
    """Open a case at a station; one open case per station."""
    if open_cases.get(inp.station):
        raise Refused(f"station {inp.station} already has open case {open_cases[inp.station]}")
    if not (inp.id_number or inp.booking_number):
        raise Refused("an ID card number or a booking number is needed")
    case = Case(
        case_id=inp.case_id,
        station=inp.station,
        opened_at=now,
        stage_at=now,
        id_number=inp.id_number,
        booking_number=inp.booking_number,
    )
    ev = Event(EventKind.CASE_OPENED, {"id_number": inp.id_number, "booking_number": inp.booking_number})
    return Step(case, [ev], [LookupPartner(inp.id_number, inp.booking_number)])


def _record_problems(records: dict[str, Any]) -> list[str]:
    if not records.get("vehicle") and records.get("vehicles"):
        return []  # several pending vehicles: judged once the inspector has chosen the one at the lane
    problems = []
    vehicle = records.get("vehicle") or {}
    if not vehicle.get("certificate", {}).get("vin"):
        problems.append("no factory certificate record")
    tax = vehicle.get("purchase_tax") or {}
    if tax.get("status") not in ("paid", "exempt"):
        problems.append("purchase tax not paid")
    ins = vehicle.get("insurance") or {}
    if not (ins.get("valid") is True or ins.get("status") == "valid"):
        problems.append("no valid compulsory insurance")
    for issue in vehicle.get("issues") or []:
        if issue not in ("purchase_tax_missing",) and not issue.startswith("insurance_"):
            problems.append(issue)
    return problems


MAX_VEHICLE_CHOICES = 20
"""Pending vehicles of one owner a case offers to choose from (a fleet owner beyond this registers by booking number)."""


def normalise_partner_answer(body: dict[str, Any], vin: str | None = None) -> dict[str, Any]:
    """The cloud's partner.lookup answer -> the case's partner records: the owner and ONE vehicle, or (an owner with
    several pending vehicles) the owner and the vehicles to choose from.

    The bridge answers ``{"owner", "vehicles": [...]}`` (certificate with brand
    and model, fuel type, plate kind, issues); the case keeps
    ``{"owner", "vehicle": {"certificate": {..., "brand_model", "new_energy"}, "purchase_tax", "insurance", "issues"}, "other_vehicles"}``,
    with ``"vehicle": {}`` and ``"vehicles": [...]`` (each normalised alike) until one is chosen (`choose_vehicle`):
    an ID card names the owner, not the car, so the inspector says which car is at the lane.
    """
    if "vehicle" in body:
        return body
    answered = list(body.get("vehicles") or [])
    if vin:
        answered = [v for v in answered if v.get("vin") == vin] or answered
    vehicles = [_normalised_vehicle(v) for v in answered[:MAX_VEHICLE_CHOICES]]
    owner = body.get("owner") or {}
    if len(vehicles) > 1:
        others = [v.get("vin") for v in vehicles]
        out = {"owner": owner, "vehicle": {}, "vehicles": vehicles, "other_vehicles": others}
        if len(answered) > len(vehicles):  # the tablet says so: a car not listed opens by its booking number
            out["vehicles_not_listed"] = len(answered) - len(vehicles)
        return out
    return {"owner": owner, "vehicle": vehicles[0] if vehicles else {}, "other_vehicles": []}


def _normalised_vehicle(vehicle: dict[str, Any]) -> dict[str, Any]:
    """One vehicle of the partner answer as a case keeps it: its certificate with VIN, brand and model, new energy."""
    v = dict(vehicle)
    cert = dict(v.get("certificate") or {})
    cert.setdefault("vin", v.get("vin"))
    cert.setdefault("brand_model", " ".join(x for x in (cert.get("brand"), cert.get("model")) if x))
    kind = (
        v.get("plate_kind")
        if v.get("plate_kind") in tuple(PlateKind)
        else plate_kind_for_fuel(str(cert.get("fuel_type") or ""))
    )
    cert.setdefault("new_energy", kind == PlateKind.NEW_ENERGY)
    v["certificate"] = cert
    return v


def choose_vehicle(records: dict[str, Any], vin: str) -> dict[str, Any]:
    """The partner records with `vin` as the case's vehicle; the owner's other pending vehicles named by VIN."""
    vehicles = records.get("vehicles") or []
    chosen = next(v for v in vehicles if v.get("vin") == vin)
    others = [v.get("vin") for v in vehicles if v.get("vin") != vin]
    return {**records, "vehicle": chosen, "other_vehicles": others}


def records_event_data(records: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """A case.partner_records event: the records without the list to choose from (the other VINs name them)."""
    return {"records": {k: v for k, v in records.items() if k != "vehicles"}, "problems": problems}


def _to(case: Case, stage: Stage, now: float, **changes: Any) -> Case:
    return case.model_copy(update={"stage": stage, "stage_at": now, **changes})


def _need(cond: bool, reason: str) -> None:
    if not cond:
        raise Refused(reason)


def step(case: Case, inp: Input, now: float, rules: Rules = Rules()) -> Step:
    """Apply one input to a case at time ``now``; raise Refused if the case does not allow it."""
    s = case.stage
    _need(s != Stage.CLOSED, "the case is closed")
    if case.hold and isinstance(inp, HOLD_BLOCKS):
        raise Refused(f"the case is on hold: {case.hold}")
    E: list[Event] = []  # events
    A: list[Action] = []  # actions

    match inp:
        case PartnerRecords(records):
            _need(s == Stage.OPENED, "partner records were already fetched")
            problems = _record_problems(records)
            case = _to(case, Stage.RECORDS_FETCHED, now, partner=records, record_problems=problems, lookup_error=None)
            E.append(Event(EventKind.CASE_PARTNER_RECORDS, records_event_data(records, problems)))
        case ChooseVehicle(vin):
            _need(s == Stage.RECORDS_FETCHED and not case.entry_requested, "the vehicle is chosen before it enters")
            _need(bool(case.vehicle_choices), "the owner has one pending vehicle: there is nothing to choose")
            vin = vin.strip().upper()
            _need(vin in case.vehicle_choices, f"VIN {vin} is not one of the owner's pending vehicles")
            records = choose_vehicle(case.partner or {}, vin)
            problems = _record_problems(records)
            case = case.model_copy(update={"partner": records, "record_problems": problems})
            E.append(Event(EventKind.CASE_PARTNER_RECORDS, {**records_event_data(records, problems), "chosen": vin}))
        case PartnerLookupFailed(error):
            _need(s == Stage.OPENED, "partner records were already fetched")
            case = case.model_copy(update={"lookup_error": error})
        case Admit():
            _need(s == Stage.RECORDS_FETCHED, "partner records are needed before admitting the vehicle")
            _need(not case.needs_vehicle_choice, "choose which of the owner's vehicles is at the lane first")
            _need(not case.record_problems, "partner records have problems: " + "; ".join(case.record_problems))
            _need(not case.entry_requested, "the entry barrier is already open for this case")
            case = case.model_copy(update={"entry_requested": True})
            E.append(Event(EventKind.BARRIER_ACTUATED, {"barrier": "entry", "command": "open"}))
            A += [OpenBarrier("entry"), SetLight("entry", "green")]
        case VehiclePassed("entry"):
            _need(s == Stage.RECORDS_FETCHED and case.entry_requested, "no vehicle was admitted through the entry")
            case = _to(case, Stage.ADMITTED, now)
            E.append(Event(EventKind.CASE_ADMITTED, {}))
            A += [CloseBarrier("entry"), SetLight("entry", "red"), CaptureVin()]
        case VehiclePassed("exit"):
            _need(s == Stage.EXIT_OPEN, "the exit was not opened for this case")
            outcome = case.outcome or "registered"
            case = _to(case, Stage.CLOSED, now, outcome=outcome, closed_at=now)
            E.append(Event(EventKind.CASE_CLOSED, {"outcome": outcome, "age_s": round(case.age(now), 3)}))
            A += [CloseBarrier("exit"), SetLight("exit", "red")]
        case VinRead() as read:
            _need(s == Stage.ADMITTED, "a VIN is read only while the vehicle is on the station")
            read = read.model_copy(update={"ms": round(read.ms, 1)})
            matches = read.vin is not None and read.vin == case.certificate_vin
            data = {**read.model_dump(include=VIN_READ_EVENT_FIELDS), "certificate_vin": case.certificate_vin}
            if read.verification is not None:
                data["verification"] = read.verification.model_dump(include=VERIFICATION_EVENT_FIELDS)
            E.append(Event(EventKind.CASE_VIN_READ, {**data, "matches": matches}))
            case = case.model_copy(update={"vin_read": read.model_copy(update={"image_b64": None})})  # sent, not kept
            if case.vin_read_confirms:
                cert = case.certificate_vin
                case = _to(case, Stage.VIN_CONFIRMED, now, vin=cert)
                confirmed: dict[str, Any] = {"vin": cert, "by": "reader"}
                if read.verification is not None:  # not "read": a differing free read is no correction
                    confirmed["verification"] = {"decision": "match", "score": read.verification.score}
                E.append(Event(EventKind.CASE_VIN_CONFIRMED, confirmed))
        case VinConfirm(vin, reason):
            _need(s == Stage.ADMITTED, "the VIN can be confirmed only while the vehicle is on the station")
            vin = vin.strip().upper()
            _need(
                vin == case.certificate_vin,
                f"VIN {vin} differs from the certificate VIN {case.certificate_vin}: reject the case",
            )
            read_vin = case.vin_read.vin if case.vin_read else None
            if vin != read_vin or case.vin_read is None or case.vin_read.decision != "accept":
                _need(
                    bool(reason and reason.strip()),
                    "a reason is needed to correct or accept a VIN the reader did not accept",
                )
            case = _to(case, Stage.VIN_CONFIRMED, now, vin=vin, vin_reason=reason)
            E.append(
                Event(EventKind.CASE_VIN_CONFIRMED, {"vin": vin, "by": "inspector", "reason": reason, "read": read_vin})
            )
        case MarkItem(item, result):
            _need(
                s in (Stage.ADMITTED, Stage.VIN_CONFIRMED),
                "inspection items are marked while the vehicle is on the station",
            )
            _need(item in rules.checklist(case.vehicle_type), f"{item} is not on the checklist for {case.vehicle_type}")
            _need(result in ("pass", "fail", "na"), "an item is pass, fail or na")
            case = case.model_copy(update={"items": {**case.items, item: result}})
            E.append(Event(EventKind.CASE_INSPECTION_ITEM, {"item": item, "result": result}))
        case Photo(code, ref):
            _need(s in (Stage.ADMITTED, Stage.VIN_CONFIRMED), "photos are taken while the vehicle is on the station")
            _need(bool(re.fullmatch(r"\d{4}", code)), "a photo type code has four digits")
            case = case.model_copy(update={"photos": {**case.photos, code: ref}})
            E.append(Event(EventKind.CASE_PHOTO, {"code": code, "ref": ref}))
        case Conclude():
            _need(s == Stage.VIN_CONFIRMED, "the VIN must be confirmed before concluding the inspection")
            missing = [i for i in rules.checklist(case.vehicle_type) if i not in case.items]
            _need(not missing, "items not marked: " + ", ".join(missing))
            failed = [i for i, r in case.items.items() if r == "fail"]
            if not failed:
                photos = [p for p in rules.required_photos if p not in case.photos]
                _need(not photos, "photos missing: " + ", ".join(photos))
            too_fast = rules.min_inspection_s > 0 and now - case.stage_at < rules.min_inspection_s
            E.append(
                Event(
                    EventKind.CASE_INSPECTED,
                    {"ok": not failed, "failed": failed, "items": case.items, "too_fast": too_fast},
                )
            )
            if failed:
                reason = "inspection failed: " + ", ".join(failed)
                case = _to(
                    case, Stage.LEAVING, now, inspected_at=now, inspection_ok=False, outcome="rejected", reason=reason
                )
                E.append(Event(EventKind.CASE_REJECTED, {"reason": reason, "stage": s.value}))
            else:
                case = _to(case, Stage.INSPECTED, now, inspected_at=now, inspection_ok=True)
                A.append(FetchPlateOptions(case.new_energy))
        case PlateOptions(options):
            _need(s == Stage.INSPECTED, "plate options are offered after the inspection")
            case = case.model_copy(update={"plate_options": list(options)})
        case ChoosePlate(number, composed):
            _need(s == Stage.INSPECTED, "a plate number is chosen after the inspection, before payment")
            _need(case.plate_choice is None, f"plate {case.plate_choice} is being reserved")
            if composed:
                full = number if number.startswith(rules.authority) else rules.authority + number
                try:
                    number = validate_number(full, rules.authority, case.plate_kind, rules.plates, composed=True)
                except PlateError as exc:
                    raise Refused(f"{number}: {exc}") from None
            else:
                _need(number in case.plate_options, f"{number} is not one of the offered options")
            case = case.model_copy(update={"plate_choice": number, "plate_composed": composed, "plate_error": None})
            A.append(ReservePlate(number, composed))
        case PlateReserved(number, expires_at):
            _need(s == Stage.INSPECTED and case.plate_choice == number, f"plate {number} was not asked for")
            case = _to(case, Stage.PLATE_RESERVED, now, plate=number, plate_expires_at=expires_at)
            E.append(Event(EventKind.CASE_PLATE_RESERVED, {"number": number, "expires_at": expires_at}))
            A.append(StartPayment(number))
        case PlateReserveFailed(number, error):
            _need(s == Stage.INSPECTED and case.plate_choice == number, f"plate {number} was not asked for")
            case = case.model_copy(
                update={"plate_choice": None, "plate_composed": False, "plate_error": f"{number}: {error}"}
            )
        case PaymentStarted(payment_id, amount_cents, pay_url):
            _need(s == Stage.PLATE_RESERVED, "payment starts after the plate is reserved")
            case = case.model_copy(
                update={"payment": {"payment_id": payment_id, "amount_cents": amount_cents, "pay_url": pay_url}}
            )
        case PaymentConfirmed(payment_id, amount_cents):
            _need(s == Stage.PLATE_RESERVED, "no payment is expected now")
            known = (case.payment or {}).get("payment_id")
            _need(known is None or known == payment_id, f"payment {payment_id} is not this case's payment")
            case = _to(
                case,
                Stage.PAID,
                now,
                paid_at=now,
                payment={
                    **(case.payment or {}),
                    "payment_id": payment_id,
                    "confirmed": True,
                    **({"amount_cents": amount_cents} if amount_cents is not None else {}),
                },
            )
            E.append(Event(EventKind.CASE_PAID, {"payment_id": payment_id, "amount_cents": amount_cents}))
            A += _issue_actions(case)
            case = case.model_copy(update={"issue_job": job_id_for(case)})
        case Issue():
            _need(s == Stage.PAID, "plates are issued only after the cloud confirms payment")
            case = case.model_copy(update={"issue_job": job_id_for(case), "issue_error": None})
            A += _issue_actions(case)
        case PlatesIssued(job_id):
            _need(s == Stage.PAID and case.issue_job == job_id, f"job {job_id} is not this case's issue job")
            case = _to(case, Stage.PLATES_ISSUED, now, issued_at=now)
            E.append(Event(EventKind.CASE_PLATES_ISSUED, {"job_id": job_id, "plate": case.plate}))
        case IssueFailed(job_id, error):
            _need(s == Stage.PAID and case.issue_job == job_id, f"job {job_id} is not this case's issue job")
            case = case.model_copy(update={"issue_error": error, "hold": f"plate issuer: {error}"})
            E.append(Event(EventKind.CASE_HELD, {"reason": f"plate issuer: {error}"}))
        case Fitted():
            _need(s == Stage.PLATES_ISSUED, "plates are fitted after they are issued")
            case = _to(case, Stage.PLATES_FITTED, now)
            E.append(Event(EventKind.CASE_PLATES_FITTED, {}))
        case OpenExit():
            _need(
                s in (Stage.PLATES_FITTED, Stage.LEAVING),
                "the exit opens only after the plates are fitted, or for a vehicle leaving without plates",
            )
            case = _to(case, Stage.EXIT_OPEN, now)
            E.append(Event(EventKind.CASE_EXIT_OPENED, {"outcome": case.outcome or "registered"}))
            A += [OpenBarrier("exit"), SetLight("exit", "green")]
        case Reject(reason) | Abort(reason):
            kind = "rejected" if isinstance(inp, Reject) else "aborted"
            _need(bool(reason and reason.strip()), "a reason is needed")
            _need(s not in (Stage.LEAVING, Stage.EXIT_OPEN), "the case is already leaving")
            if kind == "rejected":
                _need(
                    ORDER.index(s) < ORDER.index(Stage.PLATES_ISSUED), "plates were issued: abort with a reason instead"
                )
            if case.plate and s in (Stage.PLATE_RESERVED,):
                A.append(ReleasePlate(case.plate))
            elif case.plate_choice and s == Stage.INSPECTED:
                A.append(ReleasePlate(case.plate_choice))
            if case.in_lane():
                case = _to(case, Stage.LEAVING, now, outcome=kind, reason=reason, hold=None)
            else:
                case = _to(case, Stage.CLOSED, now, outcome=kind, reason=reason, closed_at=now, hold=None)
            ek = EventKind.CASE_REJECTED if kind == "rejected" else EventKind.CASE_ABORTED
            E.append(Event(ek, {"reason": reason, "stage": s.value, "paid": case.paid_at is not None}))
            if case.stage == Stage.CLOSED:
                E.append(Event(EventKind.CASE_CLOSED, {"outcome": kind, "age_s": round(case.age(now), 3)}))
        case Hold(reason):
            _need(not case.hold, f"already on hold: {case.hold}")
            case = case.model_copy(update={"hold": reason})
            E.append(Event(EventKind.CASE_HELD, {"reason": reason}))
        case Resume():
            _need(bool(case.hold), "the case is not on hold")
            case = case.model_copy(update={"hold": None})
            E.append(Event(EventKind.CASE_RESUMED, {}))
        case _:
            raise Refused(f"unknown input {inp!r}")
    return Step(case, E, A)


def _issue_actions(case: Case) -> list[Action]:
    if case.hold:
        return []
    return [IssuePlates(job_id_for(case), case.plate_kind, case.plate or "")]


def pending(case: Case) -> list[Action]:
    """What an open case is waiting for from the outside world; re-run after a restart.

    Every action here is idempotent (a look-up, a reservation of the same number
    for the same case, a payment start for the same case, an issuer job with the
    same id, opening an already open barrier).
    """
    s = case.stage
    if s == Stage.OPENED:
        return [LookupPartner(case.id_number, case.booking_number)]
    if s == Stage.RECORDS_FETCHED and case.entry_requested:
        return [OpenBarrier("entry")]
    if s == Stage.ADMITTED and case.vin_read is None:
        return [CaptureVin()]
    if s == Stage.INSPECTED:
        if case.plate_choice:
            return [ReservePlate(case.plate_choice, case.plate_composed)]
        if not case.plate_options:
            return [FetchPlateOptions(case.new_energy)]
    if s == Stage.PLATE_RESERVED and case.plate:
        # a payment confirmation may have been missed while the lane was down: ask the cloud
        return [StartPayment(case.plate)] if case.payment is None else [CheckPayment(case.payment.get("payment_id"))]
    if s == Stage.PAID and case.issue_job and not case.hold:
        return _issue_actions(case)
    if s == Stage.EXIT_OPEN:
        return [OpenBarrier("exit")]
    return []


def waiting_for(case: Case) -> str | None:
    """What the case waits for, in words, for the tablet."""
    s = case.stage
    if case.hold:
        return f"on hold: {case.hold}"
    return {
        Stage.OPENED: "partner records" if not case.lookup_error else f"partner records ({case.lookup_error})",
        Stage.RECORDS_FETCHED: "vehicle to enter"
        if case.entry_requested
        else ("inspector to choose the vehicle" if case.needs_vehicle_choice else "inspector to admit the vehicle"),
        Stage.ADMITTED: "VIN review" if case.vin_needs_review else "VIN read",
        Stage.VIN_CONFIRMED: "inspection",
        Stage.INSPECTED: "plate reservation" if case.plate_choice else "owner's plate choice",
        Stage.PLATE_RESERVED: "payment",
        Stage.PAID: "plate issuer",
        Stage.PLATES_ISSUED: "plates to be fitted",
        Stage.PLATES_FITTED: "exit to open",
        Stage.LEAVING: "exit to open (leaving without plates)",
        Stage.EXIT_OPEN: "vehicle to pass the exit",
    }.get(s)
