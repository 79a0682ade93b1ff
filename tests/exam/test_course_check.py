"""The course map and its checker: the shipped example course passes for both example cars; sizes off the standard are named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from judge_helpers import car

from edge.settings import ConfigError
from exam_vehicle.course import (
    COURSES_DIR,
    check_course,
    course_from_geojson,
    load_course,
)
from exam_vehicle.courses.make_example import geojson, layout

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "exam", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _edited(item: str, role: str, edit) -> dict:  # type: ignore[no-untyped-def]
    """The example course as GeoJSON with one feature's ENU coordinates edited before it is written in WGS84."""
    lay = layout()
    feature = next(f for f in lay.features if f["item"] == item and f["role"] == role)
    feature["coords"] = edit(feature["coords"])
    return geojson(lay)


def test_the_shipped_example_course_passes_the_checker_for_the_c1_and_c2_cars() -> None:
    course = load_course("example-site")
    assert course.order == ["reverse_into_bay", "hill_stop_and_start", "parallel_park", "s_curve", "right_angle_turn"]
    assert check_course(course, car("c1-example")) == []
    assert check_course(course, car("c2-example")) == []


def test_the_shipped_file_is_what_make_example_generates() -> None:
    shipped = json.loads((COURSES_DIR / "example-site.geojson").read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(geojson(layout(car().length_m, car().width_m))))


def test_loading_converts_to_the_survey_origins_east_north_up_metres() -> None:
    course = load_course("example-site")
    stop = course.items["hill_stop_and_start"].lines("stop_line")[0]
    assert stop.geom.coords[0] == pytest.approx((90.0, -2.0), abs=1e-4)
    assert stop.up[0] == pytest.approx(1.2, abs=1e-3)  # 12 m up a 10 % slope
    assert course.items["hill_stop_and_start"].grade_at(stop.geom.centroid) == pytest.approx(0.10, abs=1e-4)


def _narrower(c: list) -> list:  # type: ignore[type-arg]
    """The reverse bay's U, both side lines moved 5 cm in: 10 cm narrower, the control lines still where they should be."""
    return [
        (c[0][0] + 0.05, *c[0][1:]),
        (c[1][0] + 0.05, *c[1][1:]),
        (c[2][0] - 0.05, *c[2][1:]),
        (c[3][0] - 0.05, *c[3][1:]),
    ]


def test_a_reverse_bay_10_cm_too_narrow_is_reported() -> None:
    doc = _edited("reverse_into_bay", "bay_line", _narrower)
    problems = check_course(course_from_geojson(doc, "narrow"), car())
    assert len(problems) == 1 and "reverse_into_bay: bay width 2.210 m, expected 2.310 m" in problems[0], problems


def test_a_parallel_bay_too_short_and_a_narrow_s_curve_are_reported() -> None:
    doc = _edited(
        "parallel_park", "bay_line", lambda c: [c[0], c[1], (c[2][0] - 0.2, *c[2][1:]), (c[3][0] - 0.2, *c[3][1:])]
    )
    problems = check_course(course_from_geojson(doc, "short"), car())
    assert any("parallel_park: bay length 7.505 m, expected 7.705 m" in p for p in problems), problems
    lay = layout()
    f = next(
        f
        for f in lay.features
        if f["item"] == "s_curve"
        and f["role"] == "edge_line"
        and f["props"]["bend"] == 1
        and f["props"]["side"] == "right"
    )
    cx, cy = lay.s_centres[0]
    f["coords"] = [(cx + (x - cx) * 7.3 / 7.5, cy + (y - cy) * 7.3 / 7.5, z) for x, y, z in f["coords"]]
    problems = check_course(course_from_geojson(geojson(lay), "tight"), car())
    assert any("bend 1 outer radius 7.300" in p for p in problems) and any(
        "bend 1 road width 3.300" in p for p in problems
    ), problems


def test_a_wrong_turn_direction_and_a_flat_hill_are_reported() -> None:
    lay = layout()
    next(f for f in lay.features if f["item"] == "right_angle_turn" and f["role"] == "area")["props"]["turn"] = "right"
    for f in lay.features:
        if f["item"] == "hill_stop_and_start":
            f["coords"] = [(x, y, z * 0.8) for x, y, z in f["coords"]] if f["role"] != "area" else f["coords"]
    problems = check_course(course_from_geojson(geojson(lay), "wrong"), car())
    assert any("the route turns left but the area says turn='right'" in p for p in problems), problems
    assert any("slope at the stop line is 8.0 %" in p for p in problems), problems


def test_a_course_missing_an_item_is_reported_and_a_feature_without_a_role_is_refused() -> None:
    doc = geojson(layout())
    doc["features"] = [f for f in doc["features"] if f["properties"]["item"] != "parallel_park"]
    assert check_course(course_from_geojson(doc, "missing"), car()) == ["parallel_park: missing (侧方停车)"]
    doc["features"][0]["properties"].pop("role")
    with pytest.raises(ConfigError, match="has no item or role"):
        course_from_geojson(doc, "broken")


def test_course_check_from_the_command_line(tmp_path: Path) -> None:
    ok = _cli("course", "check", str(COURSES_DIR / "example-site.geojson"), "--car", "c1-example")
    assert ok.returncode == 0 and "ok for C1 example saloon" in ok.stdout
    bad = tmp_path / "narrow.geojson"
    bad.write_text(json.dumps(_edited("reverse_into_bay", "bay_line", _narrower)))
    out = _cli("course", "check", str(bad), "--car", "c1-example")
    assert out.returncode == 1 and "bay width 2.210 m" in out.stdout and "1 problem(s)" in out.stderr
    missing = _cli("course", "check", str(tmp_path / "nothing.geojson"), "--car", "c1-example")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
