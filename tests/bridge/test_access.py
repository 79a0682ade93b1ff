"""Every endpoint checks its role; sessions need CSRF; sign-in is rate limited and audited."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bridge_helpers import make_settings
from fastapi.testclient import TestClient

from cloud_bridge.app import PUBLIC, ROUTE_PERMS, create_app
from cloud_bridge.auth import GRANTS, Perm, Role, hash_password, new_token, token_hash
from cloud_bridge.store import open_store

PASSWORD = "correct horse battery"
USERS = {"ada": Role.OPS_ADMIN, "vic": Role.OPS_VIEWER, "eve": Role.EXAM_OPERATOR}
PARAMS = {
    "case_id": "c-1",
    "unit": "lane-01",
    "site": "site-1",
    "alert_id": "1",
    "number": "苏A12345",
    "payment_id": "pay_x",
    "exam_id": "car-01-261206-00a1b2",
    "candidate_id": "cand-0123456789",
    "name": "example-site",
}
BODIES = {
    "/api/units/{site}/{unit}/commands": {
        "command": "open_barrier",
        "args": {"barrier": "exit"},
        "reason": "stuck car",
    },
    "/api/tokens": {"label": "t"},
}
# build one app at import so ROUTE_PERMS is complete when the tests are parametrised
create_app(make_settings(":memory:"), store=open_store(":memory:"))

EXPECTED_PUBLIC = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/payments/notify"),
    ("GET", "/pay/{payment_id}"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("access")
    store = open_store(str(tmp / "b.sqlite3"))
    store.migrate()
    tokens = {}
    for name, role in USERS.items():
        store.accounts.add_user(name, role.value, hash_password(PASSWORD))
        tok = new_token()
        store.accounts.add_token(token_hash(tok), name, "test")
        tokens[role] = tok
    app = create_app(make_settings(str(tmp / "b.sqlite3")), store=store)
    yield app, store, tokens
    store.close()


def _path(p: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], p)


def _call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):
    body = BODIES.get(path)
    return client.request(
        method, _path(path), headers=headers or {}, json=body if method == "POST" else None, follow_redirects=False
    )


def test_every_route_declares_a_permission_and_only_the_expected_ones_are_public(env) -> None:
    app, _, _ = env
    declared = set(ROUTE_PERMS)
    routes = {
        (m, r.path)
        for r in app.routes
        if hasattr(r, "methods") and r.path != "/static"
        for m in r.methods
        if m != "HEAD"
    }
    assert routes <= declared, f"routes without a declared permission: {routes - declared}"
    assert {k for k, v in ROUTE_PERMS.items() if v == PUBLIC} == EXPECTED_PUBLIC


@pytest.mark.parametrize("method,path", sorted(k for k, v in ROUTE_PERMS.items() if v != PUBLIC))
def test_route_refuses_anonymous_and_underprivileged_and_admits_the_granted(env, method: str, path: str) -> None:
    app, _, tokens = env
    perm = ROUTE_PERMS[(method, path)]
    assert isinstance(perm, Perm)
    client = TestClient(app)
    anon = _call(client, method, path)
    assert anon.status_code in (401, 303), f"{method} {path} answered {anon.status_code} without credentials"
    for role, tok in tokens.items():
        r = _call(client, method, path, {"Authorization": f"Bearer {tok}"})
        if role in GRANTS[perm]:
            assert r.status_code not in (401, 403), f"{role} refused on {method} {path}: {r.status_code} {r.text[:200]}"
        else:
            assert r.status_code == 403, f"{role} admitted on {method} {path}: {r.status_code}"


def _sign_in(client: TestClient, name: str, password: str = PASSWORD):
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf}, follow_redirects=False)


def test_session_posts_need_the_csrf_token(env) -> None:
    app, store, _ = env
    client = TestClient(app)
    assert _sign_in(client, "ada").status_code == 303
    page = client.get("/alerts")
    assert page.status_code == 200
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    from cloud_bridge.rules import AlertSignal, Rule, Severity

    store.alerts.raise_all([AlertSignal(Rule.DEVICE_OFFLINE, "device_offline:csrf", Severity.HIGH, "t", "d")])
    aid = next(a["id"] for a in store.alerts.recent("active") if a["dedup_key"] == "device_offline:csrf")
    assert client.post(f"/api/alerts/{aid}/ack", follow_redirects=False).status_code == 403
    assert (
        client.post(f"/api/alerts/{aid}/ack", headers={"X-CSRF-Token": "wrong"}, follow_redirects=False).status_code
        == 403
    )
    ok = client.post(f"/api/alerts/{aid}/ack", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert ok.status_code == 200 and store.alerts.get(aid)["acked_by"] == "ada"
    assert any(r["action"] == "alert.acknowledge" and r["actor"] == "ada" for r in store.audit.entries())


def test_login_without_the_form_csrf_token_is_refused(env) -> None:
    app, _, _ = env
    client = TestClient(app)
    assert client.post("/login", data={"name": "ada", "password": PASSWORD}, follow_redirects=False).status_code == 403


def test_repeated_failed_sign_ins_lock_out_alert_and_are_audited(env) -> None:
    app, store, _ = env
    client = TestClient(app)
    for _ in range(5):
        r = _sign_in(client, "vic", "wrong password!")
        assert r.headers["location"] == "/login?error=bad"
    locked = _sign_in(client, "vic")  # the right password, but locked out now
    assert locked.status_code == 429 or locked.headers.get("location") == "/login?error=locked"
    assert any(
        a["rule"] == "failed_logins" and "dashboard/vic" in a["dedup_key"] for a in store.alerts.recent("active")
    )
    actions = [r["action"] for r in store.audit.entries() if r["actor"] == "vic"]
    assert actions.count("user.sign_in_failed") == 5 and "user.sign_in_refused" in actions
    assert store.audit.verify() == []


def test_passwords_are_stored_as_argon2id(env) -> None:
    _, store, _ = env
    assert store.accounts.user("ada")["password_hash"].startswith("$argon2id$")
