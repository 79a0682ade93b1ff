"""HTTP hardening shared by every PassLane web app (the lane tablet, the exam car's page, the bridge): plain ASGI middleware.

`SecurityHeaders` puts the header policy on every response (pages, API, static
files, refusals): a Content-Security-Policy without inline script, no framing,
no MIME sniffing, no Referer leaving the app, HSTS when the request came over
TLS. `BodyLimit` refuses a request body over its limit with 413 before
anything reads it whole: by a declared Content-Length at once, and counted as
it streams when there is none. Each app says its own policy and its own words.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_HSTS = (b"strict-transport-security", b"max-age=31536000")

Refusal = Callable[[Scope, Receive, Send, int, int], Awaitable[None]]
"""How an app refuses a body: (scope, receive, send, status, limit) -> sends the whole answer."""


class SecurityHeaders:
    """Adds the header policy (with this app's CSP) to every HTTP response that does not set those headers itself."""

    def __init__(self, app: ASGIApp, csp: str = STRICT_CSP) -> None:
        self.app = app
        self.headers = [(b"content-security-policy", csp.encode()), *_HEADERS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers + ([_HSTS] if scope.get("scheme") == "https" else [])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *((k, v) for k, v in extra if k not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def json_refusal(scope: Scope, receive: Receive, send: Send, status: int, limit: int) -> None:
    """The plain refusal: ``{"detail": ...}`` with the status."""
    detail = f"request body larger than {limit} bytes" if status == 413 else "bad Content-Length"
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from the body stream when it passes the limit: an HTTPException, so a FastAPI app answers it with its own
    handler (its words), where a body-parsing error would otherwise become a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")


class BodyLimit:
    """Refuses request bodies over `limit` bytes (a number, or one per path) with 413, in the app's own words (`refuse`)."""

    def __init__(self, app: ASGIApp, limit: int | Callable[[str], int], refuse: Refusal = json_refusal) -> None:
        self.app = app
        self.limit = limit
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"]) if callable(self.limit) else self.limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self.refuse(scope, receive, send, 413 if declared.isdigit() else 400, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self.refuse(scope, receive, send, 413, limit)
