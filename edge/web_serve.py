"""Serving a unit's local page (the lane's tablet, the exam car's page) with uvicorn, and saying when it listens.

uvicorn offers no "started" event; the launcher (`passlane lane run`, `passlane exam run`)
prints where the page is once it listens, and tests asking for port 0 learn the port.
"""

from __future__ import annotations

import asyncio
from typing import Any


class ServerReady(asyncio.Event):
    """Set once the page server listens; ``port`` is the port it bound (port 0 asks for any)."""

    port: int | None = None


async def serve_app(app: Any, host: str, port: int, ready: ServerReady | None = None) -> None:
    """Serve `app` until cancelled or SIGTERM (uvicorn's graceful shutdown runs the app's lifespan end)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)

    async def announce(ready: ServerReady) -> None:
        while not server.started:
            await asyncio.sleep(0.02)  # uvicorn offers no started event; this only announces readiness
        try:
            ready.port = server.servers[0].sockets[0].getsockname()[1]
        except (AttributeError, IndexError):
            pass
        ready.set()

    announcer = asyncio.get_running_loop().create_task(announce(ready)) if ready is not None else None
    try:
        await server.serve()
    finally:
        if announcer is not None:
            announcer.cancel()
