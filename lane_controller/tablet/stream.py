"""The change stream (Server-Sent Events): the pages re-render their live part when the lane says something changed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from edge.typed_routes import Router
from lane_controller.tablet.bodies import StreamPosition
from lane_controller.tablet.deps import Actor, LaneDep

router = Router()


@router.get("/api/stream")
async def stream(request: Request, lane: LaneDep, _: Actor, since: StreamPosition = -1) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
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
