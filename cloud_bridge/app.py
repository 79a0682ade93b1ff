"""The HTTP shell: the ops dashboard, the JSON API, the payment callback and /metrics.

`create_app` assembles one router per area (`cloud_bridge/web/`) over a
store, a service and the sign-in accounts. Every route is declared with the
permission it needs (`ROUTE_PERMS`, built once at import); a test walks the
app's routes and checks each one refuses the unauthenticated and the
under-privileged. Public routes: sign-in, the payment callback (which has its
own HMAC signature), the payment page, health, static assets and /metrics
when `http.metrics_public` is set. Every response carries the security
headers of `cloud_bridge.web.security`; request bodies are capped at
`http.max_body_bytes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from cloud_bridge.accounts import Accounts
from cloud_bridge.config import BridgeSettings
from cloud_bridge.exam_live import LivePositions
from cloud_bridge.metrics import Metrics
from cloud_bridge.service import Service
from cloud_bridge.store import Store, open_store
from cloud_bridge.web import (
    alerts,
    apidocs,
    audit_log,
    cases,
    dashboard,
    exam_pages,
    exams_api,
    metrics,
    payments,
    plates,
    signin,
    tokens,
    units,
)
from cloud_bridge.web.common import PACKAGE, PUBLIC, ROUTE_PERMS, AppContext, bad_input
from cloud_bridge.web.security import BRIDGE_CSP
from edge.web_guard import BodyLimit, SecurityHeaders

__all__ = ["PUBLIC", "ROUTE_PERMS", "create_app"]

ROUTERS = (
    signin,
    dashboard,
    cases,
    alerts,
    units,
    audit_log,
    plates,
    payments,
    tokens,
    metrics,
    apidocs,
    exams_api,
    exam_pages,
)


def create_app(
    settings: BridgeSettings,
    *,
    store: Store | None = None,
    service: Service | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The bridge's web app over a store (opened and migrated from settings.db when not given)."""
    if store is None:
        store = open_store(settings.db_url())
        store.migrate()
    if metrics is None:
        metrics = Metrics()
        metrics.add_store_collector(store)
    service = service or Service(settings, store)
    accounts = Accounts(store, settings.http, service.clock, service.rules)
    exam_live = LivePositions()  # subscribes to the cars' positions on first use (exams_api)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        accounts.flush_audit(everything=True)  # sign-in summaries still open are written, not lost
        exam_live.stop()

    app = FastAPI(title="PassLane cloud bridge", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings, app.state.store, app.state.service, app.state.metrics = settings, store, service, metrics
    app.state.ctx = AppContext(settings, store, service, accounts, metrics)
    app.state.exam_live = exam_live
    app.add_exception_handler(RequestValidationError, bad_input)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, limit=settings.http.max_body_bytes)
    app.add_middleware(
        SecurityHeaders, csp=BRIDGE_CSP
    )  # added last: outermost, so refusals by BodyLimit carry the headers too
    app.mount("/static", StaticFiles(directory=str(PACKAGE / "static")), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    return app
