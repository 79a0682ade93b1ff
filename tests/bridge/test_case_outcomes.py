"""Every way a case ends (registered, rejected, aborted) reaches the dashboard figures with its own outcome."""

from __future__ import annotations

import time

from cloud_bridge.figures import registration_figures
from cloud_bridge.ingest import classify
from edge.contract import EventEnvelope, Leaf, topic

T0 = 1_790_000_000.0
REG, REJ, ABO, LATE, BARE = (f"lane-01-261206-{n:06x}" for n in range(1, 6))  # case ids name the unit that opened them


def _events(case: str, first_seq: int, kinds: list[tuple[str, dict]]) -> list[EventEnvelope]:
    return [
        EventEnvelope(unit="lane-01", seq=first_seq + i, ts=T0 + 60 * i, kind=k, case_id=case, actor="insp-7", data=d)
        for i, (k, d) in enumerate(kinds)
    ]


# the event sequences lane_controller/case.py writes for each ending
REGISTERED = [
    ("case.opened", {}),
    ("case.admitted", {}),
    ("case.inspected", {"ok": True}),
    ("case.plate_reserved", {"number": "苏A12345"}),
    ("case.paid", {}),
    ("case.plates_issued", {"plate": "苏A12345"}),
    ("case.exit_opened", {"outcome": "registered"}),
    ("case.closed", {"outcome": "registered"}),
]
REJECTED_IN_LANE = [
    ("case.opened", {}),
    ("case.admitted", {}),
    ("case.rejected", {"reason": "VIN differs"}),
    ("case.exit_opened", {"outcome": "rejected"}),
    ("case.closed", {"outcome": "rejected"}),
]
ABORTED_BEFORE_ENTRY = [
    ("case.opened", {}),
    ("case.aborted", {"reason": "owner left"}),
    ("case.closed", {"outcome": "aborted"}),
]


def _ingest(ingest, events: list[EventEnvelope]) -> None:
    ingest([classify(topic("site-1", e.unit, Leaf.EVENTS), e.to_bytes(), time.time()) for e in events])


def test_registered_rejected_and_aborted_cases_are_counted_as_such_on_the_dashboard(store, ingest) -> None:
    seq = 1
    for case, kinds in ((REG, REGISTERED), (REJ, REJECTED_IN_LANE), (ABO, ABORTED_BEFORE_ENTRY)):
        _ingest(ingest, _events(case, seq, kinds))
        seq += len(kinds)
    assert store.counts()["cases_by_outcome"] == {"registered": 1, "rejected": 1, "aborted": 1}
    figures = registration_figures(store.cases.closed_since(0))
    assert (figures["registered"], figures["rejected"], figures["aborted"]) == (1, 1, 1)
    assert figures["median_s"] == 7 * 60  # only the registered case's time counts
    assert [store.cases.search(c)[0]["outcome"] for c in (REG, REJ, ABO)] == ["registered", "rejected", "aborted"]


def test_a_rejection_stored_after_its_case_closed_still_makes_the_case_rejected(store, ingest) -> None:
    events = _events(LATE, 1, REJECTED_IN_LANE)
    _ingest(ingest, [events[-1]])  # case.closed first (redelivery order), and without the outcome a lane might omit
    assert store.case(LATE)["outcome"] == "rejected"
    _ingest(ingest, events[:-1])
    assert store.case(LATE)["outcome"] == "rejected"
    bare = EventEnvelope(unit="lane-01", seq=20, ts=T0, kind="case.closed", case_id=BARE, data={})
    _ingest(
        ingest,
        [EventEnvelope(unit="lane-01", seq=19, ts=T0, kind="case.aborted", case_id=BARE, data={"reason": "x"}), bare],
    )
    assert store.case(BARE)["outcome"] == "aborted"
