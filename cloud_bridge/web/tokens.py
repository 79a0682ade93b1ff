"""API tokens (admin): a new bearer token for the caller, shown once."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import NO_CONTROL, Ctx, Me, declare

router = APIRouter()


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=64, pattern=NO_CONTROL)


@declare(router, "POST", "/api/tokens", Perm.ADMIN)
def api_token(ctx: Ctx, me: Me, body: TokenBody) -> dict[str, Any]:
    return {"token": ctx.accounts.create_token(me.name, body.label), "user": me.name, "label": body.label}
