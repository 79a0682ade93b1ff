"""Risk alerts: the page, the list, acknowledgement (ops viewer or admin) and resolution (admin), both audited."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import AlertId, Ctx, Me, PageOf, back_or_json, declare, fmt_ts

router = APIRouter()
AlertStatus = Literal["active", "open", "acknowledged", "resolved"]


@declare(router, "GET", "/alerts", Perm.READ, page=True, response_class=HTMLResponse)
def alerts_page(page: PageOf, ctx: Ctx, me: Me) -> HTMLResponse:
    return page.render(
        "alerts.html", alerts=ctx.store.alerts.recent(limit=300), fmt=fmt_ts, may_resolve=me.may(Perm.ADMIN)
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
