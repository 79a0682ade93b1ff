"""Plate numbers: GA 36 formats, random options, and one owner per number under concurrent reservations."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_db import empty

from cloud_bridge.ingest import classify
from cloud_bridge.plates import issued_kind, random_options
from cloud_bridge.store import open_store
from edge.contract import EventEnvelope, Leaf, PlateKind, topic
from edge.plate_numbers import PlateError, PlateRules, validate_number

RULES = PlateRules()


@given(st.integers(0, 2**32), st.sampled_from(list(PlateKind)), st.sampled_from([None, "bev", "phev"]))
def test_random_options_follow_the_format_and_local_rules(seed: int, kind: PlateKind, fuel: str | None) -> None:
    numbers = random_options("苏A", kind, 50, RULES, random.Random(seed), fuel_type=fuel)
    assert len(numbers) == len(set(numbers)) == 50
    for n in numbers:
        assert validate_number(n, "苏A", kind, RULES, composed=True) == n
        assert "I" not in n[2:] and "O" not in n[2:]
        if kind == PlateKind.NEW_ENERGY:
            assert len(n) == 8 and n[2] == ("D" if fuel == "bev" else "F") and n[4:].isdigit()
        else:
            assert len(n) == 7


@pytest.mark.parametrize(
    "number,kind,code",
    [
        ("苏A1234", PlateKind.ORDINARY, "bad_format"),
        ("苏A12I45", PlateKind.ORDINARY, "bad_format"),
        ("苏AABCDE", PlateKind.ORDINARY, "bad_format"),
        ("苏AAB1C2", PlateKind.ORDINARY, "local_rule"),
        ("苏ASB123", PlateKind.ORDINARY, "local_rule"),
        ("苏AX12345", PlateKind.NEW_ENERGY, "bad_format"),
        ("苏AD1234A", PlateKind.NEW_ENERGY, "bad_format"),
        ("沪A12345", PlateKind.ORDINARY, "wrong_authority"),
    ],
)
def test_composed_numbers_outside_format_or_local_rules_are_refused(number: str, kind: PlateKind, code: str) -> None:
    with pytest.raises(PlateError) as exc:
        validate_number(number, "苏A", kind, RULES, composed=True)
    assert exc.value.code == code


def test_letter_rules_are_configurable() -> None:
    rules = PlateRules(new_energy_first="DFAG", composed_max_letters=3)
    assert validate_number("苏AA12345", "苏A", PlateKind.NEW_ENERGY, rules, composed=True) == "苏AA12345"
    assert validate_number("苏AKX2M8", "苏A", PlateKind.ORDINARY, rules, composed=True) == "苏AKX2M8"


def _race(store, numbers: list[str], cases: list[str], now: float) -> dict[str, list[str]]:
    """Each case's thread tries every number in its own order; returns number -> cases that were told 'ok'."""
    winners: dict[str, list[str]] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(cases))

    def run(case_id: str, order: list[str]) -> None:
        barrier.wait()
        for number in order:
            out = store.plates.reserve(number, "苏A", "ordinary", case_id, "lane-01", 600, now)
            if out.ok:
                with lock:
                    winners.setdefault(number, []).append(case_id)
                    # the case's earlier reservation was released by this one
                    for old in out.released:
                        winners[old].remove(case_id)

    threads = [
        threading.Thread(target=run, args=(c, random.Random(i).sample(numbers, len(numbers))))
        for i, c in enumerate(cases)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return winners


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_numbers=st.integers(1, 6), n_cases=st.integers(2, 6), seed=st.integers(0, 1000))
def test_concurrent_reservations_give_each_number_to_exactly_one_case(
    db_url, n_numbers: int, n_cases: int, seed: int
) -> None:
    store = open_store(db_url)
    store.migrate()
    try:
        empty(store, "plates")
        rng = random.Random(seed)
        numbers = [f"苏A{rng.randrange(10000, 99999)}" for _ in range(n_numbers)]
        numbers = sorted(set(numbers))
        cases = [f"case-{seed}-{i}" for i in range(n_cases)]
        winners = _race(store, numbers, cases, time.time())
        rows = {p["number"]: p for p in store.plates.numbers()}
        for number, holders in winners.items():
            assert len(holders) <= 1, f"{number} granted to {holders}"
            if holders:
                assert rows[number]["case_id"] == holders[0]
        per_case = {}
        for p in rows.values():
            per_case.setdefault(p["case_id"], []).append(p["number"])
        assert all(len(v) == 1 for v in per_case.values()), "a case holds one reservation at a time"
    finally:
        store.close()


def test_an_expired_reservation_can_be_taken_and_an_issued_number_never(store) -> None:
    t = time.time()
    assert store.plates.reserve("苏A11111", "苏A", "ordinary", "a", "lane-01", 10, t).ok
    assert not store.plates.reserve("苏A11111", "苏A", "ordinary", "b", "lane-02", 10, t + 5).ok
    assert store.plates.reserve("苏A11111", "苏A", "ordinary", "b", "lane-02", 10, t + 11).ok
    assert [r["number"] for r in store.plates.expire(t + 30)] == ["苏A11111"]
    assert store.plates.reserve("苏A22222", "苏A", "ordinary", "c", "lane-01", 10, t).ok
    with store.engine.tx() as cur:  # the lane reports it issued (as the ingest fold records a case.plates_issued)
        assert store.plates.issue_in(cur, "苏A22222", "苏A", PlateKind.ORDINARY, "c", "lane-01", t + 1, t + 1) is None
    assert not store.plates.reserve("苏A22222", "苏A", "ordinary", "d", "lane-01", 10, t + 1000).ok
    assert store.plates.expire(t + 1000) == []


def test_an_issued_numbers_kind_is_what_the_lane_said_else_what_its_format_tells() -> None:
    assert issued_kind("苏AD12345") is PlateKind.NEW_ENERGY and issued_kind("苏A12345") is PlateKind.ORDINARY
    assert issued_kind("苏A12345", "new-energy") is PlateKind.NEW_ENERGY
    assert (
        issued_kind("苏AD12345", {"kind": "x"}) is PlateKind.NEW_ENERGY
        and issued_kind("苏A12345", "blue") is PlateKind.ORDINARY
    )


def test_a_number_issued_by_a_lane_event_is_recorded_with_the_kind_its_format_tells(store, ingest) -> None:
    case_id = "lane-01-261206-00000e"
    events = [
        EventEnvelope(unit="lane-01", seq=1, ts=time.time(), kind="case.opened", case_id=case_id),
        EventEnvelope(
            unit="lane-01",
            seq=2,
            ts=time.time(),
            kind="case.plates_issued",
            case_id=case_id,
            data={"number": "苏AD12345"},
        ),
    ]
    ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), time.time()) for e in events])
    row = store.plates.number("苏AD12345")
    assert (
        row["status"] == "issued"
        and row["case_id"] == case_id
        and row["plate_kind"] == "new-energy"
        and row["authority"] == "苏A"
    )


@pytest.mark.parametrize("same_number_in_batch", [False, True])
def test_numbers_issued_in_one_batch_are_judged_as_one_by_one(store, ingest, same_number_in_batch: bool) -> None:
    """A batch's plates are recorded together: each number meets what was stored before it, a clash is noted on its event."""
    t = time.time()
    assert store.plates.reserve("苏A50001", "苏A", "ordinary", "lane-09-261206-000001", "lane-09", 600, t).ok
    case = [f"lane-01-261206-00000{i}" for i in range(5)]

    def issued(seq: int, case_id: str, number: str) -> EventEnvelope:
        return EventEnvelope(
            unit="lane-01", seq=seq, ts=t + seq, kind="case.plates_issued", case_id=case_id, data={"number": number}
        )

    first = [issued(1, case[0], "苏A50002")]
    ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), t) for e in first])
    batch = [
        issued(2, case[1], "苏A50001"),  # reserved by another case, live: a clash with that holder
        issued(3, case[0], "苏A50002"),  # the same case reported again: no clash
        issued(4, case[2], "苏A50003"),  # free: issued
        issued(5, case[3], "苏A50002"),  # issued to case 0: a clash
    ]
    if same_number_in_batch:
        batch.append(issued(6, case[4], "苏A50003"))  # issued to case 2 earlier in this batch: a clash
    res = ingest([classify(topic("site-1", "lane-01", Leaf.EVENTS), e.to_bytes(), t) for e in batch])
    clashes = {
        e.ev.seq: (e.plate_clash.number, e.plate_clash.holder) for e in res.findings.events if e.plate_clash is not None
    }
    expected = {2: ("苏A50001", "lane-09-261206-000001"), 5: ("苏A50002", case[0])}
    if same_number_in_batch:
        expected[6] = ("苏A50003", case[2])
    assert clashes == expected
    assert (
        store.plates.number("苏A50003")["case_id"] == case[2] and store.plates.number("苏A50003")["status"] == "issued"
    )
    assert store.plates.number("苏A50001")["status"] == "reserved"
    twice = [a for a in store.alerts.recent("active") if a["rule"] == "plate_issued_twice"]
    assert len(twice) == len(expected)
