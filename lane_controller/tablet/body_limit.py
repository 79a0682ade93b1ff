"""Request bodies are capped before anything reads them whole: 64 KiB, or 10 MB and a little for a photo upload.

A declared Content-Length over the cap is refused at once; a body sent without one (chunked) is counted as
it arrives and refused when it passes the cap. Both are a 413 in the tablet's words (``errors``).
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lane_controller.tablet.bodies import MAX_JSON_BODY, MAX_PHOTO_BODY
from lane_controller.tablet.errors import TabletError, tablet_error

PHOTO_UPLOAD = re.compile(r"/api/cases/[^/]+/photos/[^/]+")


def body_limit(path: str) -> int:
    return MAX_PHOTO_BODY if PHOTO_UPLOAD.fullmatch(path) else MAX_JSON_BODY


class BodyLimit:
    """ASGI middleware enforcing :func:`body_limit` on every HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = await tablet_error(Request(scope), TabletError(413, "err_body_too_large"))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TabletError(413, "err_body_too_large")  # an HTTPException: FastAPI lets it through to errors
            return message

        await self.app(scope, counted, send)
