"""Risk alerts: the page, the list, acknowledgement (ops viewer or admin) and resolution (admin), both audited.

An alert's detail is worded here from its `code` and `values` through the catalogue (`ad_<code>`), in the
reader's language; `static/dashboard.js` (`alertText`) words it the same way on the overview.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud_bridge.auth import Perm
from cloud_bridge.i18n import strings
from cloud_bridge.web.common import AlertId, Ctx, Me, PageOf, back_or_json, declare, fmt_ts

router = APIRouter()
AlertStatus = Literal["active", "open", "acknowledged", "resolved"]

# values named by these keys are said through the catalogue: key -> prefix of the catalogue entry
VALUE_PREFIXES = {
    "device": "dev_",
    "fault": "fault_",
    "barrier": "v_barrier_",
    "stage": "ev_",
    "kind": "ev_",
    "fix": "exam_fix_",
    "was": "exam_st_",
    "now": "exam_st_",
    "state": "track_",
}
_FIELD = re.compile(r"\{([a-z_]+)\}")


def duration_text(seconds: float, t: dict[str, str]) -> str:
    """A duration as the overview says it (12s, 4m05s, 1h07m), in the catalogue's units."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}{t['unit_s']}"
    m, r = divmod(s, 60)
    if m < 60:
        return f"{m}{t['unit_m']}" + (f"{r:02d}{t['unit_s']}" if r else "")
    return f"{m // 60}{t['unit_h']}{m % 60:02d}{t['unit_m']}"


def value_text(name: str, value: Any, t: dict[str, str], time_scale: float) -> str:
    """One value of an alert's detail: a duration (`*_s` in event time, shown in site time; `*_real_s` as it is),
    a clock time (`at`), a catalogue word (see VALUE_PREFIXES) or the value itself."""
    if value is None or value == "":
        return "—"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if name.endswith("_real_s"):
            return duration_text(value, t)
        if name.endswith("_s"):
            return duration_text(value * time_scale, t)
        if name == "at":
            return dt.datetime.fromtimestamp(value).strftime("%H:%M:%S")
    prefix = VALUE_PREFIXES.get(name)
    return t.get(f"{prefix}{value}", str(value)) if prefix else str(value)


def alert_text(alert: dict[str, Any], t: dict[str, str], time_scale: float = 1.0) -> str:
    """The alert's detail in the catalogue's language; its stored English text when its code has no entry."""
    template = t.get(f"ad_{alert.get('code')}")
    if not template:
        return str(alert.get("detail") or "")
    values = alert.get("values") or {}
    return _FIELD.sub(lambda m: value_text(m.group(1), values.get(m.group(1)), t, time_scale), template)


def status_text(alert: dict[str, Any], t: dict[str, str]) -> str:
    """Open, acknowledged, resolved (by whom), or cleared itself (and why)."""
    if alert.get("cleared"):
        return t["alert_cleared_why"].format(why=t.get(f"clear_{alert['cleared']}", str(alert["cleared"])))
    return t.get(f"alert_{alert.get('status')}", str(alert.get("status")))


@declare(router, "GET", "/alerts", Perm.READ, page=True, response_class=HTMLResponse)
def alerts_page(page: PageOf, ctx: Ctx, me: Me) -> HTMLResponse:
    scale = ctx.settings.dashboard.time_scale
    t = strings(page.lang)
    return page.render(
        "alerts.html",
        alerts=ctx.store.alerts.recent(limit=300),
        fmt=fmt_ts,
        may_resolve=me.may(Perm.ADMIN),
        alert_text=lambda a: alert_text(a, t, scale),
        status_text=lambda a: status_text(a, t),
    )


@declare(router, "GET", "/api/alerts", Perm.READ)
def api_alerts(ctx: Ctx, status: Annotated[AlertStatus | None, Query()] = None) -> list[dict[str, Any]]:
    return ctx.store.alerts.recent(status)


@declare(router, "POST", "/api/alerts/{alert_id}/ack", Perm.ACK)
def api_ack(request: Request, ctx: Ctx, me: Me, alert_id: AlertId) -> Response:
    if not ctx.service.acknowledge_alert(alert_id, me.name):
        raise HTTPException(409, "no open alert with that id")
    return back_or_json(request, "/alerts", {"id": alert_id, "status": "acknowledged", "by": me.name})


@declare(router, "POST", "/api/alerts/{alert_id}/resolve", Perm.ADMIN)
def api_resolve(request: Request, ctx: Ctx, me: Me, alert_id: AlertId) -> Response:
    if not ctx.service.resolve_alert(alert_id, me.name):
        raise HTTPException(409, "no unresolved alert with that id")
    return back_or_json(request, "/alerts", {"id": alert_id, "status": "resolved", "by": me.name})
