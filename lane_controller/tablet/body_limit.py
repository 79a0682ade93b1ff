"""The tablet's body caps (64 KiB, or 10 MB and a little for a photo upload) and its refusal in its own words.

The middleware is `edge.web_guard.BodyLimit`: a declared Content-Length over the cap is refused at once; a
body sent without one (chunked) is counted as it arrives and refused when it passes the cap.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from lane_controller.tablet.bodies import MAX_JSON_BODY, MAX_PHOTO_BODY
from lane_controller.tablet.errors import TabletError, tablet_error

PHOTO_UPLOAD = re.compile(r"/api/cases/[^/]+/photos/[^/]+")


def body_limit(path: str) -> int:
    return MAX_PHOTO_BODY if PHOTO_UPLOAD.fullmatch(path) else MAX_JSON_BODY


async def tablet_refusal(scope: Scope, receive: Receive, send: Send, status: int, limit: int) -> None:
    """The refusal in the tablet's words (``errors``): 413 too large, 400 a Content-Length that is not a number."""
    response = await tablet_error(
        Request(scope), TabletError(status, "err_body_too_large" if status == 413 else "err_bad_body")
    )
    await response(scope, receive, send)
