"""No input gives a 500 (issue #16, items 1, 2 and 5): bounded parameters, exact payment amounts, capped bodies.

Runs on both stores: PostgreSQL refuses some strings SQLite stores (NUL
characters), so a value that is harmless on one may be a 500 on the other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from bridge_helpers import PAYMENT_KEY
from fastapi.routing import APIRoute
from web_helpers import Web, login_csrf, make_web, sign_in

from cloud_bridge import payments

VALID = {
    "case_id": "c-1",
    "unit": "lane-01",
    "site": "site-1",
    "alert_id": "1",
    "number": "苏A12345",
    "payment_id": "pay_x",
}
HOSTILE = [
    "1" + "0" * 30,
    "-1",
    "-" + "9" * 30,
    "1e400",
    "nan",
    "inf",
    "0x10",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[2J",
    "\u202e",
    "💥",
    "é",
    "%",
    "'; DROP TABLE audit; --",
    "..",
    "a" * 5000,
    "苏A12345",
]
RAW = ["%ED%A0%80", "%FF%FE", "%C0%AF"]  # invalid UTF-8, sent as is
BAD_BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"not json"),
    ("application/json", b'{"a":'),
    ("application/json", b"[]"),
    ("application/json", b"null"),
    ("application/json", b"[" * 5000 + b"]" * 5000),
    ("application/json", b'{"label": ' + b"9" * 5000 + b"}"),
    ("application/json", b"\xff\xfe\x00"),
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"a=%ZZ&&=&csrf=%00"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken"),
    ("multipart/form-data", b"x"),
]


@pytest.fixture
def web(store, tmp_path: Path, payment_key_file: Path) -> Iterator[Web]:
    web = make_web(store, tmp_path, payment_key_file)
    yield web
    web.close()


def _routes(web: Web) -> list[tuple[str, APIRoute]]:
    return sorted(
        ((m, r) for r in web.app.routes if isinstance(r, APIRoute) for m in r.methods if m != "HEAD"),
        key=lambda x: (x[1].path, x[0]),
    )


def _url(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_a_huge_after_on_the_unit_events_listing_is_a_422_not_a_500(web: Web) -> None:
    c = web.client()
    r = c.get("/api/units/lane-01/events", params={"after": 10**30}, headers=web.bearer())
    assert r.status_code == 422, r.text
    assert c.get("/api/units/lane-01/events", params={"after": -1}, headers=web.bearer()).status_code == 422
    assert (
        c.get("/api/units/lane-01/events", params={"after": 2**53, "limit": 10**6}, headers=web.bearer()).json() == []
    )
    assert c.post(f"/api/alerts/{10**30}/ack", headers=web.bearer()).status_code == 422


def test_no_route_answers_500_to_hostile_path_query_or_body_values(web: Web) -> None:
    c = web.client()
    failures = []
    for method, route in _routes(web):
        params = [p.name for p in route.dependant.path_params]
        queries = [p.name for p in route.dependant.query_params]
        tries: list[tuple[str, dict[str, str], str | None, bytes | None]] = []
        for v in [quote(h, safe="") for h in HOSTILE] + RAW:
            tries += [(_url(route.path, VALID | {p: v}), {}, None, None) for p in params]
            tries += [(_url(route.path, VALID) + f"?{q}={v}", {}, None, None) for q in queries]
        if method == "POST":
            tries += [(_url(route.path, VALID), {}, ctype, body) for ctype, body in BAD_BODIES]
        for url, _, ctype, body in tries:
            headers = web.bearer() | ({"Content-Type": ctype} if ctype else {})
            r = c.request(method, url, content=body, headers=headers, follow_redirects=False)
            if r.status_code >= 500:
                failures.append(f"{method} {url[:80]} {ctype or ''} {body[:20] if body else ''!r} -> {r.status_code}")
    assert not failures, "\n".join(failures[:40])


def test_hostile_sign_in_forms_and_csrf_tokens_get_a_4xx(web: Web) -> None:
    c = web.client()
    csrf = login_csrf(c)
    for name, password, token in [
        ("\x00", "x", csrf),
        ("vic", "x", "é"),
        ("vic", "x", "\x00"),
        ("é" * 10_000, "x", csrf),
        ("vic", "p" * 1_000_000, csrf),
        ("a\x00b", "correct horse battery", csrf),
    ]:
        r = c.post("/login", data={"name": name, "password": password, "csrf": token}, follow_redirects=False)
        assert r.status_code < 500 and r.headers.get("location") != "/", (name[:10], r.status_code)
    session = web.client()
    assert sign_in(session, "ada").headers["location"] == "/"
    r = session.post("/api/tokens", json={"label": "x"}, headers={"X-CSRF-Token": "é".encode()})
    assert r.status_code == 403


def test_over_long_fields_get_a_clear_4xx(web: Web) -> None:
    c = web.client()
    h = web.bearer()
    assert c.get("/api/cases", params={"q": "x" * 10_000}, headers=h).status_code == 422
    assert c.get("/api/cases/" + "c" * 10_000, headers=h).status_code == 422
    assert c.post("/api/tokens", json={"label": "t" * 65}, headers=h).status_code == 422
    body = {"command": "open_barrier", "args": {"barrier": "exit"}, "reason": "r" * 10_000}
    assert c.post("/api/units/site-1/lane-01/commands", json=body, headers=h).status_code == 422
    body = {"command": "open_barrier", "args": {f"k{i}": "v" for i in range(1000)}, "reason": "stuck"}
    assert c.post("/api/units/site-1/lane-01/commands", json=body, headers=h).status_code == 422
    csrf = login_csrf(c)
    assert (
        c.post("/login", data={"name": "n" * 10_000, "password": "x", "csrf": csrf}, follow_redirects=False).status_code
        == 422
    )


def test_non_json_bodies_to_json_routes_get_400_or_422(web: Web) -> None:
    c = web.client()
    for ctype, body in BAD_BODIES:
        r = c.post("/api/tokens", content=body, headers=web.bearer() | {"Content-Type": ctype})
        assert r.status_code in (400, 422), (ctype, body[:20], r.status_code)


def test_request_bodies_over_the_cap_get_413(web: Web) -> None:
    c = web.client()
    big = json.dumps({"label": "x" * 200_000}).encode()
    assert (
        c.post("/api/tokens", content=big, headers=web.bearer() | {"Content-Type": "application/json"}).status_code
        == 413
    )
    r = c.post("/api/payments/notify", content=big, headers={payments.HEADER: payments.sign(PAYMENT_KEY, big)})
    assert r.status_code == 413

    def chunks():  # no Content-Length: counted while it streams
        for _ in range(100):
            yield b"x" * 10_000

    assert (
        c.post("/api/payments/notify", content=chunks(), headers={payments.HEADER: "t=1,n=abcdefgh,v1=00"}).status_code
        == 413
    )


def _payment(web: Web, amount_cents: int = 11000) -> str:
    return web.store.payments.create("case-pay", "lane-01", "site-1", amount_cents, ["plate", "licence"])["payment_id"]


def _notify(web: Web, data: dict) -> object:
    body = json.dumps(data).encode()
    return web.client().post(
        "/api/payments/notify",
        content=body,
        headers={payments.HEADER: payments.sign(PAYMENT_KEY, body), "Content-Type": "application/json"},
    )


@pytest.mark.parametrize("amount", [11000.99, 11000.0, "11000", True, None, -11000, 10**30, [11000], {"v": 11000}])
def test_a_signed_callback_with_an_amount_that_is_not_whole_cents_is_refused_and_nothing_is_paid(
    web: Web, amount: object
) -> None:
    pid = _payment(web)
    r = _notify(web, {"payment_id": pid, "status": "paid", "amount_cents": amount, "paid_at": 1790000000.0})
    assert r.status_code == 400, r.text  # type: ignore[attr-defined]
    assert r.json()["error"] in ("bad_amount", "bad_body") and r.json()["detail"]  # type: ignore[attr-defined]
    assert web.store.payments.get(pid)["status"] == "pending"


def test_a_decimal_string_amount_is_converted_exactly_and_must_equal_the_payment(web: Web) -> None:
    pid = _payment(web)
    for bad in ["110.001", "110.0.0", "1e2", "110,00", "-110.00", " 110.00", "110.01", "NaN"]:
        r = _notify(web, {"payment_id": pid, "status": "paid", "amount": bad})
        assert r.status_code == 400, (bad, r.text)  # type: ignore[attr-defined]
        assert web.store.payments.get(pid)["status"] == "pending"
    assert (
        _notify(web, {"payment_id": pid, "status": "paid", "amount": "110.00", "amount_cents": 11000}).status_code
        == 400
    )  # one of the two
    ok = _notify(web, {"payment_id": pid, "status": "paid", "amount": "110.00"})
    assert ok.status_code == 200 and ok.json()["status"] == "paid", ok.text  # type: ignore[attr-defined]
    pid2 = _payment(web, 1)
    assert _notify(web, {"payment_id": pid2, "status": "paid", "amount": "0.01"}).status_code == 200


def test_a_whole_cents_callback_is_still_accepted_as_before(web: Web) -> None:
    pid = _payment(web)
    r = _notify(web, {"payment_id": pid, "status": "paid", "amount_cents": 11000, "paid_at": 1790000000.0})
    assert r.status_code == 200 and r.json()["already_paid"] is False  # type: ignore[attr-defined]
    assert _notify(web, {"payment_id": pid, "status": "paid", "amount_cents": 10999}).status_code == 400
