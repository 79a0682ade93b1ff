"""The examiner's page in the car: the item under way, the score, each deduction, the fix and the signals, live.

Read-only and small: no candidate's personal data beyond the name the exam
started with, no action but the language. It refreshes itself from
`/api/status` (no inline script: `static/page.js`); the same hardening as the
lane tablet (`edge.web_guard`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from edge.web_guard import BodyLimit, SecurityHeaders
from edge.web_serve import ServerReady, serve_app
from exam_vehicle.i18n import item_name, translator
from exam_vehicle.unit import ExamUnit

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _language(request: Request, default: str) -> str:
    lang = request.cookies.get("lang") or default
    return lang if lang in ("zh-CN", "en") else "zh-CN"


def create_page(unit: ExamUnit, manage_lifecycle: bool = False) -> FastAPI:
    """The page app over a unit; with `manage_lifecycle` the app starts the unit and stops it when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await unit.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await unit.stop()

    app = FastAPI(title="PassLane exam car", openapi_url=None, docs_url=None, redoc_url=None, lifespan=lifespan)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        lang = _language(request, unit.cfg.page.language)
        return templates.TemplateResponse(
            request,
            "status.html",
            {"s": unit.status(), "t": translator(lang), "lang": lang, "item_name": lambda i: item_name(i, lang)},
        )

    @router.get("/api/status")
    def status() -> dict[str, Any]:
        return unit.status()

    @router.get("/api/health")
    def health() -> dict[str, Any]:
        s = unit.status()
        return {
            "ok": True,
            "unit": s["unit"],
            "cloud_connected": s["cloud_connected"],
            "gnss": s["devices"]["gnss"]["online"],
            "exam_running": bool(s["exam"] and s["exam"]["running"]),
        }

    @router.get("/lang/{code}")
    def set_language(code: str = PathParam(pattern="^(zh-CN|en)$", max_length=5)) -> RedirectResponse:
        resp = RedirectResponse("/", 303)
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="strict", httponly=True)
        return resp

    app.include_router(router)
    app.add_middleware(BodyLimit, limit=4096)
    app.add_middleware(SecurityHeaders, csp=CSP)
    return app


async def serve(unit: ExamUnit, host: str, port: int, ready: ServerReady | None = None) -> None:
    """Run the unit and its page until cancelled or SIGTERM (uvicorn's graceful shutdown stops the unit)."""
    await serve_app(create_page(unit, manage_lifecycle=True), host, port, ready)
