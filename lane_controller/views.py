"""What the tablet shows of the lane and its cases: plain dicts built from the lane's state. No I/O but journal reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.stats import percentile
from lane_controller import case as C

if TYPE_CHECKING:
    from lane_controller.runtime import Lane


def _ms(values: list[float], p: float, scale: float = 1.0) -> float | None:
    v = percentile(values, p)
    return None if v is None else round(v * scale, 2)


def case_summary(lane: Lane, c: C.Case) -> dict[str, Any]:
    """One line of a case: where it is, how long it has taken, what it waits for."""
    now = lane.clock()
    return {
        "case_id": c.case_id,
        "station": c.station,
        "stage": c.stage.value,
        "age_s": round(c.age(now), 1),
        "over_promise": c.over_promise(now, lane.cfg.promise_minutes * 60),
        "hold": c.hold,
        "waiting": lane.waiting.get(c.case_id) or C.waiting_for(c),
        "plate": c.plate,
        "outcome": c.outcome,
        "owner": ((c.partner or {}).get("owner") or {}).get("name"),
    }


def overview(lane: Lane) -> dict[str, Any]:
    """The lane page: stations, devices, the cloud link, the outbox, alerts and recent cases."""
    depth = lane.journal.outbox_depth()
    lat = lane.outbox.ack_latencies[-2000:]
    steps = lane.step_ms[-2000:]
    return {
        "unit": lane.cfg.unit,
        "site": lane.cfg.site,
        "version": lane.changes.version,
        "cloud_connected": lane.session.connected.is_set(),
        "stations": {s: (case_summary(lane, c) if (c := lane.open_case_for(s)) else None) for s in lane.cfg.stations},
        "hardware": lane.last_hw_status,
        "devices": lane.device_state,
        "boards": [b.model_dump() for b in lane.hw.health()],
        "camera": {"source": lane.cfg.camera.source, "fps": lane.camera.fps, "reader": lane.reader.status},
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
    view["checklist"] = list(lane.rules.checklist(c.vehicle_type))
    view["required_photos"] = list(lane.rules.required_photos)
    view["timeline"] = lane.journal.case_events(case_id)
    view["new_energy"] = c.new_energy
    return view
