"""Units and their events, remote commands (admin, audited by the service), dead letters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud_bridge.auth import Perm
from cloud_bridge.case_view import mask_personal
from cloud_bridge.web.common import MAX_INT, NO_CONTROL, Ctx, Me, SiteId, UnitId, declare
from edge.contract import CommandName

router = APIRouter()
EVENTS_PAGE_MAX = 10_000

ArgName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
ArgValue = (
    Annotated[str, StringConstraints(max_length=256, pattern=NO_CONTROL)]
    | Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)


class CommandBody(BaseModel):
    """A remote command from ops: what, with which (flat, small) arguments, and why."""

    model_config = ConfigDict(extra="forbid")
    command: CommandName
    args: dict[ArgName, ArgValue] = Field(default_factory=dict, max_length=16)
    reason: str = Field(min_length=1, max_length=500, pattern=NO_CONTROL)
    ttl_s: float = Field(60.0, gt=0, le=3600)


@declare(router, "GET", "/api/units", Perm.READ)
def api_units(ctx: Ctx) -> list[dict[str, Any]]:
    return ctx.store.units()


@declare(router, "GET", "/api/units/{unit}/events", Perm.READ)
def api_unit_events(
    ctx: Ctx,
    unit: UnitId,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INT)] = 1000,
) -> list[dict[str, Any]]:
    """Stored events with seq > after in seq order; `limit` is clamped to 10,000 (page by passing the last seq as after).

    Personal data in the events (partner records, the owner's ID number) is masked as on the case pages; a role that
    may see it reads them through the audited ``.../events/unmasked`` or ``POST /api/cases/{id}/personal-data``."""
    events: list[dict[str, Any]] = mask_personal(
        ctx.store.unit_records.events(unit, after, min(limit, EVENTS_PAGE_MAX))
    )
    return events


@declare(router, "GET", "/api/units/{unit}/events/unmasked", Perm.PERSONAL_DATA)
def api_unit_events_unmasked(
    ctx: Ctx,
    request: Request,
    me: Me,
    unit: UnitId,
    after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_INT)] = 1000,
) -> list[dict[str, Any]]:
    """The same page verbatim, for a role that may see personal data (comparing the bridge's record of a unit with
    the unit's own journal); each page read is written to the audit log first."""
    limit = min(limit, EVENTS_PAGE_MAX)
    addr = request.client.host if request.client else "?"
    detail = {"addr": addr, "via": me.via, "after": after, "limit": limit}
    ctx.store.audit.append(me.name, "unit.events_personal_view", f"unit/{unit}", detail, ctx.service.clock())
    return ctx.store.unit_records.events(unit, after, limit)


@declare(router, "POST", "/api/units/{site}/{unit}/commands", Perm.ADMIN)
def api_command(ctx: Ctx, me: Me, site: SiteId, unit: UnitId, body: CommandBody) -> dict[str, Any]:
    try:
        cmd = ctx.service.send_command(site, unit, body.command, dict(body.args), me.name, body.reason, body.ttl_s)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    return cmd.model_dump()


@declare(router, "GET", "/api/commands", Perm.READ)
def api_commands(ctx: Ctx) -> list[dict[str, Any]]:
    return ctx.store.commands.recent()


@declare(router, "GET", "/api/dead-letters", Perm.READ)
def api_dead(ctx: Ctx) -> list[dict[str, Any]]:
    return ctx.store.unit_records.dead_letters()
