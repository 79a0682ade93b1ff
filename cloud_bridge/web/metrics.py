"""Health and Prometheus metrics. /metrics is public with `http.metrics_public`, else it needs the read permission."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import GUARDS, PUBLIC, Ctx, MaybePrincipal, declare

router = APIRouter()


@declare(router, "GET", "/healthz", PUBLIC)
def healthz(ctx: Ctx) -> dict[str, Any]:
    return {"ok": True, "schema": ctx.store.schema_version()}


@declare(router, "GET", "/metrics", PUBLIC)
def metrics(ctx: Ctx, p: MaybePrincipal) -> Response:
    if not ctx.settings.http.metrics_public:
        GUARDS[(Perm.READ, False)](p)  # raises 401 / 403
    return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)
