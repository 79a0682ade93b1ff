"""The exam service: what exam-site operators do through the console, over the store and the remote commands.

Candidates are imported (CSV, all or nothing, an error per bad row) or added one by one, checked
in by ID number, and started on a free, online car: the bridge makes the exam id and sends the
car `start_exam` with an expiry through `Service.send_command` (recorded and audited). Examiners
sign results off and may override the electronic judgement (kept beside it, audited, alerted).
A stored result is reproducible: `reproduce` replays the stored track with its stored rules version.
Every operator action is written to the audit chain with its actor.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cloud_bridge.reference import id_number_valid
from cloud_bridge.rules import exam_override_signal
from cloud_bridge.service import Service
from cloud_bridge.store import DuplicateBooking
from edge.contract import CommandName, unused_case_id
from exam_vehicle.car import CARS_DIR, CarModel, load_car
from exam_vehicle.course import load_course
from exam_vehicle.judge import Deduction, Judge, Result, RunInvalid
from exam_vehicle.replay import replay
from exam_vehicle.rules import RULES_DIR, RulesTable, load_rules
from exam_vehicle.track import ExamEnded, Track, TrackHeader, parse_line

CSV_HEADER = ("name", "id_number", "licence_class", "booking_time")
LICENCE_CLASSES = ("C1", "C2")
START_TTL_S = 30.0


class ExamError(Exception):
    """An operator action refused: `status` is the HTTP answer the console gets (404 unknown, 409 not now, 422 bad)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class ImportRefused(Exception):
    """Nothing was imported: one error per bad field of a bad row ({row, field, message}; row 1 is the first data row)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass(frozen=True)
class Booking:
    name: str
    id_number: str
    licence_class: str
    booked_at: float


def day_bounds(day: dt.date) -> tuple[float, float]:
    """A local calendar day as [start, end) Unix seconds."""
    start = dt.datetime.combine(day, dt.time()).astimezone()
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def today(now: float) -> dt.date:
    return dt.datetime.fromtimestamp(now).astimezone().date()


def booking_errors(fields: dict[str, Any], row: int) -> tuple[Booking | None, list[dict[str, Any]]]:
    """One candidate's fields checked: the booking, or the errors ({row, field, message})."""
    errs: list[dict[str, Any]] = []

    def bad(field: str, message: str) -> None:
        errs.append({"row": row, "field": field, "message": message})

    name = str(fields.get("name") or "").strip()
    if not name or len(name) > 64 or any(ord(c) < 32 for c in name):
        bad("name", "a name of 1 to 64 characters is required")
    idn = str(fields.get("id_number") or "").strip().upper()
    if not id_number_valid(idn):
        bad("id_number", "not a valid 18-character resident ID number (GB 11643 check character)")
    licence = str(fields.get("licence_class") or "").strip().upper()
    if licence not in LICENCE_CLASSES:
        bad("licence_class", f"licence class must be one of {', '.join(LICENCE_CLASSES)}")
    booked_at = None
    try:
        t = dt.datetime.fromisoformat(str(fields.get("booking_time") or "").strip())
        booked_at = (t if t.tzinfo else t.astimezone()).timestamp()
    except ValueError:
        bad("booking_time", "booking time must be ISO 8601, e.g. 2026-12-07T09:30 (local time)")
    if errs or booked_at is None:
        return None, errs
    return Booking(name, idn, licence, booked_at), []


def parse_csv(text: str) -> list[Booking]:
    """The bookings of a CSV (header name,id_number,licence_class,booking_time); ImportRefused lists every bad row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in next(reader, [])]
    if tuple(header) != CSV_HEADER:
        raise ImportRefused([{"row": 0, "field": "header", "message": f"the header must be {','.join(CSV_HEADER)}"}])
    out, errors, seen = [], [], set()
    for n, cells in enumerate(reader, start=1):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(CSV_HEADER):
            errors.append({"row": n, "field": "row", "message": f"{len(cells)} columns, expected {len(CSV_HEADER)}"})
            continue
        b, errs = booking_errors(dict(zip(CSV_HEADER, cells)), n)
        if b is not None and (b.id_number, b.booked_at) in seen:
            errs = [{"row": n, "field": "id_number", "message": "the same booking appears twice in this file"}]
        errors += errs
        if b is not None and not errs:
            seen.add((b.id_number, b.booked_at))
            out.append(b)
    if not out and not errors:
        errors.append({"row": 0, "field": "row", "message": "no candidates in the file"})
    if errors:
        raise ImportRefused(errors)
    return out


class ExamService:
    """Operator actions on candidates and exams; `service` sends the remote commands and holds the store, rules and clock."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.store = service.store

    def _audit(self, who: str, action: str, target: str, detail: dict[str, Any]) -> None:
        self.store.audit.append(who, action, target, detail, self.service.clock())

    def site_of(self, site: str | None) -> str:
        """The site named, or the one site the bridge hears from (else the operator must name it)."""
        if site:
            return site
        sites = sorted({u["site"] for u in self.store.unit_records.units() if u.get("role") != "bridge"})
        if len(sites) != 1:
            raise ExamError(422, "name the site (?site=): the bridge serves " + (", ".join(sites) or "no site yet"))
        return sites[0]

    def add(self, bookings: list[Booking], site: str, who: str, source: str) -> int:
        """Store the bookings, all or none (one already stored refuses the lot); audited."""
        now = self.service.clock()
        rows = [
            {
                **b.__dict__,
                "candidate_id": "cand-" + secrets.token_hex(5),
                "site": site,
                "status": "booked",
                "created_at": now,
            }
            for b in bookings
        ]
        try:
            n = self.store.candidates.add(rows)
        except DuplicateBooking as exc:
            raise ImportRefused(
                [{"row": exc.index + 1, "field": "id_number", "message": "this booking is already stored"}]
            ) from None
        self._audit(
            who,
            "exam.candidates_added",
            f"site/{site}",
            {"count": n, "source": source, "ids": [r["candidate_id"] for r in rows][:200]},
        )
        return n

    def import_csv(self, text: str, site: str | None, who: str) -> int:
        return self.add(parse_csv(text), self.site_of(site), who, "csv")

    def add_one(self, fields: dict[str, Any], site: str | None, who: str) -> dict[str, Any]:
        b, errors = booking_errors(fields, 1)
        if b is None:
            raise ImportRefused(errors)
        site = self.site_of(site)
        self.add([b], site, who, "form")
        day = dt.datetime.fromtimestamp(b.booked_at).astimezone().date()
        return next(
            c
            for c in self.store.candidates.of_day(*day_bounds(day))
            if c["id_number"] == b.id_number and c["booked_at"] == b.booked_at
        )

    def check_in(self, id_number: str, who: str) -> dict[str, Any]:
        """Check in today's booking of that ID number; audited."""
        now = self.service.clock()
        outcome, row = self.store.candidates.check_in(id_number.strip().upper(), *day_bounds(today(now)), now)
        if outcome == "unknown" or row is None:
            raise ExamError(404, "no booking today for that ID number")
        if outcome == "already":
            raise ExamError(409, f"already {row['status'].replace('_', ' ')}")
        self._audit(who, "exam.check_in", f"candidate/{row['candidate_id']}", {"id_number": row["id_number"]})
        return row

    def start(self, candidate_id: str, car: str, who: str) -> dict[str, Any]:
        """Start a checked-in candidate's exam on a free, online car: `start_exam` with expiry, recorded and audited."""
        cand = self.store.candidates.get(candidate_id)
        if cand is None:
            raise ExamError(404, "no such candidate")
        unit = next((u for u in cars(self.service, {}) if u["unit"] == car), None)
        if unit is None or unit["site"] != cand["site"]:
            raise ExamError(404, f"no exam vehicle {car} at {cand['site']}")
        if not unit["online"] or unit["busy"]:
            raise ExamError(409, f"car {car} is {'busy' if unit['busy'] else 'offline'}")
        now = self.service.clock()
        stale = cand["exam_id"] if cand["status"] == "examining" and self._never_started(cand["exam_id"], now) else None
        day = dt.datetime.fromtimestamp(now).astimezone().strftime("%y%m%d")
        exam_id = unused_case_id(car, day, lambda e: self.store.exams.get(e) is not None)
        if not self.store.candidates.assign(candidate_id, car, exam_id, stale):
            raise ExamError(409, f"the candidate is {cand['status'].replace('_', ' ')}, not checked in")
        cmd = self.service.send_command(
            cand["site"],
            car,
            CommandName.START_EXAM,
            {"candidate": cand["name"], "exam_id": exam_id},
            who,
            f"exam of candidate {candidate_id}",
            ttl_s=START_TTL_S,
        )
        self._audit(
            who,
            "exam.start",
            f"exam/{exam_id}",
            {"candidate_id": candidate_id, "car": car, "command_id": cmd.request_id},
        )
        return {"exam_id": exam_id, "command_id": cmd.request_id}

    def _never_started(self, exam_id: str | None, now: float) -> bool:
        """The exam a candidate was assigned to never began on its car and its start command has expired."""
        if not exam_id or self.store.exams.get(exam_id) is not None:
            return False
        cmds = [c for c in self.store.commands.recent(500) if json.loads(c["args"]).get("exam_id") == exam_id]
        return all(c["status"] == "refused" or (c["expires_at"] < now and c["status"] != "done") for c in cmds)

    def _finished(self, exam_id: str) -> dict[str, Any]:
        x = self.store.exams.get(exam_id)
        if x is None:
            raise ExamError(404, "no such exam")
        if x["status"] == "running":
            raise ExamError(409, "the exam is still under way")
        return x

    def sign_off(self, exam_id: str, who: str, note: str) -> dict[str, Any]:
        """The examiner's sign-off of a finished exam, once; audited."""
        self._finished(exam_id)
        if not self.store.exams.sign_off(exam_id, who, note, self.service.clock()):
            raise ExamError(409, "the exam is already signed off")
        self._audit(who, "exam.sign_off", f"exam/{exam_id}", {"note": note})
        return self.store.exams.get(exam_id) or {}

    def override(self, exam_id: str, who: str, passed: bool, reason: str) -> dict[str, Any]:
        """An examiner's verdict kept beside the electronic one (which stays as judged); audited and alerted."""
        x = self._finished(exam_id)
        now = self.service.clock()
        kept = {
            "passed": passed,
            "reason": reason,
            "by": who,
            "at": now,
            "electronic": {"status": x["status"], "score": x["score"]},
        }
        if not self.store.exams.set_override(exam_id, kept, now):
            raise ExamError(409, "the exam is not finished")
        self._audit(who, "exam.override", f"exam/{exam_id}", kept)
        sig = exam_override_signal(x, who, passed, reason, self.service.rules)
        if sig is not None:
            self.store.alerts.raise_all([sig], now)
        return self.store.exams.get(exam_id) or {}

    def reproduce(self, exam_id: str) -> dict[str, Any]:
        """Replay the stored track with the stored rules version; `equal` when status, score and deductions agree."""
        x = self.store.exams.detail(exam_id)
        if x is None:
            raise ExamError(404, "no such exam")
        gz = self.store.exams.track(exam_id)
        if gz is None:
            raise ExamError(404, f"the exam's track is {x['track_state']}, not stored")
        track = track_of(gz)
        header = track.header or TrackHeader(exam_id=exam_id)
        rules = rules_of_version(x["rules_version"] or header.rules_version)
        judge = Judge(
            load_course(x["course"] or header.course), car_named(x["car"] or header.car, rules.licence), rules
        )
        stored = {
            "status": x["status"],
            "score": x["score"],
            "deductions": [[d["rule_id"], d["item"], d["points"], d["fail"]] for d in x["deductions"]],
        }
        replayed = judged(replay(judge, track))
        return {"equal": stored == replayed, "stored": stored, "replayed": replayed, "rules_version": rules.version}


def track_of(gz: bytes) -> Track:
    """The stored gzip of a track, read back into its header, inputs and end."""
    track = Track()
    for line in gzip.decompress(gz).decode("utf-8").splitlines():
        item = parse_line(line)
        if isinstance(item, TrackHeader):
            track.header = item
        elif isinstance(item, ExamEnded):
            track.ended_at = item.t
        elif item is not None:
            track.inputs.append(item)
    return track


def judged(events: list[Any]) -> dict[str, Any]:
    """Status, score and deductions of a judge's events, in the stored shape."""
    result = next((e for e in events if isinstance(e, Result)), None)
    invalid = any(isinstance(e, RunInvalid) for e in events)
    status = (
        "invalid" if invalid or result is None or result.passed is None else "passed" if result.passed else "failed"
    )
    return {
        "status": status,
        "score": None if result is None else result.score,
        "deductions": [
            [e.rule_id, e.item, 0 if e.points == "fail" else e.points, e.points == "fail"]
            for e in events
            if isinstance(e, Deduction)
        ],
    }


def rules_of_version(version: str) -> RulesTable:
    """The shipped rules table with that version (a result is reproduced with the table it was judged with)."""
    for path in sorted(RULES_DIR.glob("*.toml")):
        table = load_rules(path)
        if table.version == version:
            return table
    raise ExamError(409, f"no rules table of version {version!r} ships with this bridge")


def car_named(name: str, licence: str) -> CarModel:
    """The shipped car model of that name (the car reports its model's name), else the licence class's example car."""
    models = [load_car(p) for p in sorted(CARS_DIR.glob("*.toml"))]
    for m in models:
        if m.name == name:
            return m
    for m in models:
        if m.licence == licence:
            return m
    raise ExamError(409, f"no car model {name!r} ships with this bridge")


def cars(service: Service, positions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every exam vehicle: online, busy (exam under way), its exam, last position and fix quality (from `positions`)."""
    now, rules = service.clock(), service.rules
    running = service.store.exams.running_units()
    for c in service.store.commands.recent(200):  # a start sent and not yet expired holds its car too
        exam_id = json.loads(c["args"]).get("exam_id")
        pending = c["command"] == CommandName.START_EXAM.value and c["status"] == "sent" and c["expires_at"] > now
        if pending and c["unit"] not in running and service.store.exams.get(exam_id or "") is None:
            running[c["unit"]] = exam_id
    out = []
    for u in service.store.unit_records.units():
        if u.get("role") != "exam-vehicle":
            continue
        pos = positions.get(u["unit"])
        seen = u.get("last_seen_at")
        online = u.get("state") == "online" and seen is not None and now - seen <= rules.device_offline_after_s
        out.append(
            {
                "unit": u["unit"],
                "site": u["site"],
                "online": online,
                "busy": u["unit"] in running,
                "exam_id": running.get(u["unit"]),
                "position": pos,
                "quality": (pos or {}).get("quality"),
            }
        )
    return out


def summary(service: Service, day: dt.date) -> list[dict[str, Any]]:
    """Per site, for the ops dashboard: cars online, exams in progress, results of the day, pass rate per item,
    and the invalid and interrupted runs with their reasons."""
    since, until = day_bounds(day)
    sites: dict[str, dict[str, Any]] = {}

    def site(name: str) -> dict[str, Any]:
        return sites.setdefault(
            name,
            {
                "site": name,
                "cars": 0,
                "cars_online": 0,
                "in_progress": 0,
                "results": dict.fromkeys(("passed", "failed", "invalid", "interrupted"), 0),
                "pass_rate": None,
                "items": [],
                "unjudged": [],
            },
        )

    for c in cars(service, {}):
        s = site(c["site"])
        s["cars"] += 1
        s["cars_online"] += int(c["online"])
    for x in service.store.exams.listed(since, until):
        s = site(x["site"])
        if x["status"] == "running":
            s["in_progress"] += 1
            continue
        s["results"][x["status"]] = s["results"].get(x["status"], 0) + 1
        if x["status"] in ("invalid", "interrupted"):
            s["unjudged"].append({k: x[k] for k in ("exam_id", "unit", "status", "reason", "started_at", "ended_at")})
    for r in service.store.exams.item_rates(since, until):
        driven = int(r["driven"])
        site(r["site"])["items"].append(
            {"item": r["item"], "driven": driven, "passed": int(r["clean"] or 0), "rate": (r["clean"] or 0) / driven}
        )
    for s in sites.values():
        judged = s["results"]["passed"] + s["results"]["failed"]
        s["pass_rate"] = s["results"]["passed"] / judged if judged else None
    return [sites[k] for k in sorted(sites)]
