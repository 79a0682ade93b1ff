"""Plate-pool changes by hand (admin): release a reservation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from cloud_bridge.auth import Perm
from cloud_bridge.web.common import Ctx, Me, PlateNumber, declare

router = APIRouter()


@declare(router, "POST", "/api/plates/{number}/release", Perm.ADMIN)
def api_plate_release(ctx: Ctx, me: Me, number: PlateNumber) -> dict[str, Any]:
    released = ctx.service.release_reservation(number, me.name)
    if released is None:
        raise HTTPException(409, "no reservation for that number (issued numbers are never released)")
    return {"number": number, "released": released}
