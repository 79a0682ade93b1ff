"""Every refusal the tablet gives, as ``{"ok": false, "error": <said in the tablet's language>}`` with its HTTP status.

Validation errors name the fields that were wrong but never echo the input back (it may be 600 kB long).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from edge.typed_routes import BadInput
from lane_controller.i18n import language_of, translator

# the refusals of Starlette itself (unreadable body, no route, body over its limit) in the tablet's words
_STATUS_KEYS = {400: "err_bad_body", 404: "err_not_found", 405: "err_not_found", 413: "err_body_too_large"}


class TabletError(HTTPException):
    """A refusal for the inspector: an i18n key (``lane_controller.i18n.STRINGS``) and the values it names."""

    def __init__(self, status: int, key: str, headers: dict[str, str] | None = None, **values: Any) -> None:
        super().__init__(status, key, headers)
        self.key = key
        self.values = values


def _say(request: Request, key: str, **values: Any) -> str:
    lang = language_of(request.cookies.get("lang"), request.app.state.lane.cfg.ui.language)
    return translator(lang)(key, **values)


def refusal(status: int, text: str, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    detail = extra.pop("detail", text)
    if status == 422 and not isinstance(detail, list):
        # the API description declares one shape for every 422 (FastAPI's): detail is a list of {loc, msg, type}
        detail = [{"loc": ["body"], "msg": text, "type": "value_error"}]
    return JSONResponse({"ok": False, "error": text, "detail": detail, **extra}, status_code=status, headers=headers)


async def tablet_error(request: Request, exc: TabletError) -> JSONResponse:
    return refusal(exc.status_code, _say(request, exc.key, **exc.values), exc.headers)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    key = _STATUS_KEYS.get(exc.status_code)
    text = _say(request, key) if key else str(exc.detail)
    return refusal(exc.status_code, text, getattr(exc, "headers", None))


def _where(loc: tuple[Any, ...]) -> str:
    """A field as the inspector would name it: ``station``, ``case_id``, ``body`` (the location kind left off)."""
    parts = loc[1:] if loc and loc[0] in ("body", "path", "query", "header", "cookie") else loc
    return ".".join(str(p)[:64] for p in parts) or "body"


async def bad_input(request: Request, exc: BadInput) -> JSONResponse:
    """422 naming the fields (``detail`` as FastAPI would give it, without the input values)."""
    errors = list(exc.errors())[:20]
    detail = [
        {"loc": [str(p)[:64] for p in e.get("loc", ())], "msg": str(e.get("msg", ""))[:200], "type": e.get("type")}
        for e in errors
    ]
    if any(e.get("type") == "json_invalid" for e in errors):
        return refusal(422, _say(request, "err_not_json"), detail=detail)
    fields = ", ".join(dict.fromkeys(_where(tuple(e.get("loc", ()))) for e in errors))
    return refusal(422, _say(request, "err_bad_input", fields=fields), detail=detail)


HANDLERS = {TabletError: tablet_error, HTTPException: http_error, BadInput: bad_input}


def install(app: Starlette) -> None:
    for kind, handler in HANDLERS.items():
        # Starlette types every handler as taking (Request, Exception), so one for a subclass is refused (arg-type)
        app.add_exception_handler(kind, handler)  # type: ignore[arg-type]
