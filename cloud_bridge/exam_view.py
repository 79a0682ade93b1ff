"""The exam view: what an exam vehicle's `exam.*` events mean for the bridge's exam row. Pure: no I/O.

The store (`cloud_bridge/store/exams.py`) locks an exam's row, hands it here with
one event, and writes back what comes out; the risk rules judge the findings.
Exam events carry the exam id in `case_id` but are not registration cases
(`edge.contract.is_case_event`). Whatever a car put in `data`, nothing here
raises for it: odd values are read as absent.
"""

from __future__ import annotations

import json
from typing import Any

from edge.contract import EventEnvelope, EventKind

FINAL = ("passed", "failed", "invalid", "interrupted")
QUALITY_RANK = {"invalid": 0, "dead_reckoning": 1, "gps": 2, "dgps": 3, "rtk_float": 4, "rtk_fixed": 5}
EXAM_KINDS = frozenset(
    {
        EventKind.EXAM_STARTED,
        EventKind.EXAM_ITEM_STARTED,
        EventKind.EXAM_ITEM_ENDED,
        EventKind.EXAM_DEDUCTION,
        EventKind.EXAM_RESULT,
        EventKind.EXAM_INVALID,
        EventKind.EXAM_INTERRUPTED,
        EventKind.EXAM_TRACK_CHUNK,
    }
)


def text(v: Any, limit: int = 200) -> str | None:
    """A string field of `data`, cut to `limit`; None when absent or not a string."""
    return v.replace("\x00", "")[:limit] if isinstance(v, str) else None  # PostgreSQL refuses NUL in text


def number(v: Any) -> float | None:
    """A numeric field of `data` (a bool is not one); None otherwise."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def apply(row: dict[str, Any], ev: EventEnvelope) -> dict[str, Any]:
    """The exam row after one event (started, item, result, invalid, interrupted); deductions and pieces are the store's."""
    d, r = ev.data, dict(row)
    final = r.get("status") in FINAL
    match ev.kind:
        case EventKind.EXAM_STARTED:
            for k in ("candidate", "car", "course", "rules_version"):
                r[k] = text(d.get(k)) or r.get(k)
            r["started_at"] = ev.ts if r.get("started_at") is None else r["started_at"]
        case EventKind.EXAM_ITEM_STARTED:
            r["item"] = None if final else text(d.get("item"), 64)
        case EventKind.EXAM_ITEM_ENDED:
            r["item"] = None
        case EventKind.EXAM_DEDUCTION:
            score = number(d.get("score"))
            r["score"] = int(score) if score is not None and not final else r.get("score")
        case EventKind.EXAM_RESULT:
            passed = d.get("passed")
            if r.get("status") != "invalid" or isinstance(passed, bool):
                r["status"] = "passed" if passed is True else "failed" if passed is False else "invalid"
            score = number(d.get("score"))
            r["score"] = int(score) if score is not None else r.get("score")
            r["ended_by"] = text(d.get("ended_by"), 32)
            r["reason"] = text(d.get("failed_by")) or r.get("reason")
            r["rules_version"] = text(d.get("rules_version")) or r.get("rules_version")
            r["ended_at"], r["item"] = ev.ts, None
        case EventKind.EXAM_INVALID:
            if r.get("status") not in ("passed", "failed"):
                r["status"] = "invalid"
            r["reason"] = text(d.get("reason"), 500)
        case EventKind.EXAM_INTERRUPTED:
            if not final:
                r["status"], r["reason"], r["ended_at"], r["item"] = (
                    "interrupted",
                    text(d.get("reason"), 500),
                    ev.ts,
                    None,
                )
    return r


def result_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """A judged result stored before was replaced by another (a second `exam.result` that says otherwise)."""
    judged = ("passed", "failed")
    return before.get("status") in judged and (before.get("status"), before.get("score")) != (
        after.get("status"),
        after.get("score"),
    )


def deduction_row(exam_id: str, ev: EventEnvelope) -> tuple[Any, ...] | None:
    """The `exam_deductions` row of an `exam.deduction` event; None when it names no rule."""
    d = ev.data
    rule = text(d.get("rule_id"), 64)
    if rule is None:
        return None
    points = number(d.get("points"))
    fail = d.get("fail") is True
    return (
        exam_id,
        ev.seq,
        ev.ts,
        text(d.get("item"), 64),
        rule,
        0 if fail or points is None else int(points),
        int(fail),
        text(d.get("wording"), 500),
        number(d.get("e")),
        number(d.get("n")),
        number(d.get("lat")),
        number(d.get("lon")),
    )


def worst_quality(track_lines: bytes) -> str | None:
    """The worst fix quality among the track's epochs (the judge saw every one); None without epochs."""
    worst: str | None = None
    for line in track_lines.splitlines():
        if b'"epoch"' not in line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        q = obj.get("quality", "invalid") if obj.get("kind") == "epoch" else None
        if q in QUALITY_RANK and (worst is None or QUALITY_RANK[q] < QUALITY_RANK[worst]):
            worst = q
    return worst
