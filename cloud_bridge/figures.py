"""Dashboard figures from closed cases. Pure."""

from __future__ import annotations

from typing import Any

from edge.stats import percentile

# (label key, from event kind, to event kind): the lane's stages in order
STAGES = [
    ("stage_admission", "case.opened", "case.admitted"),
    ("stage_inspection", "case.admitted", "case.inspected"),
    ("stage_plate", "case.inspected", "case.plate_reserved"),
    ("stage_payment", "case.plate_reserved", "case.paid"),
    ("stage_issue", "case.paid", "case.plates_issued"),
    ("stage_exit", "case.plates_issued", "case.closed"),
]


def registration_figures(
    cases: list[dict[str, Any]], limit_s: float = 1800.0, bin_minutes: int = 2, max_minutes: int = 60
) -> dict[str, Any]:
    done = [
        c
        for c in cases
        if c.get("outcome") == "registered" and c.get("opened_at") is not None and c.get("closed_at") is not None
    ]
    durations = [c["closed_at"] - c["opened_at"] for c in done]
    bins = [0] * (max_minutes // bin_minutes + 1)  # the last bin holds everything beyond max_minutes
    for d in durations:
        bins[min(len(bins) - 1, int(d // 60 // bin_minutes))] += 1
    stage_means = []
    for key, a, b in STAGES:
        spans = [
            c["stage_times"][b] - c["stage_times"][a]
            for c in done
            if a in c.get("stage_times", {}) and b in c.get("stage_times", {})
        ]
        spans = [s for s in spans if s >= 0]
        stage_means.append({"stage": key, "mean_s": (sum(spans) / len(spans)) if spans else None, "n": len(spans)})
    return {
        "registered": len(done),
        "rejected": sum(1 for c in cases if c.get("outcome") == "rejected"),
        "aborted": sum(1 for c in cases if c.get("outcome") == "aborted"),
        "median_s": percentile(durations, 50),
        "p95_s": percentile(durations, 95),
        "p99_s": percentile(durations, 99),
        "within_limit_share": (sum(1 for d in durations if d <= limit_s) / len(durations)) if durations else None,
        "histogram": {
            "bin_minutes": bin_minutes,
            "max_minutes": max_minutes,
            "counts": bins,
            "limit_minutes": limit_s / 60,
        },
        "stages": stage_means,
    }
