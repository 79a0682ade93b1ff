"""The HTTP shell: the ops dashboard, the JSON API, the payment callback and /metrics.

Every route is declared with the permission it needs (`ROUTE_PERMS`); a
test walks the app's routes and checks each one refuses the unauthenticated
and the under-privileged. Public routes: sign-in, the payment callback
(which has its own HMAC signature), the payment page, health, static assets
and /metrics when `http.metrics_public` is set.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.auth import Perm, Principal, Role, new_token, token_hash, verify_password
from cloud_bridge.config import BridgeSettings
from cloud_bridge.figures import registration_figures
from cloud_bridge.i18n import LANGS, strings
from cloud_bridge.metrics import Metrics
from cloud_bridge.payments import HEADER as SIGNATURE_HEADER
from cloud_bridge.service import Service
from cloud_bridge.store import Store, open_store
from edge.contract import CommandName

HERE = Path(__file__).parent
SESSION_COOKIE = "passlane_session"
LOGIN_CSRF_COOKIE = "passlane_login_csrf"
LANG_COOKIE = "passlane_lang"
PUBLIC = "public"

# (method, path) -> permission, or PUBLIC
ROUTE_PERMS: dict[tuple[str, str], Perm | str] = {}


class CommandBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: CommandName
    args: dict[str, Any] = {}
    reason: str = Field(min_length=1)
    ttl_s: float = Field(60.0, gt=0, le=3600)


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=64)


def _day_start(now: float) -> float:
    d = dt.datetime.fromtimestamp(now).astimezone()
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def create_app(settings: BridgeSettings, *, store: Store | None = None, service: Service | None = None, metrics: Metrics | None = None) -> FastAPI:
    """The bridge's web app over a store (opened and migrated from settings.db when not given)."""
    if store is None:
        from cloud_bridge.rules import load_rules

        store = open_store(settings.db_url(), load_rules(settings.rules.file))
        store.migrate()
    if metrics is None:
        metrics = Metrics()
        metrics.add_store_collector(store)
    service = service or Service(settings, store)
    app = FastAPI(title="PassLane cloud bridge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings, app.state.store, app.state.service, app.state.metrics = settings, store, service, metrics
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    http = settings.http

    # ------------------------------------------------------------------ guards
    def principal_of(request: Request) -> Principal | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            row = store.token(token_hash(auth[7:].strip()))
            return Principal(row["user_name"], Role(row["role"]), "token") if row else None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            row = store.session(token_hash(cookie))
            if row:
                return Principal(row["user_name"], Role(row["role"]), "session", row["csrf"])
        return None

    def guard(perm: Perm, page: bool) -> Any:
        async def dep(request: Request) -> Principal:
            p = principal_of(request)
            if p is None:
                if page:
                    raise HTTPException(303, headers={"Location": "/login"})
                raise HTTPException(401, "sign in or send a bearer token", headers={"WWW-Authenticate": "Bearer"})
            if not p.may(perm):
                raise HTTPException(403, f"role {p.role.value} may not do this ({perm.value})")
            if request.method not in ("GET", "HEAD") and p.via == "session":
                given = request.headers.get("x-csrf-token")
                if given is None and request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                    given = (await request.form()).get("csrf")
                if not given or not secrets.compare_digest(str(given), p.csrf or ""):
                    raise HTTPException(403, "missing or wrong CSRF token")
            request.state.principal = p
            return p
        return Depends(dep)

    def route(method: str, path: str, perm: Perm | str, *, page: bool = False, **kw: Any) -> Any:
        def deco(fn: Any) -> Any:
            ROUTE_PERMS[(method, path)] = perm
            deps = [] if perm == PUBLIC else [guard(perm, page)]  # type: ignore[arg-type]
            app.add_api_route(path, fn, methods=[method], dependencies=deps, **kw)
            return fn
        return deco

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or http.default_language
        return lang if lang in LANGS else http.default_language

    def render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        p: Principal | None = getattr(request.state, "principal", None)
        resp = templates.TemplateResponse(request, name, {"t": strings(lang), "lang": lang, "other_lang": "en" if lang == "zh-CN" else "zh-CN",
                                                          "user": p, "csrf": p.csrf if p else "", **ctx})
        if request.query_params.get("lang") in LANGS:
            resp.set_cookie(LANG_COOKIE, lang, samesite="strict", secure=http.secure_cookies)
        return resp

    def me(request: Request) -> Principal:
        return request.state.principal

    # ------------------------------------------------------------------ sign-in
    @route("GET", "/login", PUBLIC, response_class=HTMLResponse)
    def login_page(request: Request) -> HTMLResponse:
        csrf = secrets.token_urlsafe(16)
        resp = render(request, "login.html", login_csrf=csrf, error=request.query_params.get("error"))
        resp.set_cookie(LOGIN_CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=http.secure_cookies)
        return resp

    @route("POST", "/login", PUBLIC)
    async def login(request: Request) -> Response:
        form = await request.form()
        name, password, csrf = str(form.get("name", "")), str(form.get("password", "")), str(form.get("csrf", ""))
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, csrf):
            raise HTTPException(403, "missing or wrong CSRF token")
        addr = request.client.host if request.client else "?"
        since = time.time() - http.login_lockout_s
        if store.recent_failures(f"dashboard/{name}", since) >= http.login_max_failures or store.recent_failures(f"addr/{addr}", since) >= http.login_max_failures * 4:
            store.audit_append(name or "?", "user.sign_in_refused", "dashboard", {"addr": addr, "reason": "rate_limited"})
            return RedirectResponse("/login?error=locked", status_code=303) if "text/html" in request.headers.get("accept", "") else \
                JSONResponse({"error": "rate_limited"}, status_code=429)
        user = store.user(name)
        if not verify_password(user["password_hash"] if user else None, password):
            store.record_login_failure(f"dashboard/{name}", addr)
            store.record_login_failure(f"addr/{addr}", addr)
            store.audit_append(name or "?", "user.sign_in_failed", "dashboard", {"addr": addr})
            return RedirectResponse("/login?error=bad", status_code=303)
        token, session_csrf = new_token(), secrets.token_urlsafe(24)
        store.add_session(token_hash(token), name, session_csrf, http.session_ttl_s)
        store.audit_append(name, "user.sign_in", "dashboard", {"addr": addr})
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=http.secure_cookies, max_age=http.session_ttl_s)
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @route("POST", "/logout", Perm.STATS)
    def logout(request: Request) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            store.drop_session(token_hash(cookie))
        store.audit_append(me(request).name, "user.sign_out", "dashboard")
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    # ------------------------------------------------------------------ pages
    @route("GET", "/", Perm.READ, page=True, response_class=HTMLResponse)
    def dashboard_page(request: Request) -> HTMLResponse:
        return render(request, "dashboard.html", t_json=json.dumps(strings(lang_of(request)), ensure_ascii=False))

    @route("GET", "/cases", Perm.READ, page=True, response_class=HTMLResponse)
    def cases_page(request: Request, q: str = "") -> HTMLResponse:
        return render(request, "cases.html", q=q, results=store.search_cases(q) if q else None, fmt=_fmt_ts)

    @route("GET", "/cases/{case_id}", Perm.READ, page=True, response_class=HTMLResponse)
    def case_page(request: Request, case_id: str) -> HTMLResponse:
        case = store.case(case_id)
        if case is None:
            raise HTTPException(404, "no such case")
        return render(request, "case.html", case=case, fmt=_fmt_ts, image=_image_src(case.get("vin_image")),
                      json=_summary)

    @route("GET", "/alerts", Perm.READ, page=True, response_class=HTMLResponse)
    def alerts_page(request: Request) -> HTMLResponse:
        return render(request, "alerts.html", alerts=store.alerts(limit=300), fmt=_fmt_ts, may_resolve=me(request).may(Perm.ADMIN))

    @route("GET", "/audit", Perm.ADMIN, page=True, response_class=HTMLResponse)
    def audit_page(request: Request) -> HTMLResponse:
        problems = store.audit_verify()
        rows = store.audit_rows(limit=300)
        return render(request, "audit.html", rows=rows, problems=problems, fmt=_fmt_ts)

    @route("GET", "/pay/{payment_id}", PUBLIC, response_class=HTMLResponse)
    def pay_page(request: Request, payment_id: str) -> HTMLResponse:
        p = store.payment(payment_id)
        if p is None:
            raise HTTPException(404, "no such payment")
        return render(request, "pay.html", p=p)

    # ------------------------------------------------------------------ JSON API
    @route("GET", "/api/dashboard", Perm.READ)
    def api_dashboard(request: Request) -> dict[str, Any]:
        now = time.time()
        units = store.units()
        sites: dict[str, list[dict[str, Any]]] = {}
        for u in units:
            if u.get("role") in ("bridge", "ops"):
                continue
            tel = u.get("telemetry") or {}
            stage = u.get("case_stage") or u.get("stage")
            silent = u.get("last_seen_at") is None or now - u["last_seen_at"] > store.rules.device_offline_after_s
            online = u.get("state") == "online" and not silent
            sites.setdefault(u["site"], []).append({
                "unit": u["unit"], "role": u.get("role"), "state": u.get("state") or "unknown", "online": online,
                "last_seen_age_s": None if u.get("last_seen_at") is None else now - u["last_seen_at"],
                "stage": stage, "stage_age_s": None if u.get("stage_since") is None else now - u["stage_since"],
                "current_case": u.get("current_case"), "queue": u.get("open_cases", 0), "outbox_depth": u.get("outbox_depth"),
                "acked_seq": u.get("acked_seq"), "boards": [{"name": b.get("name"), "online": b.get("online")} for b in tel.get("boards", [])],
                "boards_offline": u.get("boards_offline") or [], "cpu_temp_c": tel.get("cpu_temp_c"), "load_1m": tel.get("load_1m"),
            })
        figures = registration_figures(store.closed_cases(_day_start(now)), store.rules.case_open_limit_s)
        return {"now": now, "sites": [{"site": s, "units": us} for s, us in sorted(sites.items())], "today": figures,
                "alerts": store.alerts("active", limit=50), "counts": store.counts()}

    @route("GET", "/api/stats", Perm.STATS)
    def api_stats(request: Request) -> dict[str, Any]:
        counts = store.counts()
        figures = registration_figures(store.closed_cases(0), store.rules.case_open_limit_s)
        return {**counts, "registration_time_s": {"n": figures["registered"], "p50": figures["median_s"], "p95": figures["p95_s"],
                                                   "p99": figures["p99_s"], "within_30min_share": figures["within_limit_share"]}}

    @route("GET", "/api/cases", Perm.READ)
    def api_search(request: Request, q: str) -> list[dict[str, Any]]:
        return store.search_cases(q)

    @route("GET", "/api/cases/{case_id}", Perm.READ)
    def api_case(request: Request, case_id: str) -> dict[str, Any]:
        case = store.case(case_id)
        if case is None:
            raise HTTPException(404, "no such case")
        return case

    @route("GET", "/api/units", Perm.READ)
    def api_units(request: Request) -> list[dict[str, Any]]:
        return store.units()

    @route("GET", "/api/units/{unit}/events", Perm.READ)
    def api_unit_events(request: Request, unit: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        return store.unit_events(unit, after, min(max(limit, 1), 10000))

    @route("GET", "/api/alerts", Perm.READ)
    def api_alerts(request: Request, status: str | None = None) -> list[dict[str, Any]]:
        return store.alerts(status)

    @route("POST", "/api/alerts/{alert_id}/ack", Perm.ACK)
    def api_ack(request: Request, alert_id: int) -> Response:
        who = me(request).name
        if not store.acknowledge_alert(alert_id, who):
            raise HTTPException(409, "no open alert with that id")
        store.audit_append(who, "alert.acknowledge", f"alert/{alert_id}", {"alert_id": alert_id})
        return _back_or_json(request, "/alerts", {"id": alert_id, "status": "acknowledged", "by": who})

    @route("POST", "/api/alerts/{alert_id}/resolve", Perm.ADMIN)
    def api_resolve(request: Request, alert_id: int) -> Response:
        who = me(request).name
        if not store.resolve_alert(alert_id, who):
            raise HTTPException(409, "no unresolved alert with that id")
        store.audit_append(who, "alert.resolve", f"alert/{alert_id}", {"alert_id": alert_id})
        return _back_or_json(request, "/alerts", {"id": alert_id, "status": "resolved", "by": who})

    @route("POST", "/api/units/{site}/{unit}/commands", Perm.ADMIN)
    def api_command(request: Request, site: str, unit: str, body: CommandBody) -> dict[str, Any]:
        try:
            cmd = service.send_command(site, unit, body.command, body.args, me(request).name, body.reason, body.ttl_s)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
        return cmd.model_dump()

    @route("GET", "/api/commands", Perm.READ)
    def api_commands(request: Request) -> list[dict[str, Any]]:
        return store.commands()

    @route("GET", "/api/audit", Perm.ADMIN)
    def api_audit(request: Request) -> dict[str, Any]:
        return {"problems": store.audit_verify(), "entries": store.audit_rows(limit=1000)}

    @route("GET", "/api/dead-letters", Perm.READ)
    def api_dead(request: Request) -> list[dict[str, Any]]:
        return store.dead_letters()

    @route("POST", "/api/tokens", Perm.ADMIN)
    def api_token(request: Request, body: TokenBody) -> dict[str, Any]:
        who = me(request).name
        token = new_token()
        store.add_token(token_hash(token), who, body.label)
        store.audit_append(who, "token.create", f"user/{who}", {"label": body.label})
        return {"token": token, "user": who, "label": body.label}

    @route("POST", "/api/plates/{number}/release", Perm.ADMIN)
    def api_plate_release(request: Request, number: str) -> dict[str, Any]:
        who = me(request).name
        rows = [p for p in store.plates() if p["number"] == number]
        if not rows or rows[0]["status"] != "reserved":
            raise HTTPException(409, "no reservation for that number (issued numbers are never released)")
        released = store.release_plate(number, rows[0]["case_id"])
        store.audit_append(who, "plate_pool.release", f"plate/{number}", {"case_id": rows[0]["case_id"]})
        return {"number": number, "released": released}

    @route("POST", "/api/payments/notify", PUBLIC)
    async def payment_notify(request: Request) -> JSONResponse:
        body = await request.body()
        status, answer = service.payment_callback(body, request.headers.get(SIGNATURE_HEADER))
        return JSONResponse(answer, status_code=status)

    @route("GET", "/healthz", PUBLIC)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "schema": store.schema_version()}

    if http.metrics_public:
        @route("GET", "/metrics", PUBLIC)
        def metrics_public() -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
    else:
        @route("GET", "/metrics", Perm.READ)
        def metrics_private(request: Request) -> Response:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _back_or_json(request: Request, back: str, data: dict[str, Any]) -> Response:
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return RedirectResponse(back, status_code=303)
    return JSONResponse(data)


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


def _fmt_ts(ts: float | None) -> str:
    if ts is None:
        return "—"
    return dt.datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _image_src(img: str | None) -> str | None:
    """A browser-usable source for a VIN photo: a data: or http(s) URL, or bare base64 (JPEG or PNG); a lane-local path is not."""
    if not img:
        return None
    if img.startswith(("data:", "http://", "https://")):
        return img
    if len(img) > 200 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", img):
        return ("data:image/png;base64," if img.startswith("iVBOR") else "data:image/jpeg;base64,") + img
    return None
