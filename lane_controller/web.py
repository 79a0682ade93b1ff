"""The inspector tablet: server-rendered pages, live updates over SSE, and the JSON API they use.

Every page action is a ``fetch`` to a JSON endpoint under ``/api/``; the same
endpoints serve scripts (the site demo's simulated inspectors). An inspector
signs in with id + PIN (``POST /api/session``); the session token comes back as
a cookie and in the body (usable as ``Authorization: Bearer``), and every action
is attributed to that inspector in the journal.

This module assembles the app: plain Starlette with typed routes (``edge.typed_routes``; FastAPI's
own models would cost the lane 11 MB), one router per area (``lane_controller.tablet``),
the limits on what comes in, the security headers on what goes out, and the
state the routes share (the lane, the sessions, the sign-in back-off).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from edge.web_guard import BodyLimit, SecurityHeaders
from edge.web_serve import ServerReady, serve_app
from lane_controller.runtime import Lane
from lane_controller.tablet import cases, errors, files, lane_api, pages, sign_in, stream
from lane_controller.tablet.backoff import SignInBackoff
from lane_controller.tablet.body_limit import body_limit, tablet_refusal
from lane_controller.tablet.headers import CONTENT_SECURITY_POLICY
from lane_controller.tablet.sessions import SessionStore

HERE = Path(__file__).parent
ROUTERS = (sign_in.router, pages.router, lane_api.router, cases.router, files.router, stream.router)
SESSIONS_FILE = "tablet-sessions.sqlite"
TITLE = "PassLane lane tablet"


def create_app(lane: Lane, *, manage_lifecycle: bool = True, clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The tablet app for ``lane``; ``clock`` times the sign-in back-off (tests move it by hand)."""
    secret = lane.cfg.ui.session_secret.reveal().encode() if lane.cfg.ui.session_secret else secrets.token_bytes(32)
    sessions = SessionStore(lane.data_dir / SESSIONS_FILE, secret)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manage_lifecycle:
            await lane.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await lane.stop()
            sessions.close()

    # the API description is served to signed-in inspectors only (lane_api); no docs pages (they need inline script)
    routes = [route for router in ROUTERS for route in router.routes]
    static = Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app = Starlette(routes=[*routes, static], lifespan=lifespan)
    app.state.title = TITLE
    app.state.lane = lane
    app.state.sessions = sessions
    app.state.sign_in_backoff = SignInBackoff()
    app.state.clock = clock
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    errors.install(app)
    app.add_middleware(BodyLimit, limit=body_limit, refuse=tablet_refusal)
    app.add_middleware(SecurityHeaders, csp=CONTENT_SECURITY_POLICY)  # outermost: on every answer, refusals too
    return app


async def serve(lane: Lane, host: str, port: int, ready: ServerReady | None = None) -> None:
    """Run the lane and its tablet UI until cancelled or SIGTERM."""
    await serve_app(create_app(lane), host, port, ready)
