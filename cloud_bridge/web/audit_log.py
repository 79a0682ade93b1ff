"""The audit log with its chain check (admin). Pending sign-in summaries are written before the log is read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import Ctx, PageOf, declare, fmt_ts

router = APIRouter()


@declare(router, "GET", "/audit", Perm.ADMIN, page=True, response_class=HTMLResponse)
def audit_page(page: PageOf, ctx: Ctx) -> HTMLResponse:
    ctx.accounts.flush_audit()
    return page.render(
        "audit.html", rows=ctx.store.audit.entries(limit=300), problems=ctx.store.audit.verify(), fmt=fmt_ts
    )


@declare(router, "GET", "/api/audit", Perm.ADMIN)
def api_audit(ctx: Ctx) -> dict[str, Any]:
    ctx.accounts.flush_audit()
    return {"problems": ctx.store.audit.verify(), "entries": ctx.store.audit.entries(limit=1000)}
