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
from typing import Annotated, Any

from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from edge.typed_routes import BadInput, Router, bad_input_answer
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


LanguageCode = Annotated[str, Field(pattern="^(zh-CN|en)$", max_length=5)]


def create_page(unit: ExamUnit, manage_lifecycle: bool = False) -> Starlette:
    """The page app over a unit; with `manage_lifecycle` the app starts the unit and stops it when it stops."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await unit.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await unit.stop()

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    router = Router()

    @router.get("/", html=True)
    async def page(request: Request) -> HTMLResponse:
        lang = _language(request, unit.cfg.page.language)
        return templates.TemplateResponse(
            request,
            "status.html",
            {"s": unit.status(), "t": translator(lang), "lang": lang, "item_name": lambda i: item_name(i, lang)},
        )

    @router.get("/api/status")
    async def status() -> dict[str, Any]:
        return unit.status()

    @router.get("/api/health")
    async def health() -> dict[str, Any]:
        s = unit.status()
        return {
            "ok": True,
            "unit": s["unit"],
            "cloud_connected": s["cloud_connected"],
            "gnss": s["devices"]["gnss"]["online"],
            "exam_running": bool(s["exam"] and s["exam"]["running"]),
        }

    @router.get("/lang/{code}")
    async def set_language(code: LanguageCode) -> RedirectResponse:
        resp = RedirectResponse("/", 303)
        resp.set_cookie("lang", code, max_age=365 * 86400, samesite="strict", httponly=True)
        return resp

    static = Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app = Starlette(routes=[*router.routes, static], lifespan=lifespan, exception_handlers={BadInput: bad_input_answer})
    app.add_middleware(BodyLimit, limit=4096)
    app.add_middleware(SecurityHeaders, csp=CSP)
    return app


async def serve(unit: ExamUnit, host: str, port: int, ready: ServerReady | None = None) -> None:
    """Run the unit and its page until cancelled or SIGTERM (uvicorn's graceful shutdown stops the unit)."""
    await serve_app(create_page(unit, manage_lifecycle=True), host, port, ready)
