"""Case search and a case's timeline, as pages and as JSON (`/cases`, `/api/cases`)."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import CaseId, Ctx, PageOf, SearchText, declare, fmt_ts

router = APIRouter()


def _summary(data: Any) -> str:
    """Event data for the timeline: long values (images) elided."""

    def short(v: Any) -> Any:
        if isinstance(v, str) and len(v) > 120:
            return v[:40] + f"… ({len(v)} chars)"
        if isinstance(v, dict):
            return {k: short(x) for k, x in v.items()}
        if isinstance(v, list):
            return [short(x) for x in v[:20]]
        return v

    return json.dumps(short(data), ensure_ascii=False)[:600]


def image_src(img: str | None) -> str | None:
    """A browser-usable source for a VIN photo: a data: URL or bare base64 (JPEG or PNG). A lane-local path is not, and
    neither is a remote URL (the page's Content-Security-Policy loads images only from the bridge and data: URLs)."""
    if not img:
        return None
    if img.startswith("data:image/"):
        return img
    if len(img) > 200 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", img):
        return ("data:image/png;base64," if img.startswith("iVBOR") else "data:image/jpeg;base64,") + img
    return None


@declare(router, "GET", "/cases", Perm.READ, page=True, response_class=HTMLResponse)
def cases_page(page: PageOf, ctx: Ctx, q: SearchText = "") -> HTMLResponse:
    return page.render("cases.html", q=q, results=ctx.store.cases.search(q) if q else None, fmt=fmt_ts)


@declare(router, "GET", "/cases/{case_id}", Perm.READ, page=True, response_class=HTMLResponse)
def case_page(page: PageOf, ctx: Ctx, case_id: CaseId) -> HTMLResponse:
    case = ctx.store.case(case_id)
    if case is None:
        raise HTTPException(404, "no such case")
    return page.render("case.html", case=case, fmt=fmt_ts, image=image_src(case.get("vin_image")), json=_summary)


@declare(router, "GET", "/api/cases", Perm.READ)
def api_search(ctx: Ctx, q: SearchText) -> list[dict[str, Any]]:
    return ctx.store.cases.search(q)


@declare(router, "GET", "/api/cases/{case_id}", Perm.READ)
def api_case(ctx: Ctx, case_id: CaseId) -> dict[str, Any]:
    case = ctx.store.case(case_id)
    if case is None:
        raise HTTPException(404, "no such case")
    return case
