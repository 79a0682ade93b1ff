"""Signing in and out (``/api/session``): PIN check with back-off, server-side sessions, the session cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from edge.typed_routes import Router
from lane_controller.tablet.bodies import SignIn
from lane_controller.tablet.deps import COOKIE, LaneDep, client_address, over_tls, session_token, signed_in
from lane_controller.tablet.errors import TabletError
from lane_controller.tablet.sessions import SESSION_S

router = Router()


@router.post("/api/session")
async def sign_in(request: Request, body: SignIn, lane: LaneDep) -> JSONResponse:
    """Refused with 429 (and Retry-After) while the id or the address is locked: then no PIN is checked or journaled."""
    backoff, now = request.app.state.sign_in_backoff, request.app.state.clock()
    keys = [("inspector", body.inspector_id), ("address", client_address(request))]
    wait = backoff.retry_after(keys, now)
    if wait:
        raise TabletError(429, "err_too_many_sign_ins", {"Retry-After": str(wait)}, seconds=wait)
    name = lane.check_pin(body.inspector_id, body.pin)
    if name is None:
        backoff.failed(keys, now)
        raise TabletError(401, "err_wrong_pin")
    backoff.succeeded(keys[0])
    token = request.app.state.sessions.issue(body.inspector_id, name)
    resp = JSONResponse({"ok": True, "inspector": {"id": body.inspector_id, "name": name}, "token": token})
    resp.set_cookie(COOKIE, token, max_age=SESSION_S, httponly=True, samesite="strict", secure=over_tls(request))
    return resp


@router.delete("/api/session")
async def sign_out(request: Request) -> JSONResponse:
    """The session ends on the lane: its token and cookie are refused from now on."""
    request.app.state.sessions.revoke(session_token(request))
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=over_tls(request))
    return resp


@router.get("/api/session")
async def session_info(request: Request) -> dict:
    who = signed_in(request)
    return {"ok": who is not None, "inspector": who}
