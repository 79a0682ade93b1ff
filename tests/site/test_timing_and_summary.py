"""Pure parts of the site simulation: arrivals, the sim clock, the summary arithmetic."""

from __future__ import annotations

import random
import statistics
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.stats import percentile
from site_sim.journey import AFTER_VISIT, WORLD_STEP, Outcome, Vehicle
from site_sim.summary import SiteSummary
from site_sim.timing import HumanDurations, SimClock, poisson_arrivals


def test_poisson_arrivals_have_the_asked_mean_rate() -> None:
    times = poisson_arrivals(rate_per_hour=30, count=4000, seed=7)
    gaps = [b - a for a, b in zip([0.0, *times], times)]
    assert statistics.mean(gaps) == pytest.approx(120.0, rel=0.06)
    assert times == sorted(times)


def test_poisson_arrivals_are_reproducible_from_the_seed() -> None:
    assert poisson_arrivals(12, 10, seed=1) == poisson_arrivals(12, 10, seed=1)
    assert poisson_arrivals(12, 10, seed=1) != poisson_arrivals(12, 10, seed=2)


def test_sim_clock_scales_real_time_by_speed() -> None:
    clock = SimClock(speed=60, real_start=100.0)
    assert clock.sim_seconds(101.0) == 60.0
    assert clock.real_delay(3600) == 60.0


def test_human_durations_spread_around_their_median() -> None:
    rng = random.Random(3)
    draws = [HumanDurations().draw("fit_plates", rng) for _ in range(3000)]
    assert statistics.median(draws) == pytest.approx(360, rel=0.05)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.floats(0, 100))
def test_percentile_is_one_of_the_values_and_monotone(values: list[float], q: float) -> None:
    p = percentile(values, q)
    assert p in values
    assert percentile(values, 0) <= p <= percentile(values, 100) == max(values)


def test_summary_counts_outcomes_and_the_30_minute_share() -> None:
    outcomes = [
        ("completed", 20.0, None),
        ("completed", 40.0, None),
        ("rejected", None, "inspection failed"),
        ("aborted", None, "owner left"),
    ]
    s = SiteSummary.from_outcomes(
        lanes=2,
        speed=60,
        outcomes=outcomes,
        events_published=10,
        events_stored=10,
        duplicates=0,
        lost=0,
        wall_seconds=1.0,
    )
    assert (s.vehicles, s.completed, s.rejected, s.aborted) == (4, 2, 1, 1)
    assert s.share_within_30_min == 0.5
    assert s.max_minutes == 40.0
    assert s.reasons == {"rejected: inspection failed": 1, "aborted: owner left": 1}


def test_the_time_by_step_is_each_steps_median_over_vehicles_a_skipped_step_counting_zero() -> None:
    steps = [
        {"wait: the VIN read": 0.30, "tablet: admit": 0.02},
        {"wait: the VIN read": 0.10, "tablet: admit": 0.04, "wait: plate options": 0.5},
        {"wait: the VIN read": 0.20, "tablet: admit": 0.03},
    ]
    s = _three_registered(steps=steps)
    assert s.added_s_by_step == {"wait: the VIN read": 0.2, "tablet: admit": 0.03, "wait: plate options": 0.0}
    assert list(s.added_s_by_step) == ["wait: the VIN read", "tablet: admit", "wait: plate options"]


def test_the_machines_motion_is_its_own_breakdown_and_steps_without_it_are_left_out() -> None:
    s = _three_registered(
        system_added_s_per_vehicle=0.4,
        machine_s_per_vehicle=0.5,
        steps=[{"wait: plates issued": 0.02}, {"wait: plates issued": 0.04}, {"wait: plates issued": 0.03}],
        machine_steps=[
            {"wait: plates issued": 0.24, "tablet: admit": 0.0},
            {"wait: plates issued": 0.22, "tablet: admit": 0.0},
            {"wait: plates issued": 0.23, "tablet: admit": 0.0},
        ],
    )
    assert s.machine_s_by_step == {"wait: plates issued": 0.23}
    assert s.added_s_by_step == {"wait: plates issued": 0.03}
    assert (s.system_added_s_per_vehicle, s.machine_s_per_vehicle) == (0.4, 0.5)


def test_a_visits_added_time_leaves_out_the_world_the_machines_and_the_lanes_work_after_the_car_left() -> None:
    o = Outcome(Vehicle("LSVAU2180N2183294", "110101199001011234", seed=1), "lane-01", "completed")
    o.non_human_real_s = 1.0
    o.steps = {
        "wait: the lane to notice the entry passage": 0.20,
        f"{WORLD_STEP}the camera photographs the VIN": 0.05,
        "wait: the car to clear the exit": 0.12,
        f"{AFTER_VISIT}wait: the lane to notice the exit passage": 0.08,
        "between the steps": 0.55,
    }
    o.machine_steps = {"wait: the lane to notice the entry passage": 0.11, "wait: the car to clear the exit": 0.11}
    assert (o.world_real_s, o.after_visit_real_s, o.machine_real_s) == (0.05, 0.08, 0.22)
    assert o.added_real_s == pytest.approx(1.0 - 0.05 - 0.08 - 0.22)
    assert o.added_steps == pytest.approx(
        {
            "wait: the lane to notice the entry passage": 0.09,
            "wait: the car to clear the exit": 0.01,
            "between the steps": 0.55,
        }
    )


def _three_registered(**breakdown: Any) -> SiteSummary:
    """The summary of three registered vehicles and no events, with the time breakdown given."""
    return SiteSummary.from_outcomes(
        lanes=1,
        speed=600,
        outcomes=[("completed", 10.0, None)] * 3,
        events_published=0,
        events_stored=0,
        duplicates=0,
        lost=0,
        wall_seconds=1.0,
        **breakdown,
    )
