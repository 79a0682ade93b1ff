"""The judge's contract on small hand-made inputs: what it refuses, how it starts, ends and says nothing after the end."""

from __future__ import annotations

import pytest
from judge_helpers import car, course, rules

from edge.settings import ConfigError
from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.judge import Judge, known_rules
from exam_vehicle.signals import Signal, SignalChange

T0 = 1_800_000_000.0


def _fixed(
    t: float, e: float = 4.4, n: float = 0.0, speed: float = 0.0, quality: FixQuality = FixQuality.RTK_FIXED
) -> Epoch:
    lat, lon, alt = course().geodetic(e, n, 1.45)
    return Epoch(
        t=t,
        time="09:00:00.000",
        lat=lat,
        lon=lon,
        alt=alt,
        quality=quality,
        speed_mps=speed,
        course_deg=90.0,
        heading_deg=90.0,
    )


def test_a_table_that_lacks_a_rule_or_has_an_unknown_one_is_refused() -> None:
    table = rules("c1-2022")
    with pytest.raises(ConfigError, match="missing rule stall"):
        Judge(course(), car(), table.model_copy(update={"rule": [r for r in table.rule if r.id != "stall"]}))
    extra = table.rule[0].model_copy(update={"id": "made-up", "item": "general"})
    with pytest.raises(ConfigError, match="rule made-up is not one the judge knows"):
        Judge(course(), car(), table.model_copy(update={"rule": [*table.rule, extra]}))
    no_param = [r.model_copy(update={"params": {}}) if r.id == "bay-stop-over-2s" else r for r in table.rule]
    with pytest.raises(ConfigError, match="rule bay-stop-over-2s lacks parameter over_s"):
        Judge(course(), car(), table.model_copy(update={"rule": no_param}))


def test_a_course_lacking_what_an_item_needs_is_refused() -> None:
    from exam_vehicle.course import course_from_geojson
    from exam_vehicle.courses.make_example import geojson, layout

    doc = geojson(layout())
    doc["features"] = [
        f
        for f in doc["features"]
        if not (f["properties"]["item"] == "hill_stop_and_start" and f["properties"]["role"] == "stop_line")
    ]
    broken = course_from_geojson(doc, "no-stop-line")
    with pytest.raises(ConfigError, match="hill_stop_and_start: needs 1 stop_line"):
        Judge(broken, car(), rules())
    assert Judge(broken, car("c2-example"), rules("c2-2022")).items  # C2 has no hill item


def test_the_judge_knows_exactly_the_shipped_tables_rules() -> None:
    for name in ("c1-2022", "c2-2022"):
        table = rules(name)
        assert set(known_rules(table.items)) == {r.id for r in table.rule}


def test_signals_alone_for_longer_than_the_rtk_tolerance_make_the_run_invalid() -> None:
    j = Judge(course(), car(), rules())
    assert j.feed(SignalChange(t=T0, signal=Signal.SEAT_BELT, value=True)) == []
    events = j.feed(SignalChange(t=T0 + 3.5, signal=Signal.IGNITION, value=True))
    assert [e.kind for e in events] == ["run_invalid", "result"] and events[-1].passed is None
    assert j.feed(_fixed(T0 + 4.0)) == [] and j.finish(T0 + 5.0) == []


def test_float_epochs_are_not_judged_and_count_towards_invalidity() -> None:
    j = Judge(course(), car(), rules())
    assert j.feed(_fixed(T0)) == []
    assert j.feed(_fixed(T0 + 2.0, quality=FixQuality.RTK_FLOAT)) == []
    assert [e.kind for e in j.feed(_fixed(T0 + 3.2, quality=FixQuality.RTK_FLOAT))] == ["run_invalid", "result"]


def test_finishing_before_every_item_was_driven_fails_on_the_route() -> None:
    j = Judge(course(), car(), rules())
    j.feed(_fixed(T0))
    events = j.finish(T0 + 1.0)
    assert [e.kind for e in events] == ["deduction", "result"]
    assert events[0].rule_id == "route-order" and "reverse_into_bay" in events[0].detail
    assert events[1].ended_by == "finished" and events[1].passed is False


def test_engine_start_in_gear_and_stall_are_judged_from_signals() -> None:
    j = Judge(course(), car(), rules())
    j.feed(_fixed(T0))
    for sig, value in [
        (Signal.IGNITION, True),
        (Signal.GEAR_NEUTRAL, True),
        (Signal.ENGINE_RUNNING, True),
        (Signal.GEAR_NEUTRAL, False),
    ]:
        assert j.feed(SignalChange(t=T0 + 0.5, signal=sig, value=value)) == []
    stall = j.feed(SignalChange(t=T0 + 1.0, signal=Signal.ENGINE_RUNNING, value=False))
    assert [(e.rule_id, e.points, e.score) for e in stall] == [("stall", 10, 90)]
    again = j.feed(SignalChange(t=T0 + 2.0, signal=Signal.ENGINE_RUNNING, value=True))
    assert [(e.kind, getattr(e, "rule_id", None)) for e in again] == [
        ("deduction", "engine-start-in-gear"),
        ("result", None),
    ]
