"""The pages and the live fragments the pages re-render, and the language toggle."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from edge.typed_routes import Router
from lane_controller.i18n import (
    CASE_REASONS,
    COLOURS,
    END_REASONS,
    EVENTS,
    ITEMS,
    LANGUAGES,
    PHOTOS,
    STAGES,
    VALUES,
    device_name,
    translate_cloud_error,
    translate_device_message,
    translate_reason,
    translator,
)
from lane_controller.runtime import Lane
from lane_controller.tablet.bodies import CaseId, LanguageCode, NextPage
from lane_controller.tablet.deps import Actor, LaneDep, case_view, language, over_tls, signed_in
from lane_controller.views import STEP_ACTIONS, payment_qr

router = Router()

# the tablet's own paths (what base.html passes as ?next=): one leading '/', never '//' or '/\', no scheme
LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9/_.~-]{0,255}")


def local_path(target: str) -> str:
    """Where the language toggle may send the browser back to: the page it came from, else the overview."""
    return target if LOCAL_PATH.fullmatch(target) else "/"


def render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
    lane: Lane = request.app.state.lane
    lang = language(request)
    t = translator(lang)
    return request.app.state.templates.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "lang": lang,
            "stage_name": lambda s: t(s, STAGES),
            "item_name": lambda s: t(s, ITEMS),
            "photo_name": lambda s: t(s, PHOTOS),
            "event_name": lambda s: t(s, EVENTS),
            "value": lambda s: "" if s is None else t(str(s), VALUES),
            "device_message": lambda s: translate_device_message(s, lang),
            "cloud_error": lambda s: translate_cloud_error(s, lang),
            "device_name": lambda s: device_name(s, lang),
            "reason": lambda r: translate_reason(r, lang),
            "colour": lambda s: t(s, COLOURS) if s else "",
            "end_reasons": END_REASONS,
            "case_reasons": CASE_REASONS,
            "step_actions": STEP_ACTIONS,
            "qr": lambda url: Markup(svg) if (svg := payment_qr(url)) else "",  # segno's own SVG: no page input
            "me": signed_in(request),
            "lane": lane,
            "promise_s": lane.cfg.promise_minutes * 60,
            "simulated": lane.cfg.ui.time_scale != 1.0,  # case times are a sped-up site's simulated minutes
            **ctx,
        },
    )


@router.get("/", html=True)
async def overview_page(request: Request, lane: LaneDep) -> Response:
    if signed_in(request) is None:
        return RedirectResponse("/login", 303)
    return render(request, "overview.html", ov=lane.overview())


@router.get("/login", html=True)
async def login_page(request: Request) -> Response:
    return render(request, "login.html")


@router.get("/cases/{case_id}", html=True)
async def case_page(request: Request, case_id: CaseId, lane: LaneDep) -> Response:
    if signed_in(request) is None:
        return RedirectResponse("/login", 303)
    return render(request, "case.html", c=case_view(lane, case_id), ov=lane.overview())


@router.get("/fragments/overview", html=True)
async def overview_fragment(request: Request, lane: LaneDep, _: Actor) -> Response:
    return render(request, "_overview.html", ov=lane.overview())


@router.get("/fragments/cases/{case_id}", html=True)
async def case_fragment(request: Request, case_id: CaseId, lane: LaneDep, _: Actor) -> Response:
    return render(request, "_case.html", c=case_view(lane, case_id), ov=lane.overview())


@router.get("/lang/{code}")
async def set_lang(request: Request, code: LanguageCode, next: NextPage = "/") -> Response:  # noqa: A002 - the URL's name
    resp = RedirectResponse(local_path(next), 303)
    resp.set_cookie(
        "lang",
        code if code in LANGUAGES else "zh-CN",
        max_age=365 * 86400,
        httponly=True,
        samesite="strict",
        secure=over_tls(request),
    )
    return resp
