"""Sign-in and sign-out. The form uses a double-submit CSRF cookie; the back-off and its audit are `Accounts`'."""

from __future__ import annotations

import math
import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from cloud_bridge.accounts import Outcome
from cloud_bridge.auth import Perm
from cloud_bridge.web.common import (
    LOGIN_CSRF_COOKIE,
    NO_CONTROL,
    PUBLIC,
    SESSION_COOKIE,
    Ctx,
    Me,
    PageOf,
    declare,
    delete_cookie,
    same_secret,
    set_cookie,
)

router = APIRouter()
UserName = Annotated[str, Form(max_length=64, pattern=NO_CONTROL)]
Password = Annotated[str, Form(max_length=1024)]
CsrfField = Annotated[str, Form(max_length=128)]


@declare(router, "GET", "/login", PUBLIC, response_class=HTMLResponse)
def login_page(
    request: Request, page: PageOf, ctx: Ctx, error: Annotated[Literal["bad", "locked"] | None, Query()] = None
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(16)
    resp = page.render("login.html", login_csrf=csrf, error=error)
    set_cookie(resp, request, ctx, LOGIN_CSRF_COOKIE, csrf)
    return resp


@declare(router, "POST", "/login", PUBLIC)
def login(request: Request, ctx: Ctx, name: UserName = "", password: Password = "", csrf: CsrfField = "") -> Response:
    """Sign in; a page gets redirects, an API client 429 with Retry-After while the back-off lasts."""
    if not same_secret(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise HTTPException(403, "missing or wrong CSRF token")
    addr = request.client.host if request.client else "?"
    result = ctx.accounts.sign_in(name, password, addr)
    if result.outcome == Outcome.REFUSED:
        retry = {"Retry-After": str(max(1, math.ceil(result.retry_after_s)))}
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/login?error=locked", status_code=303, headers=retry)
        return JSONResponse({"error": "rate_limited"}, status_code=429, headers=retry)
    if result.outcome == Outcome.FAILED:
        return RedirectResponse("/login?error=bad", status_code=303)
    resp = RedirectResponse("/", status_code=303)
    set_cookie(resp, request, ctx, SESSION_COOKIE, result.token or "", max_age=ctx.settings.http.session_ttl_s)
    delete_cookie(resp, request, ctx, LOGIN_CSRF_COOKIE)
    return resp


@declare(router, "POST", "/logout", Perm.STATS)
def logout(request: Request, ctx: Ctx, me: Me) -> Response:
    ctx.accounts.sign_out(request.cookies.get(SESSION_COOKIE), me.name)
    resp = RedirectResponse("/login", status_code=303)
    delete_cookie(resp, request, ctx, SESSION_COOKIE)
    return resp
