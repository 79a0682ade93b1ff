"""A unit may ask only about its own open cases, within quotas and a request rate."""

from __future__ import annotations

import time
from pathlib import Path

from bridge_helpers import case_of, make_settings

from cloud_bridge.reference import generate, load_into
from cloud_bridge.service import Service
from edge.contract import EventEnvelope, Leaf, Request, topic

SITE = "site-1"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _service(store, **limits) -> tuple[Service, Clock]:
    settings = make_settings(str(Path("unused.sqlite3")), **{f"limits.{k}": v for k, v in limits.items()})
    clock = Clock()
    return Service(settings, store, clock=clock), clock


def _ask(svc: Service, unit: str, kind: str, case_id: str | None, **body):
    req = Request(unit=unit, kind=kind, case_id=case_id, body=body, ts=svc.clock())
    return svc.handle_request(req, SITE)


def test_a_unit_cannot_ask_about_another_units_case(store) -> None:
    svc, _ = _service(store)
    data, _problems = generate(5, seed=3)
    load_into(store, data)
    theirs = case_of("lane-02", 7)
    for kind, body in [
        ("partner.lookup", {"id_number": data.vehicles[0].owner_id_number}),
        ("plate.options", {"count": 5}),
        ("plate.reserve", {"number": "苏A66666", "composed": True}),
        ("payment.start", {}),
        ("case.state", {}),
        ("plate.release", {"number": "苏A66666"}),
    ]:
        r = _ask(svc, "lane-01", kind, theirs, **body)
        assert not r.ok and r.error == "not_your_case", kind
    assert not _ask(svc, "lane-01", "case.state", "invented-1").ok
    assert _ask(svc, "lane-01", "case.state", case_of("lane-01", 7)).ok


def test_only_offered_numbers_may_be_reserved_unless_composed(store) -> None:
    svc, _ = _service(store)
    mine = case_of("lane-01", 1)
    offered = _ask(svc, "lane-01", "plate.options", mine, count=5).body["numbers"]
    assert not (r := _ask(svc, "lane-01", "plate.reserve", mine, number="苏A66666")).ok and r.error == "not_offered"
    assert _ask(svc, "lane-01", "plate.reserve", mine, number=offered[0]).ok
    other = case_of("lane-01", 2)
    assert _ask(svc, "lane-01", "plate.reserve", other, number=offered[1]).error == "not_offered", (
        "offers belong to their case"
    )


def test_a_unit_holds_a_bounded_number_of_reservations(store) -> None:
    svc, _ = _service(store, reservations_per_unit=3)
    for n in range(3):
        assert _ask(svc, "lane-01", "plate.reserve", case_of("lane-01", n), number=f"苏A5N12{n}", composed=True).ok
    r = _ask(svc, "lane-01", "plate.reserve", case_of("lane-01", 9), number="苏A5N129", composed=True)
    assert not r.ok and r.error == "quota"
    assert _ask(svc, "lane-01", "plate.reserve", case_of("lane-01", 0), number="苏A5N128", composed=True).ok, (
        "a case may change its number"
    )
    assert _ask(svc, "lane-02", "plate.reserve", case_of("lane-02", 1), number="苏A5N127", composed=True).ok, (
        "the quota is per unit"
    )


def test_payment_starts_only_for_a_case_that_holds_a_number(store) -> None:
    svc, _ = _service(store)
    mine = case_of("lane-01", 1)
    assert _ask(svc, "lane-01", "payment.start", mine).error == "no_plate"
    assert _ask(svc, "lane-01", "plate.reserve", mine, number="苏A7P135", composed=True).ok
    assert _ask(svc, "lane-01", "payment.start", mine).ok


def test_look_ups_and_offers_per_case_are_bounded(store) -> None:
    svc, _ = _service(store, lookups_per_case=2, offers_per_case=20)
    mine = case_of("lane-01", 1)
    assert [_ask(svc, "lane-01", "partner.lookup", mine, id_number="110101199003074514").error for _ in range(3)] == [
        "not_found",
        "not_found",
        "quota",
    ]
    assert _ask(svc, "lane-01", "plate.options", mine, count=20).ok
    assert _ask(svc, "lane-01", "plate.options", mine, count=1).error == "quota"


def test_a_closed_case_gets_no_more_numbers(store, ingest) -> None:
    from cloud_bridge.ingest import classify

    svc, _ = _service(store)
    mine = case_of("lane-01", 1)
    for seq, kind in ((1, "case.opened"), (2, "case.aborted"), (3, "case.closed")):
        ev = EventEnvelope(
            unit="lane-01",
            seq=seq,
            ts=time.time(),
            kind=kind,
            case_id=mine,
            data={"reason": "x"} if kind == "case.aborted" else {},
        )
        ingest([classify(topic(SITE, "lane-01", Leaf.EVENTS), ev.to_bytes(), time.time())])
    assert _ask(svc, "lane-01", "plate.options", mine).error == "case_closed"
    assert _ask(svc, "lane-01", "case.state", mine).ok


def test_a_unit_over_its_request_rate_is_told_so_and_others_are_served(store) -> None:
    svc, clock = _service(store, requests_per_s=2.0, requests_burst=5)
    mine = case_of("lane-01", 1)
    answers = [_ask(svc, "lane-01", "case.state", mine) for _ in range(8)]
    assert [a.ok for a in answers] == [True] * 5 + [False] * 3 and answers[-1].error == "rate_limited"
    assert _ask(svc, "lane-02", "case.state", case_of("lane-02", 1)).ok
    clock.now += 1.0
    assert [_ask(svc, "lane-01", "case.state", mine).ok for _ in range(3)] == [True, True, False], (
        "2 per second after the burst"
    )
