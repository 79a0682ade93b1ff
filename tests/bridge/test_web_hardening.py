"""Web hardening (issue #16, item 6): security headers, no inline script, cookie flags, API docs only for signed-in users."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import Web, make_web, sign_in

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "cloud_bridge" / "templates"


@pytest.fixture
def web(store, tmp_path: Path) -> Iterator[Web]:
    web = make_web(store, tmp_path)
    yield web
    web.close()


def _assert_headers(r, what: str) -> None:
    csp = r.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    assert "frame-ancestors 'none'" in csp, f"{what}: {csp!r}"
    script = directives.get("script-src") or directives.get("default-src", "")
    assert script and "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, f"{what}: {csp!r}"
    assert r.headers.get("x-frame-options") == "DENY", what
    assert r.headers.get("x-content-type-options") == "nosniff", what
    assert r.headers.get("referrer-policy") in ("no-referrer", "same-origin", "strict-origin-when-cross-origin"), what


def test_every_response_carries_the_security_headers(web: Web) -> None:
    c = web.client()
    cases = {
        "login page": c.get("/login"),
        "anonymous page": c.get("/", follow_redirects=False),
        "anonymous API": c.get("/api/stats"),
        "static": c.get("/static/bridge.css"),
        "not found": c.get("/nope"),
        "validation error": c.get("/api/units/lane-01/events?after=x", headers=web.bearer()),
        "health": c.get("/healthz"),
        "metrics": c.get("/metrics"),
        "API": c.get("/api/stats", headers=web.bearer()),
    }
    assert sign_in(c, "ada").status_code == 303
    cases |= {"dashboard": c.get("/"), "alerts": c.get("/alerts"), "audit": c.get("/audit")}
    for what, r in cases.items():
        _assert_headers(r, what)


def test_templates_have_no_inline_script_or_event_handlers() -> None:
    for tpl in sorted(TEMPLATES.glob("*.html")):
        html = tpl.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html, re.I):
            assert "src=" in tag, f"{tpl.name}: inline script {tag}"
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), f"{tpl.name}: inline event handler"
        assert "javascript:" not in html.lower(), tpl.name


def test_cookies_are_httponly_strict_and_secure_when_the_request_came_over_tls(web: Web) -> None:
    for https in (False, True):
        c = web.client(https=https)
        page = c.get("/login?lang=en")
        r = sign_in(c, "ada")
        cookies = page.headers.get_list("set-cookie") + r.headers.get_list("set-cookie")
        assert len(cookies) >= 3, cookies  # the language, the sign-in form's CSRF cookie, the session
        for ck in cookies:
            low = ck.lower()
            assert "httponly" in low and "samesite=strict" in low, ck
            assert ("; secure" in low) == https, ck


def test_the_secure_setting_marks_cookies_secure_behind_a_tls_proxy(store, tmp_path: Path) -> None:
    web = make_web(store, tmp_path, **{"http.secure_cookies": True})
    try:
        r = web.client().get("/login")
        assert r.headers.get_list("set-cookie") and all(
            "; secure" in ck.lower() for ck in r.headers.get_list("set-cookie")
        )
    finally:
        web.close()


def test_api_docs_are_only_for_signed_in_users_with_a_role(web: Web) -> None:
    anon = web.client()
    assert anon.get("/openapi.json").status_code == 401
    for page in ("/docs", "/redoc"):
        r = anon.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    for user in ("ada", "vic", "eve"):
        spec = anon.get("/openapi.json", headers=web.bearer(user))
        assert spec.status_code == 200 and "/api/units/{unit}/events" in spec.json()["paths"]
    signed = web.client()
    assert sign_in(signed, "eve").status_code == 303
    for page in ("/docs", "/redoc"):
        r = signed.get(page + "?lang=en")
        assert r.status_code == 200 and "/api/payments/notify" in r.text and "API reference" in r.text
        _assert_headers(r, page)
        assert "cdn" not in r.text.lower()
