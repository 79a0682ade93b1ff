"""What every router shares: the permission table, guards and CSRF as dependencies, bounded inputs, pages, cookies.

Every route is added through `declare`, which records its permission in
`ROUTE_PERMS` once, at import; a test walks the app's routes and checks each
one refuses the unauthenticated and the under-privileged.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cloud_bridge.accounts import Accounts
from cloud_bridge.auth import Perm, Principal
from cloud_bridge.config import BridgeSettings
from cloud_bridge.i18n import LANGS, strings
from cloud_bridge.metrics import Metrics
from cloud_bridge.service import Service
from cloud_bridge.store import Store
from edge.contract import SITE_ID_RE, UNIT_ID_RE

PACKAGE = FsPath(__file__).resolve().parents[1]
TEMPLATES = Jinja2Templates(directory=str(PACKAGE / "templates"))
SESSION_COOKIE = "passlane_session"
LOGIN_CSRF_COOKIE = "passlane_login_csrf"
LANG_COOKIE = "passlane_lang"
PUBLIC = "public"

# (method, path) -> permission, or PUBLIC; filled once as the router modules are imported
ROUTE_PERMS: dict[tuple[str, str], Perm | str] = {}

# ------------------------------------------------------------------ bounded inputs
MAX_INT = 2**53  # ids and sequence numbers: exact in JSON and JavaScript, far inside BIGINT
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # PostgreSQL refuses NUL; control characters are never part of a name
TOKEN_TEXT = r"^[^\x00-\x20\x7f/]+$"  # an identifier: printable, no spaces, no slash

CaseId = Annotated[str, Path(min_length=1, max_length=128, pattern=TOKEN_TEXT)]
UnitId = Annotated[str, Path(max_length=32, pattern=UNIT_ID_RE.pattern)]
SiteId = Annotated[str, Path(max_length=32, pattern=SITE_ID_RE.pattern)]
PaymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
PlateNumber = Annotated[str, Path(min_length=1, max_length=16, pattern=TOKEN_TEXT)]
AlertId = Annotated[int, Path(ge=1, le=MAX_INT)]
SearchText = Annotated[str, Query(max_length=100, pattern=NO_CONTROL)]


# ------------------------------------------------------------------ refusals of input
async def bad_input(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 answer (``detail``: each error's type, loc and msg) without echoing the input back, never a 500.

    FastAPI's own handler encoded each error's ``input``: a body it could not read as JSON (sent as text/plain, a
    form, or without a content type) came back as bytes and was decoded as UTF-8, a JSON string with a lone
    surrogate (``"\\ud800"``) could not be encoded, and NaN is not JSON: each raised inside the handler."""
    detail = [
        {
            "type": str(e.get("type", "")),
            "loc": [p if isinstance(p, int) else str(p)[:64] for p in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:200],
        }
        for e in list(exc.errors())[:20]
    ]
    return JSONResponse({"detail": detail}, status_code=422)


# ------------------------------------------------------------------ the app's parts, per request
@dataclass(frozen=True)
class AppContext:
    settings: BridgeSettings
    store: Store
    service: Service
    accounts: Accounts
    metrics: Metrics


def context(request: Request) -> AppContext:
    return request.app.state.ctx


Ctx = Annotated[AppContext, Depends(context)]


def current_principal(request: Request, ctx: Ctx) -> Principal | None:
    """The caller (bearer token or session cookie), looked up once per request. Sync: the store blocks."""
    return ctx.accounts.principal(request.headers.get("authorization", ""), request.cookies.get(SESSION_COOKIE))


MaybePrincipal = Annotated[Principal | None, Depends(current_principal)]


def _guard(perm: Perm, page: bool) -> Callable[..., Principal]:
    def require(p: MaybePrincipal) -> Principal:
        if p is None:
            if page:
                raise HTTPException(303, headers={"Location": "/login"})
            raise HTTPException(401, "sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
        if not p.may(perm):
            raise HTTPException(403, f"role {p.role.value} may not do this ({perm.value})")
        return p

    require.__name__ = f"require_{perm.value}{'_page' if page else ''}"
    return require


GUARDS: dict[tuple[Perm, bool], Callable[..., Principal]] = {
    (perm, page): _guard(perm, page) for perm in Perm for page in (False, True)
}


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any text (secrets.compare_digest raises on non-ASCII str)."""
    return bool(expected) and hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8", "replace"))


async def csrf_protect(request: Request, p: MaybePrincipal) -> None:
    """A state-changing request made with a session cookie must echo the session's CSRF token (header or form field)."""
    if request.method in ("GET", "HEAD") or p is None or p.via != "session":
        return
    given: Any = request.headers.get("x-csrf-token")
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = (await request.form()).get("csrf")
    if not isinstance(given, str) or not same_secret(given, p.csrf or ""):
        raise HTTPException(403, "missing or wrong CSRF token")


def signed_in(p: MaybePrincipal) -> Principal:
    if p is None:
        raise HTTPException(401, "sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
    return p


Me = Annotated[Principal, Depends(signed_in)]
F = TypeVar("F", bound=Callable[..., Any])


def declare(
    router: APIRouter, method: str, path: str, perm: Perm | str, *, page: bool = False, **kw: Any
) -> Callable[[F], F]:
    """Add a route guarded by `perm` (pages redirect to sign-in) and record the permission in ROUTE_PERMS."""

    def deco(fn: F) -> F:
        ROUTE_PERMS[(method, path)] = perm
        deps = [] if perm == PUBLIC else [Depends(GUARDS[(Perm(perm), page)]), Depends(csrf_protect)]
        router.add_api_route(path, fn, methods=[method], dependencies=deps, **kw)
        return fn

    return deco


# ------------------------------------------------------------------ pages and cookies
def cookies_secure(request: Request, ctx: AppContext) -> bool:
    """Secure cookies over TLS, or always with http.secure_cookies (TLS ends at a proxy)."""
    return ctx.settings.http.secure_cookies or request.url.scheme == "https"


def set_cookie(
    resp: Response, request: Request, ctx: AppContext, name: str, value: str, max_age: int | None = None
) -> None:
    resp.set_cookie(
        name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=cookies_secure(request, ctx)
    )


def delete_cookie(resp: Response, request: Request, ctx: AppContext, name: str) -> None:
    resp.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=cookies_secure(request, ctx))


@dataclass(frozen=True)
class Page:
    """A page request: its language, its user, and how to render a template with both."""

    request: Request
    ctx: AppContext
    lang: str
    user: Principal | None

    def render(self, name: str, **values: Any) -> HTMLResponse:
        t = strings(self.lang)
        resp = TEMPLATES.TemplateResponse(
            self.request,
            name,
            {
                "t": t,
                "tv": lambda prefix, value: value_text(t, prefix, value),
                "lang": self.lang,
                "other_lang": "en" if self.lang == "zh-CN" else "zh-CN",
                "user": self.user,
                "csrf": (self.user.csrf if self.user else None) or "",
                **values,
            },
        )
        if self.request.query_params.get("lang") in LANGS:
            set_cookie(resp, self.request, self.ctx, LANG_COOKIE, self.lang)
        return resp


def value_text(t: dict[str, str], prefix: str, value: Any) -> str:
    """A stored value (an outcome, an event kind, a rule) in the page's words: its catalogue entry `prefix + value`,
    else the value itself (an exam rule or a new value has no entry yet)."""
    if value is None or value == "":
        return ""
    return t.get(f"{prefix}{value}", str(value))


def page_of(
    request: Request, ctx: Ctx, p: MaybePrincipal, lang: Annotated[str | None, Query(max_length=8)] = None
) -> Page:
    default = ctx.settings.http.default_language
    chosen = lang or request.cookies.get(LANG_COOKIE) or default
    return Page(request, ctx, chosen if chosen in LANGS else default, p)


PageOf = Annotated[Page, Depends(page_of)]


def fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def back_or_json(request: Request, back: str, data: dict[str, Any]) -> Response:
    """A page's form post goes back to the page; an API call gets JSON."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse(back, status_code=303)
    return JSONResponse(data)
