"""A unit's requests (the `req` leaf), as any unit account could send them, into the bridge's answering service.

The worker answers every Request it can parse with `Service.handle_request`; an exception there becomes an
`internal` error response (the lane learns nothing, the bug stays hidden). Whatever the body holds (the keys
the bridge reads with wrong types, huge numbers, nasty strings, another unit's case), the service answers
with a machine-readable refusal or a result, never by raising, on both store engines.
"""

from __future__ import annotations

import time

import pytest
from bridge_helpers import make_settings
from fuzz_helpers import budget, count, dumps
from fuzz_payloads import OWN_CASE, SITE, UNIT, valid_object
from hypothesis import given
from hypothesis import strategies as st

from cloud_bridge.ingest import classify
from cloud_bridge.reference import generate, load_into
from cloud_bridge.service import Service
from edge.contract import EventEnvelope, Leaf, PayloadError, Request, Response, decode, topic

pytestmark = pytest.mark.fuzz


@pytest.fixture
def service(store, ingest, tmp_path):
    data, _ = generate(6, seed=2)
    load_into(store, data)
    opened = EventEnvelope(
        unit=UNIT,
        seq=1,
        ts=time.time(),
        kind="case.opened",
        case_id=OWN_CASE,
        data={"id_number": data.vehicles[0].owner_id_number},
    )
    ingest([classify(topic(SITE, UNIT, Leaf.EVENTS), opened.to_bytes(), time.time())])
    key = tmp_path / "payment.key"
    key.write_bytes(b"fuzz-provider-key-0123456789")
    settings = make_settings(
        str(tmp_path / "unused.sqlite3"), key_file=key, **{"limits.requests_per_s": 1e9, "limits.requests_burst": 10**9}
    )
    return Service(settings, store), data


def test_the_bridge_answers_any_request_a_unit_can_send_without_raising(service):
    svc, data = service
    ids = st.sampled_from([v.owner_id_number for v in data.vehicles] + [v.vin for v in data.vehicles])

    @budget(ci=40, long=3_000)
    @given(valid_object(Leaf.REQ), st.one_of(st.none(), ids))
    def one(obj, known):
        count()
        if known is not None and isinstance(obj.get("body"), dict):  # now and then a real ID number or VIN
            obj["body"][("id_number" if len(known) == 18 else "vin")] = known
        try:
            req = decode(Leaf.REQ, dumps(obj))
        except PayloadError:  # the worker dead-letters it (a lone surrogate, say): nothing to answer
            return
        assert isinstance(req, Request)
        answer = svc.handle_request(req, SITE)
        assert answer is None or isinstance(answer, Response)
        if answer is not None and not answer.ok:
            assert answer.error and answer.error != "internal"

    one()
