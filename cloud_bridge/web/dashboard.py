"""The overview page and the figures behind it (`/`, `/api/dashboard`, `/api/stats`)."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud_bridge.auth import Perm
from cloud_bridge.figures import registration_figures
from cloud_bridge.i18n import strings
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import Store
from cloud_bridge.web.common import Ctx, PageOf, declare

router = APIRouter()


def _day_start(now: float) -> float:
    d = dt.datetime.fromtimestamp(now).astimezone()
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _unit_row(u: dict[str, Any], now: float, offline_after_s: float) -> dict[str, Any]:
    """One lane as the overview shows it: online, stage and for how long, queue, boards, outbox."""
    tel = u.get("telemetry") or {}
    silent = u.get("last_seen_at") is None or now - u["last_seen_at"] > offline_after_s
    return {
        "unit": u["unit"],
        "role": u.get("role"),
        "state": u.get("state") or "unknown",
        "online": u.get("state") == "online" and not silent,
        "last_seen_age_s": None if u.get("last_seen_at") is None else now - u["last_seen_at"],
        "stage": u.get("case_stage") or u.get("stage"),
        "stage_age_s": None if u.get("stage_since") is None else now - u["stage_since"],
        "current_case": u.get("current_case"),
        "queue": u.get("open_cases", 0),
        "outbox_depth": u.get("outbox_depth"),
        "acked_seq": u.get("acked_seq"),
        "boards": [{"name": b.get("name"), "online": b.get("online")} for b in tel.get("boards", [])],
        "boards_offline": u.get("boards_offline") or [],
        "cpu_temp_c": tel.get("cpu_temp_c"),
        "load_1m": tel.get("load_1m"),
    }


def dashboard_view(store: Store, rules: RiskRulesConfig, now: float) -> dict[str, Any]:
    """Every site's lanes, today's figures, active alerts and the ingest counts (exam sites: `/api/exam/summary`)."""
    sites: dict[str, list[dict[str, Any]]] = {}
    for u in store.units():
        if u.get("role") not in ("bridge", "ops", "exam-vehicle"):  # exam cars: the exam section (/api/exam/summary)
            sites.setdefault(u["site"], []).append(_unit_row(u, now, rules.device_offline_after_s))
    figures = registration_figures(store.cases.closed_since(_day_start(now)), rules.case_open_limit_s)
    return {
        "now": now,
        "sites": [{"site": s, "units": us} for s, us in sorted(sites.items())],
        "today": figures,
        "alerts": store.alerts.recent("active", limit=50),
        "counts": store.counts(),
    }


@declare(router, "GET", "/", Perm.STATS, page=True, response_class=HTMLResponse)
def dashboard_page(page: PageOf) -> Response:
    """The ops overview; an exam operator (who signs in to `/` like everyone) is sent on to the exam console."""
    if page.user is not None and not page.user.may(Perm.READ):
        return RedirectResponse("/exam", status_code=303)
    return page.render("dashboard.html", t_json=json.dumps(strings(page.lang), ensure_ascii=False))


@declare(router, "GET", "/api/dashboard", Perm.READ)
def api_dashboard(ctx: Ctx) -> dict[str, Any]:
    return dashboard_view(ctx.store, ctx.service.rules, time.time())


@declare(router, "GET", "/api/stats", Perm.STATS)
def api_stats(ctx: Ctx) -> dict[str, Any]:
    counts = ctx.store.counts()
    figures = registration_figures(ctx.store.cases.closed_since(0), ctx.service.rules.case_open_limit_s)
    return {
        **counts,
        "registration_time_s": {
            "n": figures["registered"],
            "p50": figures["median_s"],
            "p95": figures["p95_s"],
            "p99": figures["p99_s"],
            "within_30min_share": figures["within_limit_share"],
        },
    }
