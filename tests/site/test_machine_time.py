"""The machines' own time in a visit: motions read from a board simulator's world log, and their cover of a step."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from firmware.sim.server import SimBoardServer
from site_sim.machine_time import WorldMark, covered_s


def test_a_motion_runs_from_its_first_to_its_last_log_event_mapped_to_the_monotonic_clock() -> None:
    mark = WorldMark(started_monotonic=100.0, scale=50.0, log_entries=0)
    log = [
        {"t": 10.0, "event": "arm_opening", "barrier": "entry"},
        {"t": 11.0, "event": "arm_opening", "barrier": "exit"},
        {"t": 12.0, "event": "arm_open", "barrier": "entry"},
        {"t": 20.0, "event": "vehicle_moving", "barrier": "entry"},
        {"t": 22.5, "event": "vehicle_passed", "barrier": "entry"},
    ]
    assert mark.motions(log) == [(100.2, 100.24), (100.4, 100.45)]  # the exit arm never opened fully


def test_a_motion_cut_short_or_ended_without_a_start_is_left_out() -> None:
    mark = WorldMark(started_monotonic=0.0, scale=1.0, log_entries=0)
    log = [
        {"t": 0.0, "event": "plate_issued"},  # began before the visit
        {"t": 1.0, "event": "feed_started"},
        {"t": 1.5, "event": "plate_jammed", "where": "feeder"},
        {"t": 3.0, "event": "feed_started"},  # the retry after the operator cleared it
        {"t": 3.8, "event": "plate_at_printer"},
    ]
    assert mark.motions(log) == [(3.0, 3.8)]


def test_two_machines_moving_at_once_count_once_and_only_inside_the_step() -> None:
    assert covered_s([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)], 0.5, 5.5) == 3.0
    assert covered_s([], 0.0, 1.0) == 0.0
    assert covered_s([(2.0, 3.0)], 0.0, 1.0) == 0.0


@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(1, 10)), max_size=12),
    st.integers(0, 45),
    st.integers(0, 45),
)
def test_the_cover_is_the_number_of_unit_cells_some_interval_holds(raw: list[tuple[int, int]], a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    intervals = [(float(s), float(s + n)) for s, n in raw]
    cells = sum(1 for k in range(start, end) if any(s <= k and k + 1 <= e for s, e in intervals))
    assert covered_s(intervals, float(start), float(end)) == cells


def test_a_simulated_boards_state_and_log_give_the_real_time_of_a_car_passing() -> None:
    server = SimBoardServer("io-board", time_scale=20.0)
    try:
        control = server.control()
        mark = WorldMark.of(control.state())
        assert mark.scale == 20.0
        barrier = server.io_world.barriers["entry"]
        with server.world_lock:
            barrier.pos = 1.0  # the arm stands open
        control.vehicle_pass("entry")
        t_moving = server.io_world.t
        with server.world_lock:
            server.io_world.advance(t_moving + 60.0)
        [(m0, m1)] = mark.motions(control.world_log(since=mark.log_entries))
        assert abs(m0 - mark.monotonic(t_moving)) < 1e-3
        # the car's 2.2 s under the arm, slowed so that its shortest pulse lasts 50 ms of real time
        stretch = max(1.0, 0.05 * 20.0 / 1.0)
        assert abs((m1 - m0) - 2.2 * stretch / 20.0) < 1e-3
    finally:
        server.stop()
