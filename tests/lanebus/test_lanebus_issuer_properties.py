"""No plate is ever issued twice: the plate issuer's pure core
(firmware.plate_issuer.IssuerLogic) against the simulated mechanism
(firmware.sim.world.IssuerWorld) with a simulated clock, over random
schedules of ISSUE repeats, faults, operator fixes, CLEAR_FAULT and board
resets (a new core reading the same journal)."""

from __future__ import annotations

import collections

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from firmware import lanebus as lb
from firmware.plate_issuer import IssuerLogic
from firmware.sim.world import IssuerWorld

STEP = 5
HORIZON_MS = 60_000
JOBS = [(f"P-{i}".encode(), i % 3, f"京P{i:05d}".encode()) for i in range(6)]


class WorldHal:
    def __init__(self, world: IssuerWorld) -> None:
        self.world = world
        self.journal: bytes | None = None

    def start_feed(self, plate_type: int) -> None:
        self.world.start_feed(plate_type)

    def start_print(self, text: bytes) -> None:
        self.world.start_print(text)

    def start_eject(self) -> None:
        self.world.start_eject()

    def stop_mechanism(self) -> None:
        self.world.stop_mechanism()

    def journal_read(self) -> bytes | None:
        return self.journal

    def journal_write(self, data: bytes) -> None:
        self.journal = bytes(data)


ACTIONS = (
    "issue",
    "issue",
    "issue",
    "jam",
    "cover_open",
    "print_failure",
    "empty",
    "operator_fix",
    "clear_fault",
    "clear_fault",
    "reset",
    "refill",
)
schedule = st.lists(
    st.tuples(
        st.integers(0, HORIZON_MS // STEP - 1).map(lambda k: k * STEP),
        st.sampled_from(ACTIONS),
        st.integers(0, len(JOBS) - 1),
    ),
    max_size=60,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule)
@example(
    [
        (0, "issue", 0),
        (100, "issue", 0),
        (3000, "reset", 0),
        (3100, "issue", 0),
        (4000, "issue", 1),
        (4100, "clear_fault", 0),
        (4200, "issue", 1),
        (4300, "jam", 1),
        (9000, "operator_fix", 0),
        (9100, "clear_fault", 0),
        (20000, "issue", 1),
    ]
)
def test_no_plate_is_issued_twice_whatever_happens(actions):
    world = IssuerWorld(magazine=6)
    hal = WorldHal(world)
    logic = IssuerLogic(hal, 0)
    by_time = collections.defaultdict(list)
    for t, a, j in actions:
        by_time[t].append((a, j))
    answers: dict[bytes, list[int]] = collections.defaultdict(list)
    for t in range(0, HORIZON_MS, STEP):
        world.advance(t / 1000)
        logic.update(t, world.sensors())
        for action, j in by_time.get(t, []):
            job_id, ptype, text = JOBS[j]
            if action == "issue":
                res, rec, _ = logic.issue(job_id, ptype, text, t)
                if res == lb.OK:
                    answers[job_id].append(rec[3])
            elif action in ("jam", "cover_open", "print_failure"):
                world.inject_fault(action)
            elif action == "empty":
                world.inject_fault("magazine_empty", lb.PLATE_TYPES[ptype])
            elif action == "operator_fix":
                world.clear_fault()
            elif action == "clear_fault":
                logic.clear_fault(t)
            elif action == "refill":
                world.refill(lb.PLATE_TYPES[ptype], 3)
            elif action == "reset":
                world.stop_mechanism()  # power off: the mechanism stops where it is
                logic = IssuerLogic(hal, t)  # a new boot on the same flash
    issued = collections.Counter(p["text"] for p in world.issued)
    event(
        f"plates issued: {min(len(world.issued), 6)}+"
        if len(world.issued) >= 6
        else f"plates issued: {len(world.issued)}"
    )
    for job_id, _, text in JOBS:
        n = issued.get(text.decode(), 0)
        assert n <= 2, f"{job_id!r}: {n} plates"
        job = logic.find(job_id)
        if job is not None:
            assert job.plates_done <= n  # the board never claims a plate it did not eject
            if job.state == lb.JOB_DONE:
                assert n == 2
    # plates only for jobs the host asked for
    assert set(issued) <= {text.decode() for _, _, text in JOBS}
