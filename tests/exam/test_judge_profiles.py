"""Table-driven: every scripted driver gets the result the rules table says, and every rule has a trigger and a near miss.

The tracks come from the kinematic simulator (`site_sim/exam_car.py`): a bicycle-model car
driven through the example course, its RTK receiver's noisy epochs and its board's signals.
Near misses are measured on the simulated car's true position, never by asking the judge.
"""

from __future__ import annotations

import pytest
from judge_helpers import judged, rules

from exam_vehicle.judge import RunInvalid
from site_sim.exam_car import PROFILES, RULE_PROFILES, VALIDITY_PROFILES


def test_every_rule_of_both_tables_has_a_profile_that_breaks_it_and_a_near_miss() -> None:
    assert set(RULE_PROFILES) == {r.id for r in rules("c1-2022").rule}
    assert {r.id for r in rules("c2-2022").rule} <= set(RULE_PROFILES)
    for trigger, near in RULE_PROFILES.values():
        assert trigger in PROFILES and near in PROFILES


@pytest.mark.parametrize("profile", list(PROFILES))
def test_each_driver_profile_gets_its_expected_deductions_and_end(profile: str) -> None:
    expect = PROFILES[profile][1]
    got = judged(profile)
    assert (got.deductions, got.result.ended_by, got.result.passed) == (
        expect.deductions,
        expect.ended_by,
        expect.passed,
    )
    assert got.result.rules_version == rules(PROFILES[profile][0].rules).version


@pytest.mark.parametrize("rule_id", list(RULE_PROFILES))
def test_a_rule_is_broken_by_its_trigger_and_not_by_its_near_miss(rule_id: str) -> None:
    trigger, near = RULE_PROFILES[rule_id]
    assert rule_id in judged(trigger).deductions
    assert rule_id not in judged(near).deductions


def test_a_fail_ends_the_test_at_once_with_the_item_unfinished() -> None:
    got = judged("s-stop-3s")
    kinds = [e.kind for e in got.events]
    assert kinds[-3:] == ["deduction", "item_ended", "result"]
    assert got.events[-2].item == "s_curve" and got.events[-2].completed is False
    assert got.result.failed_by == "s-curve-stop" and got.result.score == 100


def test_a_score_under_the_pass_mark_ends_the_test_at_the_deduction_that_takes_it_there() -> None:
    got = judged("sloppy")
    assert (
        got.result.score == 70
        and got.result.ended_by == "disqualified"
        and got.result.failed_by == "parallel-turn-signal"
    )
    assert "s_curve" not in [getattr(e, "item", None) for e in got.events]


def test_rtk_fixed_lost_for_longer_than_the_table_allows_makes_the_run_invalid_not_failed() -> None:
    invalid, judged_ok = (judged(p) for p in VALIDITY_PROFILES)
    reasons = [e for e in invalid.events if isinstance(e, RunInvalid)]
    assert len(reasons) == 1 and "RTK fixed" in reasons[0].reason and "3.0 s" in reasons[0].reason
    assert invalid.result.passed is None and invalid.result.ended_by == "invalid" and not invalid.deductions
    assert judged_ok.result.passed is True


def test_deductions_name_where_they_happened_in_the_course_frame_and_in_wgs84() -> None:
    d = next(e for e in judged("bay-stop-3s").events if e.kind == "deduction")
    assert d.points == 5 and d.wording == "中途停车时间超过2s" and d.score == 95
    assert 38.8 < d.e < 41.2 and -8.6 < d.n < -3.3  # in the bay
    assert 31.93 < d.lat < 31.94 and 118.87 < d.lon < 118.88


def test_the_c2_car_drives_through_the_hill_area_without_a_hill_item() -> None:
    items = [e.item for e in judged("c2-clean").events if e.kind == "item_started"]
    assert items == ["reverse_into_bay", "parallel_park", "s_curve", "right_angle_turn"]
