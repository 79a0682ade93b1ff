"""What the tablet shows of the lane and its cases: plain dicts built from the lane's state. No I/O but journal reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import segno

from edge.stats import percentile
from lane_controller import case as C
from lane_controller.vin_camera import PICAMERA_PREFIX

if TYPE_CHECKING:
    from lane_controller.runtime import Lane


def _ms(values: list[float], p: float, scale: float = 1.0) -> float | None:
    v = percentile(values, p)
    return None if v is None else round(v * scale, 2)


def vehicle_of(c: C.Case) -> dict[str, Any]:
    """The car as the inspector knows it (make and model, colour, plate once there is one): the case's headline,
    from the factory certificate in the partner records, since an inspector looks for the car, not a case id."""
    cert = ((c.partner or {}).get("vehicle") or {}).get("certificate") or {}
    return {
        "brand_model": cert.get("brand_model") or None,
        "colour": cert.get("colour") or None,
        "new_energy": c.new_energy,
        "plate": c.plate or c.plate_choice,
        "vin": c.vin or cert.get("vin"),
        "choices": len(c.vehicle_choices) if c.needs_vehicle_choice else 0,  # the owner's cars, none chosen yet
    }


# the one step an open case is at, for the sticky head of the case page: (step, primary action or None).
# An action is a button that calls the case's API (``api``) or a link to the section where the step is done.
STEP_ACTIONS: dict[str, tuple[str, str | None]] = {
    "records": ("records", None),
    "admit": ("admit", "admit"),
    "vehicle_choice": ("vehicle_choice", "#partner"),
    "records_problem": ("records_problem", None),
    "entering": ("entering", None),
    "vin_reading": ("vin_reading", None),
    "vin_review": ("vin_review", "#vin"),
    "inspection": ("inspection", "conclude"),
    "plate_choice": ("plate_choice", "#plates"),
    "payment": ("payment", "#payment"),
    "issuing": ("issuing", None),
    "issue_failed": ("issue_failed", "issue"),
    "fitting": ("fitting", "fitted"),
    "exit": ("exit", "exit"),
    "leaving": ("exit", "exit"),
    "passing_exit": ("passing_exit", None),
    "hold": ("hold", "resume"),
    "closed": ("closed", None),
}


def current_step(c: C.Case) -> str:
    """Which step of the visit the case is at, in the tablet's words (a key of STEP_ACTIONS)."""
    S = C.Stage
    if c.stage == S.CLOSED:
        return "closed"
    if c.hold:
        return "hold"
    if c.stage == S.OPENED:
        return "records"
    if c.stage == S.RECORDS_FETCHED:
        if c.entry_requested:
            return "entering"
        if c.needs_vehicle_choice:
            return "vehicle_choice"
        return "records_problem" if c.record_problems else "admit"
    if c.stage == S.ADMITTED:
        return "vin_review" if c.vin_read is not None else "vin_reading"
    by_stage = {
        S.VIN_CONFIRMED: "inspection",
        S.INSPECTED: "plate_choice",
        S.PLATE_RESERVED: "payment",
        S.PAID: "issue_failed" if c.issue_error else "issuing",
        S.PLATES_ISSUED: "fitting",
        S.PLATES_FITTED: "exit",
        S.LEAVING: "leaving",
        S.EXIT_OPEN: "passing_exit",
    }
    return by_stage[c.stage]


def payment_qr(url: str | None) -> str | None:
    """The payment link as an inline SVG QR code for the owner's phone, drawn here: the tablet needs no network
    beyond the lane, and a raw URL is useless to an owner standing at the car."""
    if not url:
        return None
    return str(segno.make(url, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff"))


def camera_of(lane: Lane) -> dict[str, Any]:
    """What the tablet says of the VIN camera: its kind and a name an inspector can place (a device number, a
    stream's host), never a folder path or a stream URL (which may carry a password)."""
    source = lane.cfg.camera.source
    if source.isdigit():
        kind, name = "device", source
    elif source.startswith(PICAMERA_PREFIX):
        kind, name = "module", source[len(PICAMERA_PREFIX) :]
    elif "://" in source:
        kind, name = "stream", urlsplit(source).hostname or ""
    else:
        kind, name = "folder", ""
    fault = lane.alerts.get("device:camera")
    return {"kind": kind, "name": name, "fps": lane.camera.fps, "reader": lane.reader.status, "fault": bool(fault)}


def case_summary(lane: Lane, c: C.Case) -> dict[str, Any]:
    """One line of a case: the car, where it is, how long it has taken, what it waits for."""
    now = lane.clock()
    step = current_step(c)
    return {
        "case_id": c.case_id,
        "station": c.station,
        "stage": c.stage.value,
        "age_s": round(c.age(now) * lane.cfg.ui.time_scale, 1),  # in the site's time (simulated in a sped-up demo)
        "over_promise": c.over_promise(now, lane.cfg.promise_lane_s),
        "hold": c.hold,
        "waiting": lane.waiting.get(c.case_id) or C.waiting_for(c),
        "progress": lane.waiting.get(c.case_id),  # what the lane is doing for the case right now, if anything
        "plate": c.plate,
        "outcome": c.outcome,
        "owner": ((c.partner or {}).get("owner") or {}).get("name"),
        "vehicle": vehicle_of(c),
        # a retried issue job at work is no failure any more (the case keeps its last issuer error until done)
        "step": "issuing" if step == "issue_failed" and lane.waiting.get(c.case_id) else step,
    }


def queue(lane: Lane) -> dict[str, Any]:
    """The vehicles the lane knows of and is not yet working on, and those inside: the open cases whose car has
    not entered (oldest first), the cars past the entry, and whether a car stands on the entry loop with no case
    letting it in. Cars further back are not sensed by the lane, so they are not counted."""
    open_cases = sorted((c for c in lane.cases.values() if c.is_open), key=lambda c: c.opened_at)
    before = (C.Stage.OPENED, C.Stage.RECORDS_FETCHED)
    waiting = [c for c in open_cases if c.stage in before]
    entry = ((lane.last_hw_status or {}).get("barriers") or {}).get("entry") or {}
    on_loop = bool(entry.get("loop_occupied") or entry.get("loop"))
    return {
        "waiting": [case_summary(lane, c) for c in waiting],
        "in_lane": len(open_cases) - len(waiting),
        "at_entry": on_loop and not any(c.entry_requested for c in waiting),
    }


def overview(lane: Lane) -> dict[str, Any]:
    """The lane page: stations, devices, the cloud link, the outbox, alerts and recent cases."""
    depth = lane.journal.outbox_depth()
    lat = list(lane.outbox.ack_latencies)
    steps = list(lane.step_ms)
    return {
        "unit": lane.cfg.unit,
        "site": lane.cfg.site,
        "version": lane.changes.version,
        "cloud_connected": lane.session.connected.is_set(),
        "stations": {s: (case_summary(lane, c) if (c := lane.open_case_for(s)) else None) for s in lane.cfg.stations},
        "hardware": lane.last_hw_status,
        "devices": lane.device_state,
        "boards": [b.model_dump() for b in lane.hw.health()],
        "camera": camera_of(lane),
        "queue": queue(lane),
        "outbox": {
            "depth": depth,
            "alarm": depth > lane.cfg.outbox.alarm_depth,
            "last_seq": lane.journal.last_seq(),
            "acked_seq": lane.journal.acked_seq(),
            "ack_ms_p50": _ms(lat, 50, 1000),
            "ack_ms_p99": _ms(lat, 99, 1000),
            "acks_measured": len(lat),
        },
        "step_ms": {"p50": _ms(steps, 50), "p99": _ms(steps, 99), "n": len(steps)},
        "alerts": sorted(lane.alerts.values(), key=lambda a: a["ts"]),
        "recent": [
            case_summary(lane, C.Case.model_validate(r.state)) for r in lane.journal.recent_cases(10) if not r.open
        ],
    }


def case_view(lane: Lane, case_id: str) -> dict[str, Any]:
    """One case in full, open or closed, with its checklist and timeline; KeyError when there is no such case."""
    c = lane.cases.get(case_id)
    if c is None:
        row = lane.journal.case(case_id)
        if row is None:
            raise KeyError(case_id)
        c = C.Case.model_validate(row.state)
    view = c.model_dump(mode="json")
    view.update(case_summary(lane, c))
    view["certificate_vin"] = c.certificate_vin
    view["vin_needs_review"] = c.vin_needs_review
    view["vehicle_choices"] = c.vehicle_choices
    view["needs_vehicle_choice"] = c.needs_vehicle_choice
    view["checklist"] = list(lane.rules.checklist(c.vehicle_type))
    view["required_photos"] = list(lane.rules.required_photos)
    view["timeline"] = lane.journal.case_events(case_id)
    view["new_energy"] = c.new_energy
    return view
