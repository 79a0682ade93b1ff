"""Dashboard figures from the case view. Pure: cases, the clock and the time base in, numbers out.

Time base: a case's times are the `ts` of its events, stamped by the lane's clock ("event time"). At a real
site that is the site's time. A simulated site runs its world `time_scale` times faster than the lanes'
clocks (`passlane demo --speed`), so one second of event time stands for `time_scale` seconds of site
time. Every duration a person waits for is computed in event time, compared with limits in event time (the
risk rules' `case_open_limit_s`), and only then multiplied by the scale to be shown in site time; the
histogram's bins and the time ranges are in site time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
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

# the time-range picker: name -> (span, bucket), both in site seconds; 12 to 28 buckets each
RANGES: dict[str, tuple[float, float]] = {
    "1h": (3600.0, 300.0),
    "8h": (8 * 3600.0, 1800.0),
    "24h": (86400.0, 3600.0),
    "7d": (7 * 86400.0, 6 * 3600.0),
}
# histogram bin widths to choose from (minutes): each divides 30, so the 30-minute line falls on a bin edge
_BIN_MINUTES = (1, 2, 5, 10, 15, 30, 60)
_MAX_BINS = 30


@dataclass(frozen=True)
class TimeBase:
    """How event time (the lanes' clocks) relates to the site's time: one event second is `scale` site seconds."""

    scale: float = 1.0

    @property
    def simulated(self) -> bool:
        return self.scale != 1.0

    def site_s(self, event_s: float | None) -> float | None:
        """An event-time duration in site seconds."""
        return None if event_s is None else event_s * self.scale

    def event_s(self, site_s: float) -> float:
        """A site-time duration (a range, a bucket) in event seconds."""
        return site_s / self.scale


def nice_ticks(top: float, target: int = 5, integer: bool = True) -> list[float]:
    """Axis ticks from 0 to at least `top` at a 1-2-5 step, none repeated.

    Counts (`integer`) step by whole numbers: 0,1,2,3 for a top of 3, 0,10,20,30,40 for 37; a zero top gives 0,1.
    """
    top = max(float(top), 0.0)
    if top == 0:
        return [0.0, 1.0]
    raw = top / max(1, target)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def histogram(durations_min: Iterable[float], limit_min: float) -> dict[str, Any]:
    """Registration times (site minutes) in bins of a width that keeps the limit on a bin edge.

    The axis reaches at least 1.5 times the limit (so the limit line sits inside it) and covers the longest
    time up to 4 times the limit; anything longer is counted in `overflow`, drawn as the last bar.
    """
    values = [max(0.0, d) for d in durations_min]
    longest = max(values, default=0.0)
    wanted = min(max(limit_min * 1.5, longest), limit_min * 4) if limit_min > 0 else max(longest, 1.0)
    width = next((w for w in _BIN_MINUTES if wanted / w <= _MAX_BINS), _BIN_MINUTES[-1])
    bins = max(1, math.ceil(wanted / width))
    top = bins * width
    counts = [0] * bins
    overflow = 0
    for v in values:
        if v >= top:
            overflow += 1
        else:
            counts[int(v // width)] += 1
    return {
        "bin_minutes": width,
        "max_minutes": top,
        "counts": counts,
        "overflow": overflow,
        "limit_minutes": limit_min,
        "y_ticks": nice_ticks(max([*counts, overflow], default=0)),
    }


def _registered(cases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        c
        for c in cases
        if c.get("outcome") == "registered" and c.get("opened_at") is not None and c.get("closed_at") is not None
    ]


def _share_within(durations: list[float], limit_s: float) -> float | None:
    return (sum(1 for d in durations if d <= limit_s) / len(durations)) if durations else None


def registration_figures(
    cases: list[dict[str, Any]], limit_s: float = 1800.0, time_base: TimeBase | None = None
) -> dict[str, Any]:
    """Counts by outcome, registration times and their histogram, mean time per stage.

    `limit_s` is the promise in event time (the rules' `case_open_limit_s`); times come out in site seconds.
    """
    tb = time_base or TimeBase()
    done = _registered(cases)
    durations = [c["closed_at"] - c["opened_at"] for c in done]
    stage_means = []
    for key, a, b in STAGES:
        spans = [
            c["stage_times"][b] - c["stage_times"][a]
            for c in done
            if a in c.get("stage_times", {}) and b in c.get("stage_times", {})
        ]
        spans = [s for s in spans if s >= 0]
        mean = tb.site_s(sum(spans) / len(spans)) if spans else None
        stage_means.append({"stage": key, "mean_s": mean, "n": len(spans)})
    return {
        "registered": len(done),
        "rejected": sum(1 for c in cases if c.get("outcome") == "rejected"),
        "aborted": sum(1 for c in cases if c.get("outcome") == "aborted"),
        "median_s": tb.site_s(percentile(durations, 50)),
        "p95_s": tb.site_s(percentile(durations, 95)),
        "p99_s": tb.site_s(percentile(durations, 99)),
        "limit_s": tb.site_s(limit_s),
        "within_limit_share": _share_within(durations, limit_s),
        "histogram": histogram([d * tb.scale / 60 for d in durations], limit_s * tb.scale / 60),
        "stages": stage_means,
    }


def _open_at(cases: list[dict[str, Any]], t: float) -> int:
    return sum(
        1
        for c in cases
        if c.get("opened_at") is not None and c["opened_at"] <= t and (c.get("closed_at") is None or c["closed_at"] > t)
    )


def time_series(
    cases: list[dict[str, Any]], now: float, range_name: str, limit_s: float, time_base: TimeBase | None = None
) -> dict[str, Any]:
    """Registered cases, their share within the limit, and the queue (cases open), per bucket of the range.

    The range and bucket are site time; their edges are event time (`t0`, `t1`), ending at `now`. `queue`
    counts the cases open at the bucket's end; `sla_share` is over the registered cases closed in it (None
    when none closed).
    """
    tb = time_base or TimeBase()
    span_site, bucket_site = RANGES[range_name]
    n = round(span_site / bucket_site)
    bucket = tb.event_s(bucket_site)
    start = now - n * bucket
    done = _registered(cases)
    buckets: list[dict[str, Any]] = []
    most_registered = most_open = 0
    for i in range(n):
        t0, t1 = start + i * bucket, start + (i + 1) * bucket
        closed = [c["closed_at"] - c["opened_at"] for c in done if t0 <= c["closed_at"] < t1]
        queue = _open_at(cases, t1)
        most_registered, most_open = max(most_registered, len(closed)), max(most_open, queue)
        buckets.append(
            {
                "t0": t0,
                "t1": t1,
                "registered": len(closed),
                "sla_share": _share_within(closed, limit_s),
                "queue": queue,
            }
        )
    return {
        "range": range_name,
        "span_s": span_site,
        "bucket_s": bucket_site,
        "start": start,
        "end": now,
        "buckets": buckets,
        "registered_ticks": nice_ticks(most_registered),
        "queue_ticks": nice_ticks(most_open),
    }


def lane_comparison(
    cases: list[dict[str, Any]], units: list[str], start: float, end: float, limit_s: float, time_base: TimeBase
) -> list[dict[str, Any]]:
    """Per lane over [start, end) of event time: registered, throughput per site hour, median time, SLA share, open now."""
    span_h = (time_base.site_s(end - start) or 0.0) / 3600.0
    rows = []
    for unit in units:
        mine = [c for c in cases if c.get("unit") == unit]
        closed = [c for c in _registered(mine) if start <= c["closed_at"] < end]
        durations = [c["closed_at"] - c["opened_at"] for c in closed]
        rows.append(
            {
                "unit": unit,
                "registered": len(closed),
                "per_hour": len(closed) / span_h if span_h > 0 else None,
                "median_s": time_base.site_s(percentile(durations, 50)),
                "within_limit_share": _share_within(durations, limit_s),
                "open": sum(1 for c in mine if c.get("opened_at") is not None and c.get("closed_at") is None),
            }
        )
    return rows


def open_case_clocks(
    cases: list[dict[str, Any]], now: float, limit_s: float, time_base: TimeBase
) -> list[dict[str, Any]]:
    """Each open case's time so far and the time left to the limit (negative once over), in site seconds; most urgent first."""
    out = []
    for c in cases:
        if c.get("opened_at") is None or c.get("closed_at") is not None:
            continue
        elapsed = now - c["opened_at"]
        out.append(
            {
                "case_id": c["case_id"],
                "unit": c.get("unit"),
                "stage": c.get("stage"),
                "elapsed_s": time_base.site_s(elapsed),
                "remaining_s": time_base.site_s(limit_s - elapsed),
            }
        )
    return sorted(out, key=lambda r: r["remaining_s"])
