"""Helpers for the bridge's HTTP tests: an app over a test store with a clock the test moves, users, clients per address."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from bridge_helpers import make_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cloud_bridge.app import create_app
from cloud_bridge.auth import hash_password, new_token, token_hash
from cloud_bridge.service import Service
from cloud_bridge.store import Store

PASSWORD = "correct horse battery"
USERS = {"ada": "ops-admin", "vic": "ops-viewer", "eve": "exam-operator"}


class Clock:
    """Simulated time: the back-off is measured in minutes without waiting minutes."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


@dataclass
class Web:
    app: FastAPI
    store: Store
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[TestClient] = field(default_factory=list)

    def client(
        self, addr: str = "198.51.100.7", *, https: bool = False, raise_server_exceptions: bool = False
    ) -> TestClient:
        """A client at one network address (the bridge sees `request.client.host`).

        Entered (one event loop and worker pool for all its requests, as under uvicorn): a client that is not
        starts a thread per request, and on PostgreSQL each thread holds its own connection."""
        c = TestClient(
            self.app,
            base_url="https://testserver" if https else "http://testserver",
            client=(addr, 40000),
            raise_server_exceptions=raise_server_exceptions,
        )
        c.__enter__()
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.__exit__(None, None, None)
        self.clients.clear()

    def bearer(self, user: str = "ada") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def make_web(store: Store, tmp_path: Path, key_file: Path | None = None, **settings: object) -> Web:
    """The bridge's web app over `store` with users ada (admin), vic (viewer), eve (exam operator) and a token each."""
    clock = Clock()
    s = make_settings(str(tmp_path / "unused.sqlite3"), key_file=key_file, **settings)
    tokens = {}
    for name, role in USERS.items():
        store.accounts.add_user(name, role, hash_password(PASSWORD))
        tok = new_token()
        store.accounts.add_token(token_hash(tok), name, "test")
        tokens[name] = tok
    app = create_app(s, store=store, service=Service(s, store, clock=clock))
    return Web(app, store, clock, tokens)


def login_csrf(client: TestClient) -> str:
    """The sign-in form's CSRF token (its cookie is set on the client by the same call)."""
    page = client.get("/login")
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def sign_in(client: TestClient, name: str, password: str = PASSWORD, csrf: str | None = None):
    csrf = csrf or login_csrf(client)
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf}, follow_redirects=False)
