"""The bridge's dashboard and JSON API, fuzzed with schemathesis from its own OpenAPI description.

The app over each store engine (SQLite, and PostgreSQL, which refuses strings SQLite keeps), with a few real
rows to name (a lane's events and case, an alert, a reserved plate, a payment). Each operation is called with
an ops admin's token, with data that fits the schema and with data that does not; no answer is a 5xx, and
every answer whose status the schema declares has the declared shape.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from fuzz_bridge import ingester, open_migrated
from fuzz_helpers import api_operations, budget, bytes_around, count, dumps, hostile_object, raw_requests
from hypothesis import example, given
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from web_helpers import make_web

from cloud_bridge.ingest import classify
from edge.contract import EventEnvelope, Leaf, Request, RequestKind, topic

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, response_schema_conformance]
CASE = "lane-01-261206-abcdef"


def _seed(web: Any, ingest: Any) -> dict[str, str]:
    """Real rows for the fuzzer to name, made the ways they are made in the field: a lane's events (a case, and a refused
    event that raises an alert), its requests (a reserved plate, a payment), then the alert's id from the API."""
    events = [
        EventEnvelope(unit="lane-01", seq=s, ts=time.time(), kind=k, case_id=CASE, actor="insp-1", data=d)
        for s, (k, d) in enumerate(
            [
                ("case.opened", {"id_number": "110101199001011234", "owner_name": "王"}),
                ("case.admitted", {}),
                ("case.vin_read", {"vin": "LSVAB4182E2100001", "image": "data:image/png;base64,iVBORw0KGgo="}),
            ],
            start=1,
        )
    ]
    refused = b'{"v": 1, "unit": "lane-01", "seq": 4, "ts": "yesterday", "kind": "case.photo"}'
    ingest(
        [
            classify(topic("site-1", "lane-01", Leaf.EVENTS), raw, time.time())
            for raw in [e.to_bytes() for e in events] + [refused]
        ]
    )

    def ask(kind: RequestKind, body: dict[str, Any]) -> dict[str, Any]:
        answer = web.app.state.service.handle_request(
            Request(unit="lane-01", kind=kind, case_id=CASE, body=body, ts=time.time()), "site-1"
        )
        assert answer is not None and answer.ok, answer
        return answer.body

    number = ask(RequestKind.PLATE_OPTIONS, {"count": 5})["numbers"][0]
    ask(RequestKind.PLATE_RESERVE, {"number": number})
    payment = ask(RequestKind.PAYMENT_START, {})
    alerts = web.client().get("/api/alerts", headers=web.bearer("ada")).json()
    return {
        "case_id": CASE,
        "unit": "lane-01",
        "site": "site-1",
        "number": number,
        "alert_id": str(alerts[0]["id"]),
        "payment_id": payment["payment_id"],
    }


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bridge_web(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tmp = tmp_path_factory.mktemp("bridge-web")
    if request.param == "sqlite":
        store = open_migrated(str(tmp / "bridge.sqlite3"))
    else:
        store = open_migrated(
            request.getfixturevalue("fuzz_pg_cluster").create_database(f"fzweb_{uuid.uuid4().hex[:8]}")
        )
    key = tmp / "payment.key"
    key.write_bytes(b"fuzz-provider-key-0123456789")
    web = make_web(store, tmp, key)
    try:
        real = _seed(web, ingester(store))
        auth = web.bearer("ada")
        schema = schemathesis.openapi.from_asgi("/openapi.json", web.app, headers=auth)

        @schema.hook
        def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy:
            """Half the requests that name a case, unit, alert, plate or payment name a real one."""
            if not isinstance(path_parameters, dict) or not set(path_parameters) & set(real):
                return st.just(path_parameters)
            return st.sampled_from(
                [path_parameters, {**path_parameters, **{k: v for k, v in real.items() if k in path_parameters}}]
            )

        yield SimpleNamespace(
            app=web.app, web=web, schema=schema, auth=auth, store=store, key=key.read_bytes(), real=real
        )
    finally:
        web.close()
        store.close()


def bridge_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the bridge's OpenAPI description, from its routers."""
    from cloud_bridge.app import ROUTERS

    return api_operations(r for module in ROUTERS for r in module.router.routes)


@pytest.mark.parametrize(("method", "path"), bridge_operations(), ids=[f"{m} {p}" for m, p in bridge_operations()])
def test_the_bridge_answers_any_request_without_a_server_error_and_as_its_schema_declares(bridge_web, method, path):
    operation = bridge_web.schema[path][method]
    statuses: Counter[int] = Counter()

    @budget(ci=5, long=200)
    @given(st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)))
    def call(case):
        count()
        statuses[case.call_and_validate(headers=bridge_web.auth, checks=CHECKS).status_code] += 1

    call()
    if path != "/api/payments/notify":  # its caller is the payment provider, who signs instead (below)
        assert set(statuses) != {401}, f"only refusals for want of a token: {statuses}"


# ---------------------------------------------------------------- the payment provider's callback (its body is not in the schema)
def callback_objects(payment_id: str) -> st.SearchStrategy[dict[str, Any]]:
    amount = st.one_of(
        st.just(11000),
        st.integers(),
        st.floats(),
        st.text(max_size=12),
        st.sampled_from(["110.00", "110.001", "1e3", "-1"]),
    )
    return st.fixed_dictionaries(
        {"payment_id": st.one_of(st.just(payment_id), st.text(max_size=70))},
        optional={
            "status": st.one_of(st.just("paid"), st.text(max_size=40)),
            "amount_cents": amount,
            "amount": amount,
            "paid_at": st.one_of(st.floats(), st.integers()),
        },
    )


def test_the_payment_callback_answers_any_signed_or_unsigned_body_without_a_server_error(bridge_web):
    from cloud_bridge import payments

    client = bridge_web.web.client("203.0.113.9")
    bodies = st.one_of(
        callback_objects(bridge_web.real["payment_id"]).flatmap(hostile_object),
        callback_objects(bridge_web.real["payment_id"]).map(lambda o: dumps(o)),
        bytes_around(st.just(payments.callback_body(bridge_web.real["payment_id"], 11000))),
    )
    stamps = st.one_of(
        st.none(), st.integers(int(time.time()) - 400, int(time.time()) + 400), st.integers(), st.just(10**400)
    )
    nonces = st.one_of(
        st.none(), st.text(st.characters(codec="ascii", exclude_characters=",="), min_size=0, max_size=80)
    )
    headers = st.one_of(
        st.none(), st.text(max_size=80).filter(lambda h: h.isascii() and "\n" not in h and "\r" not in h)
    )

    @budget(ci=50, long=3_000)
    @given(bodies, st.sampled_from(["signed", "signed", "forged", "raw"]), stamps, nonces, headers)
    @example(
        b'{"payment_id": "pay_x", "amount_cents": 1}', "signed", 10**400, None, None
    )  # was an OverflowError: a 500
    @example(
        b'{"payment_id": "pay_x", "amount_cents": 1}', "signed", None, "0000000\x00", None
    )  # a NUL nonce: 500 on PostgreSQL
    def callback(body, how, t, nonce, raw_header):
        count()
        if how == "signed":
            header = payments.sign(bridge_web.key, body, t=t, nonce=nonce if nonce and 8 <= len(nonce) <= 64 else None)
        elif how == "forged":
            header = payments.sign(b"not the provider's key", body)
        else:
            header = raw_header
        r = client.post(
            "/api/payments/notify", content=body, headers={payments.HEADER: header} if header is not None else {}
        )
        assert r.status_code < 500, (r.status_code, r.text[:300])

    callback()


def test_any_bytes_in_any_content_type_to_any_operation_is_not_a_server_error(bridge_web):
    """What schemathesis does not send: bodies that are not JSON, in content types the operation does not take, signed in or not."""
    client = bridge_web.web.client("203.0.113.10")

    @budget(ci=80, long=5_000)
    @given(raw_requests(bridge_operations(), bridge_web.real), st.booleans())
    @example(
        ("POST", "/api/tokens", b"\x00\x99\xb73V\xb0", {"content-type": "text/plain"}), True
    )  # was a 500: FastAPI echoed the bytes
    @example(
        ("POST", "/api/tokens", b'["\\ud800"]', {"content-type": "application/json"}), True
    )  # a 500: a lone surrogate echoed
    @example(
        ("POST", "/api/tokens", b'{"label": NaN}', {"content-type": "application/json"}), True
    )  # NaN echoed is not JSON
    def send(request, signed_in):
        count()
        method, url, body, headers = request
        r = client.request(method, url, content=body, headers=headers | (bridge_web.auth if signed_in else {}))
        assert r.status_code < 500, (method, url[:200], r.status_code, r.text[:300])

    send()
