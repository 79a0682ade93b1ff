"""The inspector tablet: server-rendered pages, live updates over SSE, and the JSON API they use.

Every page action is a ``fetch`` to a JSON endpoint under ``/api/``; the same
endpoints serve scripts (the site demo's simulated inspectors). An inspector
signs in with id + PIN (``POST /api/session``); the signed session token comes
back as a cookie and in the body (usable as ``Authorization: Bearer``), and
every action is attributed to that inspector in the journal.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from lane_controller import case as C
from lane_controller.i18n import ITEMS, PHOTOS, STAGES, translate_reason, translator
from lane_controller.runtime import Lane

HERE = Path(__file__).parent
COOKIE = "passlane_session"
SESSION_S = 12 * 3600


# ---------------------------------------------------------------- API bodies (the documented HTTP contract)
class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Body):
    inspector_id: str
    pin: str


class OpenCaseBody(Body):
    station: str
    id_number: str | None = None
    booking_number: str | None = None


class VinConfirmBody(Body):
    vin: str
    reason: str | None = None


class ItemBody(Body):
    item: str
    result: str = Field(pattern="^(pass|fail|na)$")


class PlateBody(Body):
    number: str
    composed: bool = False


class PassedBody(Body):
    barrier: str = Field(pattern="^(entry|exit)$")


class ReasonBody(Body):
    reason: str


class Empty(Body):
    pass


SIMPLE_ACTIONS: dict[str, Any] = {
    "admit": lambda b: C.Admit(),
    "conclude": lambda b: C.Conclude(),
    "issue": lambda b: C.Issue(),
    "fitted": lambda b: C.Fitted(),
    "exit": lambda b: C.OpenExit(),
    "resume": lambda b: C.Resume(),
}
REASON_ACTIONS: dict[str, Any] = {"reject": C.Reject, "abort": C.Abort, "hold": C.Hold}


class Sessions:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def issue(self, inspector_id: str, name: str) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"id": inspector_id, "name": name, "exp": time.time() + SESSION_S}).encode()).decode()
        mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{mac}"

    def check(self, token: str | None) -> dict[str, Any] | None:
        if not token or "." not in token:
            return None
        payload, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()):
            return None
        data = json.loads(base64.urlsafe_b64decode(payload))
        return data if data.get("exp", 0) > time.time() else None


def create_app(lane: Lane, *, manage_lifecycle: bool = True) -> FastAPI:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        if manage_lifecycle:
            await lane.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await lane.stop()

    app = FastAPI(title="PassLane lane tablet", lifespan=lifespan)
    secret = lane.cfg.ui.session_secret.reveal().encode() if lane.cfg.ui.session_secret else secrets.token_bytes(32)
    sessions = Sessions(secret)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.lane = lane

    def who(request: Request) -> dict[str, Any] | None:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        return sessions.check(token)

    def inspector(request: Request) -> str:
        w = who(request)
        if w is None:
            raise HTTPException(401, "sign in first")
        return str(w["id"])

    def lang_of(request: Request) -> str:
        lang = request.cookies.get("lang") or lane.cfg.ui.language
        return lang if lang in ("zh-CN", "en") else "zh-CN"

    def render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        t = translator(lang)
        return templates.TemplateResponse(request, name, {"t": t, "lang": lang, "stage_name": lambda s: t(s, STAGES),
                                                           "item_name": lambda s: t(s, ITEMS), "photo_name": lambda s: t(s, PHOTOS),
                                                           "reason": lambda r: translate_reason(r, lang),
                                                           "me": who(request), "lane": lane, "promise_s": lane.cfg.promise_minutes * 60, **ctx})

    def refused(exc: C.Refused) -> JSONResponse:
        return JSONResponse({"ok": False, "error": exc.reason}, status_code=409)

    # ------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    async def overview_page(request: Request):  # noqa: ANN202
        if who(request) is None:
            return RedirectResponse("/login", 303)
        return render(request, "overview.html", ov=lane.overview())

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request):  # noqa: ANN202
        return render(request, "login.html")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    async def case_page(request: Request, case_id: str):  # noqa: ANN202
        if who(request) is None:
            return RedirectResponse("/login", 303)
        try:
            view = lane.case_view(case_id)
        except KeyError:
            raise HTTPException(404, "no such case") from None
        return render(request, "case.html", c=view, ov=lane.overview())

    @app.get("/fragments/overview", response_class=HTMLResponse)
    async def overview_fragment(request: Request):  # noqa: ANN202
        inspector(request)
        return render(request, "_overview.html", ov=lane.overview())

    @app.get("/fragments/cases/{case_id}", response_class=HTMLResponse)
    async def case_fragment(request: Request, case_id: str):  # noqa: ANN202
        inspector(request)
        try:
            view = lane.case_view(case_id)
        except KeyError:
            raise HTTPException(404, "no such case") from None
        return render(request, "_case.html", c=view, ov=lane.overview())

    @app.get("/lang/{code}")
    async def set_lang(code: str, next: str = "/"):  # noqa: ANN202, A002
        resp = RedirectResponse(next if next.startswith("/") else "/", 303)
        resp.set_cookie("lang", code if code in ("zh-CN", "en") else "zh-CN", max_age=365 * 86400, samesite="lax")
        return resp

    # ------------------------------------------------------------ API: session
    @app.post("/api/session")
    async def sign_in(body: SignIn):  # noqa: ANN202
        name = lane.check_pin(body.inspector_id, body.pin)
        if name is None:
            return JSONResponse({"ok": False, "error": "wrong inspector id or PIN"}, status_code=401)
        token = sessions.issue(body.inspector_id, name)
        resp = JSONResponse({"ok": True, "inspector": {"id": body.inspector_id, "name": name}, "token": token})
        resp.set_cookie(COOKIE, token, max_age=SESSION_S, httponly=True, samesite="strict")
        return resp

    @app.delete("/api/session")
    async def sign_out():  # noqa: ANN202
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE)
        return resp

    @app.get("/api/session")
    async def session_info(request: Request):  # noqa: ANN202
        w = who(request)
        return {"ok": w is not None, "inspector": w}

    # ------------------------------------------------------------ API: lane and cases
    @app.get("/api/health")
    async def health():  # noqa: ANN202
        ov = lane.overview()
        return {"ok": True, "unit": ov["unit"], "cloud_connected": ov["cloud_connected"], "outbox": ov["outbox"],
                "open_cases": len(lane.cases), "alerts": len(ov["alerts"]), "step_ms": ov["step_ms"], "pid": os.getpid()}

    @app.get("/api/lane")
    async def lane_overview(request: Request):  # noqa: ANN202
        inspector(request)
        return lane.overview()

    @app.post("/api/cases")
    async def open_case(request: Request, body: OpenCaseBody):  # noqa: ANN202
        actor = inspector(request)
        try:
            case = await lane.open_case(body.station, body.id_number, body.booking_number, actor)
        except C.Refused as exc:
            return refused(exc)
        return {"ok": True, "case": lane.case_view(case.case_id)}

    @app.get("/api/cases")
    async def list_cases(request: Request, state: str = "all", limit: int = 100):  # noqa: ANN202
        inspector(request)
        open_ = {"open": True, "closed": False}.get(state)
        rows = lane.journal.list_cases(open_, max(1, min(limit, 5000)))
        return {"ok": True, "cases": [lane.case_summary(C.Case.model_validate(r.state)) for r in rows]}

    @app.get("/api/cases/{case_id}")
    async def get_case(request: Request, case_id: str):  # noqa: ANN202
        inspector(request)
        try:
            return {"ok": True, "case": lane.case_view(case_id)}
        except KeyError:
            raise HTTPException(404, "no such case") from None

    async def do(case_id: str, inp: C.Input, actor: str) -> Any:
        try:
            await lane.apply(case_id, inp, actor)
        except C.Refused as exc:
            return refused(exc)
        return {"ok": True, "case": lane.case_view(case_id)}

    @app.post("/api/cases/{case_id}/vin/confirm")
    async def vin_confirm(request: Request, case_id: str, body: VinConfirmBody):  # noqa: ANN202
        return await do(case_id, C.VinConfirm(body.vin, body.reason or None), inspector(request))

    @app.post("/api/cases/{case_id}/vin/reread")
    async def vin_reread(request: Request, case_id: str):  # noqa: ANN202
        inspector(request)
        c = lane.cases.get(case_id)
        if c is None or c.stage != C.Stage.ADMITTED:
            return refused(C.Refused("the VIN is read while the vehicle is on the station"))
        await lane.capture_vin(case_id)
        return {"ok": True, "case": lane.case_view(case_id)}

    @app.post("/api/cases/{case_id}/items")
    async def mark_item(request: Request, case_id: str, body: ItemBody):  # noqa: ANN202
        return await do(case_id, C.MarkItem(body.item, body.result), inspector(request))  # type: ignore[arg-type]

    @app.post("/api/cases/{case_id}/photos/{code}")
    async def photo(request: Request, case_id: str, code: str, file: UploadFile | None = File(None)):  # noqa: ANN202
        actor = inspector(request)
        data = await file.read() if file is not None else None
        if data is not None and len(data) > 10 * 1024 * 1024:
            return refused(C.Refused("photo larger than 10 MB"))
        try:
            await lane.save_photo(case_id, code, data or None, actor)
        except C.Refused as exc:
            return refused(exc)
        return {"ok": True, "case": lane.case_view(case_id)}

    @app.post("/api/cases/{case_id}/plate")
    async def plate(request: Request, case_id: str, body: PlateBody):  # noqa: ANN202
        return await do(case_id, C.ChoosePlate(body.number.strip().upper() if body.composed else body.number, body.composed), inspector(request))

    @app.post("/api/cases/{case_id}/passed")
    async def passed(request: Request, case_id: str, body: PassedBody):  # noqa: ANN202
        """The inspector saw the vehicle pass (its loop event was missed, e.g. while the lane restarted)."""
        return await do(case_id, C.VehiclePassed(body.barrier), inspector(request))  # type: ignore[arg-type]

    @app.post("/api/cases/{case_id}/{action}")
    async def case_action(request: Request, case_id: str, action: str):  # noqa: ANN202
        actor = inspector(request)
        raw = await request.body()
        data = json.loads(raw) if raw.strip() else {}
        if action in SIMPLE_ACTIONS:
            return await do(case_id, SIMPLE_ACTIONS[action](data), actor)
        if action in REASON_ACTIONS:
            body = ReasonBody.model_validate(data)
            return await do(case_id, REASON_ACTIONS[action](body.reason), actor)
        raise HTTPException(404, f"unknown action {action}")

    @app.get("/api/cases/{case_id}/files/{path:path}")
    async def case_file(request: Request, case_id: str, path: str):  # noqa: ANN202
        inspector(request)
        root = (lane.data_dir / "photos" / case_id).resolve()
        target = (lane.data_dir / path).resolve()
        if not str(target).startswith(str(root)) or not target.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(target)

    @app.post("/api/alerts/{key}/dismiss")
    async def dismiss(request: Request, key: str):  # noqa: ANN202
        inspector(request)
        lane.clear_alert(key)
        return {"ok": True}

    @app.get("/api/stream")
    async def stream(request: Request, since: int = -1):  # noqa: ANN202
        inspector(request)

        async def events():  # noqa: ANN202
            version = since
            yield "retry: 1000\n\n"
            while True:
                if await request.is_disconnected():
                    return
                new = await lane.wait_change(version, 15.0)
                if new != version:
                    version = new
                    yield f"event: change\ndata: {version}\n\n"
                else:
                    yield ": keepalive\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    return app


async def serve(lane: Lane, host: str, port: int, ready: asyncio.Event | None = None) -> None:
    """Run the lane and its tablet UI until cancelled or SIGTERM."""
    import uvicorn

    app = create_app(lane)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    if ready is not None:
        async def announce() -> None:
            while not server.started:
                await asyncio.sleep(0.02)  # uvicorn offers no started event; this only announces readiness
            try:
                ready.port = server.servers[0].sockets[0].getsockname()[1]  # type: ignore[attr-defined]
            except (AttributeError, IndexError):
                pass
            ready.set()
        asyncio.get_running_loop().create_task(announce())
    await server.serve()
