"""The overview page and the figures behind it (`/`, `/api/dashboard`, `/api/stats`)."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud_bridge.auth import Perm
from cloud_bridge.figures import (
    RANGES,
    TimeBase,
    lane_comparison,
    open_case_clocks,
    registration_figures,
    time_series,
)
from cloud_bridge.i18n import strings
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import Store
from cloud_bridge.web.alerts import VALUE_PREFIXES
from cloud_bridge.web.common import Ctx, PageOf, declare

router = APIRouter()
RangeName = Literal["1h", "8h", "24h", "7d"]  # the keys of figures.RANGES
DEFAULT_RANGE: RangeName = "24h"


def heard_limits(rules: RiskRulesConfig) -> dict[str, float]:
    """When a unit's silence turns the "last heard" cell amber, then red (real seconds: software, not people).

    Red is when the sweep counts it offline; amber a quarter of that, several missed telemetry beats.
    """
    return {"warn_s": rules.device_offline_after_s / 4, "late_s": rules.device_offline_after_s}


def _unit_row(u: dict[str, Any], now: float, offline_after_s: float, tb: TimeBase) -> dict[str, Any]:
    """One lane as the overview shows it: online, last heard, stage and for how long (site time), queue, boards, outbox."""
    tel = u.get("telemetry") or {}
    silent = u.get("last_seen_at") is None or now - u["last_seen_at"] > offline_after_s
    return {
        "unit": u["unit"],
        "role": u.get("role"),
        "state": u.get("state") or "unknown",
        "online": u.get("state") == "online" and not silent,
        "last_seen_at": u.get("last_seen_at"),
        "last_seen_age_s": None if u.get("last_seen_at") is None else now - u["last_seen_at"],
        "stage": u.get("case_stage") or u.get("stage"),
        "stage_age_s": None if u.get("stage_since") is None else tb.site_s(now - u["stage_since"]),
        "current_case": u.get("current_case"),
        "queue": u.get("open_cases", 0),
        "outbox_depth": u.get("outbox_depth"),
        "acked_seq": u.get("acked_seq"),
        "boards": [{"name": b.get("name"), "online": b.get("online")} for b in tel.get("boards", [])],
        "boards_offline": u.get("boards_offline") or [],
        "cpu_temp_c": tel.get("cpu_temp_c"),
        "load_1m": tel.get("load_1m"),
    }


def dashboard_view(
    store: Store, rules: RiskRulesConfig, now: float, tb: TimeBase | None = None, range_name: str = DEFAULT_RANGE
) -> dict[str, Any]:
    """Every site's lanes, the range's figures and series, lanes compared, open cases against the limit, active alerts.

    Exam sites: `/api/exam/summary`. Durations are site seconds (`time_scale`), the unit's silence real seconds.
    """
    tb = tb or TimeBase()
    limit = rules.case_open_limit_s
    start = now - tb.event_s(RANGES[range_name][0])
    cases = store.cases.active_since(start)
    sites: dict[str, list[dict[str, Any]]] = {}
    for u in store.units():
        if u.get("role") not in ("bridge", "ops", "exam-vehicle"):  # exam cars: the exam section (/api/exam/summary)
            sites.setdefault(u["site"], []).append(_unit_row(u, now, rules.device_offline_after_s, tb))
    lanes = sorted({u["unit"] for us in sites.values() for u in us} | {c["unit"] for c in cases if c.get("unit")})
    closed_in_range = [c for c in cases if c.get("closed_at") is not None]
    return {
        "now": now,
        "time_scale": tb.scale,
        "simulated": tb.simulated,
        "range": range_name,
        "ranges": list(RANGES),
        "heard": heard_limits(rules),
        "sites": [{"site": s, "units": us} for s, us in sorted(sites.items())],
        "figures": registration_figures(closed_in_range, limit, tb),
        "series": time_series(cases, now, range_name, limit, tb),
        "lanes": lane_comparison(cases, lanes, start, now, limit, tb),
        "open_cases": open_case_clocks(cases, now, limit, tb)[:50],
        "alerts": store.alerts.recent("active", limit=50),
        "counts": store.counts(),
    }


@declare(router, "GET", "/", Perm.STATS, page=True, response_class=HTMLResponse)
def dashboard_page(page: PageOf, ctx: Ctx) -> Response:
    """The ops overview; an exam operator (who signs in to `/` like everyone) is sent on to the exam console."""
    if page.user is not None and not page.user.may(Perm.READ):
        return RedirectResponse("/exam", status_code=303)
    return page.render(
        "dashboard.html",
        t_json=json.dumps(strings(page.lang), ensure_ascii=False),
        prefixes_json=json.dumps(VALUE_PREFIXES),
        simulated=ctx.settings.dashboard.simulated,
        time_scale=ctx.settings.dashboard.time_scale,
        ranges=list(RANGES),
    )


@declare(router, "GET", "/api/dashboard", Perm.READ)
def api_dashboard(ctx: Ctx, range_name: Annotated[RangeName, Query(alias="range")] = DEFAULT_RANGE) -> dict[str, Any]:
    """The overview's figures for one time range (site time: in a sped-up simulation, simulated hours)."""
    tb = TimeBase(ctx.settings.dashboard.time_scale)
    return dashboard_view(ctx.store, ctx.service.rules, time.time(), tb, range_name)


@declare(router, "GET", "/api/stats", Perm.STATS)
def api_stats(ctx: Ctx) -> dict[str, Any]:
    """The summary figures; registration times in event seconds, as the lanes stamped them (`time_scale` to convert)."""
    counts = ctx.store.counts()
    figures = registration_figures(ctx.store.cases.closed_since(0), ctx.service.rules.case_open_limit_s)
    return {
        **counts,
        "time_scale": ctx.settings.dashboard.time_scale,
        "registration_time_s": {
            "n": figures["registered"],
            "p50": figures["median_s"],
            "p95": figures["p95_s"],
            "p99": figures["p99_s"],
            "within_30min_share": figures["within_limit_share"],
        },
    }
