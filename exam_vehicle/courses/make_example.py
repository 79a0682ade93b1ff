"""Generate `example-site.geojson`: a fictional C1/C2 field-test course with all five items along one route.

    python -m exam_vehicle.courses.make_example [--car c1-example] [--out PATH]

The course is designed here in a local east-north-up frame (metres) around the survey
origin and written in WGS84 (pymap3d `enu2geodetic`), as a surveyor's file would be. Every
size follows the car (GA 1026-2022 / GA 1029 as `docs/exam-judging.md` cites them), so
`passlane exam course check` passes it for that car. The site is made up: a plausible exam
ground in Jiangning, Nanjing. The simulator (`site_sim/exam_car.py`) drives this same
design (`layout`), so its scripted manoeuvres and the file cannot disagree.

Route (east first): start -> 倒车入库 -> 坡道定点停车和起步 -> 侧方停车 -> 曲线行驶 -> 直角转弯 (left) -> finish.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ORIGIN = (
    31.93720,
    118.87450,
    12.0,
)  # lat, lon, alt (m): the survey origin, a made-up exam ground in Jiangning, Nanjing
HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "example-site.geojson"

Pt = tuple[float, float, float]


@dataclass
class Layout:
    """The design in ENU metres: every feature, plus the numbers the simulator drives by."""

    car_length: float
    car_width: float
    features: list[dict[str, Any]] = field(default_factory=list)
    # reverse into bay: bay centre x, mouth y (bay on the south = right of the eastbound route), control line xs
    bay_x: float = 40.0
    bay_mouth_y: float = 0.0
    bay_width: float = 0.0
    bay_length: float = 0.0
    control_xs: tuple[float, float] = (0.0, 0.0)
    # hill: foot, top, stop line x; grade; road half width
    hill_foot_x: float = 78.0
    hill_top_x: float = 98.0
    hill_stop_x: float = 90.0
    hill_grade: float = 0.10
    hill_half_width: float = 2.0
    # parallel park: bay from x0 to x1, lane half width, bay width
    par_x0: float = 150.0
    par_x1: float = 0.0
    par_lane_half: float = 2.0
    par_bay_width: float = 0.0
    # S-curve: entry point, centre-line radius, the two centres, sweep per bend (degrees)
    s_entry: tuple[float, float] = (190.0, 0.0)
    s_radius_outer: float = 7.5
    s_width: float = 3.5
    s_sweep_deg: float = 135.0
    s_centres: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 0.0), (0.0, 0.0))
    s_exit: tuple[float, float] = (0.0, 0.0)
    # right-angle turn: eastbound leg y, corner x (centre lines), width
    ra_y: float = 0.0
    ra_x: float = 225.0
    ra_width: float = 3.5
    finish: tuple[float, float] = (0.0, 0.0)

    def add(self, item: str, role: str, kind: str, coords: Any, **props: Any) -> None:
        self.features.append({"item": item, "role": role, "kind": kind, "coords": coords, "props": props})

    def hill_up(self, x: float) -> float:
        """The hill's surface height (m above the origin) at east coordinate x: up 10%, a plateau, down 10%."""
        rise = self.hill_grade * (self.hill_top_x - self.hill_foot_x)
        if x <= self.hill_foot_x:
            return 0.0
        if x <= self.hill_top_x:
            return self.hill_grade * (x - self.hill_foot_x)
        if x <= self.hill_top_x + 6.0:
            return rise
        return max(0.0, rise - self.hill_grade * (x - self.hill_top_x - 6.0))


def _arc(cx: float, cy: float, r: float, a0: float, a1: float, n: int = 28) -> list[Pt]:
    """Points on a circle from angle a0 to a1 (degrees, counter-clockwise from east)."""
    return [
        (
            cx + r * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
            cy + r * math.sin(math.radians(a0 + (a1 - a0) * i / n)),
            0.0,
        )
        for i in range(n + 1)
    ]


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[Pt]:
    return [(x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0), (x0, y0, 0.0)]


def _reverse_into_bay(lay: Layout) -> None:
    L, W = lay.car_length, lay.car_width
    lay.bay_width, lay.bay_length = W + 0.6, L + 0.7
    road = 1.5 * L
    lay.bay_mouth_y = -road / 2  # the road in front of the bay is centred on the route (y = 0)
    x0, x1 = lay.bay_x - lay.bay_width / 2, lay.bay_x + lay.bay_width / 2
    yb = lay.bay_mouth_y - lay.bay_length
    lay.control_xs = (x0 - 1.5 * L, x1 + 1.5 * L)
    west, east = lay.control_xs[0] - 8.0, lay.control_xs[1] + 10.0
    item = "reverse_into_bay"
    lay.add(
        item,
        "area",
        "Polygon",
        [
            [
                (west, yb - 0.6, 0.0),
                (east, yb - 0.6, 0.0),
                (east, road / 2 + 0.3, 0.0),
                (west, road / 2 + 0.3, 0.0),
                (west, yb - 0.6, 0.0),
            ]
        ],
        name="倒车入库",
    )
    lay.add(
        item,
        "bay_line",
        "LineString",
        [(x0, lay.bay_mouth_y, 0.0), (x0, yb, 0.0), (x1, yb, 0.0), (x1, lay.bay_mouth_y, 0.0)],
        side="right",
        name="库位线",
    )
    lay.add(
        item, "edge_line", "LineString", [(west, road / 2, 0.0), (east, road / 2, 0.0)], side="left", name="车道边线"
    )
    lay.add(
        item,
        "edge_line",
        "LineString",
        [(west, lay.bay_mouth_y, 0.0), (x0, lay.bay_mouth_y, 0.0)],
        side="right",
        name="车道边线",
    )
    lay.add(
        item,
        "edge_line",
        "LineString",
        [(x1, lay.bay_mouth_y, 0.0), (east, lay.bay_mouth_y, 0.0)],
        side="right",
        name="车道边线",
    )
    for x in lay.control_xs:
        lay.add(item, "control_line", "LineString", [(x, lay.bay_mouth_y, 0.0), (x, road / 2, 0.0)], name="控制线")


def _hill(lay: Layout) -> None:
    item, h = "hill_stop_and_start", lay.hill_half_width
    x0, x1 = lay.hill_foot_x - 2.0, lay.hill_top_x + 6.0 + 22.0
    xs = [x0, lay.hill_foot_x, lay.hill_stop_x, lay.hill_top_x, lay.hill_top_x + 6.0, x1]
    lay.add(
        item,
        "area",
        "Polygon",
        [[(x0, -h - 0.5, 0.0), (x1, -h - 0.5, 0.0), (x1, h + 0.5, 0.0), (x0, h + 0.5, 0.0), (x0, -h - 0.5, 0.0)]],
        name="坡道定点停车和起步",
    )
    lay.add(item, "edge_line", "LineString", [(x, h, lay.hill_up(x)) for x in xs], side="left", name="道路边缘线")
    lay.add(item, "edge_line", "LineString", [(x, -h, lay.hill_up(x)) for x in xs], side="right", name="道路边缘线")
    up = lay.hill_up(lay.hill_stop_x)
    lay.add(item, "stop_line", "LineString", [(lay.hill_stop_x, -h, up), (lay.hill_stop_x, h, up)], name="桩杆线")


def _parallel_park(lay: Layout) -> None:
    item, h = "parallel_park", lay.par_lane_half
    lay.par_bay_width = lay.car_width + 0.8
    lay.par_x1 = lay.par_x0 + 1.5 * lay.car_length + 1.0
    x0, x1, yb = lay.par_x0, lay.par_x1, -h - lay.par_bay_width
    west, east = x0 - 12.0, x1 + 14.0
    lay.add(
        item,
        "area",
        "Polygon",
        [
            [
                (west, yb - 0.5, 0.0),
                (east, yb - 0.5, 0.0),
                (east, h + 0.4, 0.0),
                (west, h + 0.4, 0.0),
                (west, yb - 0.5, 0.0),
            ]
        ],
        name="侧方停车",
    )
    lay.add(
        item,
        "bay_line",
        "LineString",
        [(x0, -h, 0.0), (x0, yb, 0.0), (x1, yb, 0.0), (x1, -h, 0.0)],
        side="right",
        name="库位线",
    )
    lay.add(item, "edge_line", "LineString", [(west, h, 0.0), (east, h, 0.0)], side="left", name="车道边线")
    lay.add(item, "edge_line", "LineString", [(west, -h, 0.0), (x0, -h, 0.0)], side="right", name="车道边线")
    lay.add(item, "edge_line", "LineString", [(x1, -h, 0.0), (east, -h, 0.0)], side="right", name="车道边线")


def _s_curve(lay: Layout) -> list[Pt]:
    """The S-curve's edges and area; returns its centre line (for the route)."""
    item = "s_curve"
    ex, ey = lay.s_entry
    rc = lay.s_radius_outer - lay.s_width / 2
    sweep = lay.s_sweep_deg
    c1 = (ex, ey + rc)  # first bend turns left: its centre is north of the entry
    a_end = -90.0 + sweep
    c2 = (c1[0] + 2 * rc * math.cos(math.radians(a_end)), c1[1] + 2 * rc * math.sin(math.radians(a_end)))
    lay.s_centres = (c1, c2)
    b0 = a_end + 180.0  # the second bend starts at this angle about c2 and turns right (clockwise)
    lay.s_exit = (c2[0] + rc * math.cos(math.radians(b0 - sweep)), c2[1] + rc * math.sin(math.radians(b0 - sweep)))
    r_in, r_out = lay.s_radius_outer - lay.s_width, lay.s_radius_outer
    lay.add(item, "edge_line", "LineString", _arc(*c1, r_in, -90.0, a_end), side="left", bend=1, name="道路边缘线")
    lay.add(item, "edge_line", "LineString", _arc(*c1, r_out, -90.0, a_end), side="right", bend=1, name="道路边缘线")
    lay.add(item, "edge_line", "LineString", _arc(*c2, r_out, b0, b0 - sweep), side="left", bend=2, name="道路边缘线")
    lay.add(item, "edge_line", "LineString", _arc(*c2, r_in, b0, b0 - sweep), side="right", bend=2, name="道路边缘线")
    centre = _arc(*c1, rc, -90.0, a_end) + _arc(*c2, rc, b0, b0 - sweep)[1:]
    # the area: the road widened by 0.6 m each side, with 3 m straight lead-in and lead-out
    outer = _arc(*c1, r_out + 0.6, -90.0, a_end) + _arc(*c2, r_in - 0.6, b0, b0 - sweep)
    inner = _arc(*c1, r_in - 0.6, -90.0, a_end) + _arc(*c2, r_out + 0.6, b0, b0 - sweep)
    start_r, start_l = (ex - 3.0, ey - lay.s_width / 2 - 0.6, 0.0), (ex - 3.0, ey + lay.s_width / 2 + 0.6, 0.0)
    end_l = (lay.s_exit[0] + 3.0, lay.s_exit[1] + lay.s_width / 2 + 0.6, 0.0)
    end_r = (lay.s_exit[0] + 3.0, lay.s_exit[1] - lay.s_width / 2 - 0.6, 0.0)
    ring = [start_r, *outer, end_r, end_l, *reversed(inner), start_l, start_r]
    lay.add(item, "area", "Polygon", [ring], name="曲线行驶")
    return centre


def _right_angle(lay: Layout) -> None:
    item, w = "right_angle_turn", lay.ra_width / 2
    y, x = lay.ra_y, lay.ra_x
    west, north = x - 12.0, y + 14.0
    lay.add(
        item,
        "area",
        "Polygon",
        [
            [
                (west, y - w - 0.6, 0.0),
                (x + w + 0.6, y - w - 0.6, 0.0),
                (x + w + 0.6, north, 0.0),
                (x - w - 0.6, north, 0.0),
                (x - w - 0.6, y + w + 0.6, 0.0),
                (west, y + w + 0.6, 0.0),
                (west, y - w - 0.6, 0.0),
            ]
        ],
        name="直角转弯",
        turn="left",
    )
    lay.add(
        item,
        "edge_line",
        "LineString",
        [(west, y - w, 0.0), (x + w, y - w, 0.0), (x + w, north, 0.0)],
        side="right",
        name="道路边缘线",
    )
    lay.add(
        item,
        "edge_line",
        "LineString",
        [(west, y + w, 0.0), (x - w, y + w, 0.0), (x - w, north, 0.0)],
        side="left",
        name="道路边缘线",
    )


def layout(car_length: float = 4.47, car_width: float = 1.71) -> Layout:
    """The example course for a car of this size, in ENU metres around `ORIGIN`."""
    lay = Layout(car_length, car_width)
    _reverse_into_bay(lay)
    _hill(lay)
    _parallel_park(lay)
    s_centre = _s_curve(lay)
    lay.ra_y = lay.s_exit[1]
    _right_angle(lay)
    lay.finish = (lay.ra_x, lay.ra_y + 24.0)
    route = [(0.0, 0.0, 0.0)]
    route += [
        (x, 0.0, lay.hill_up(x))
        for x in (lay.hill_foot_x, lay.hill_stop_x, lay.hill_top_x, lay.hill_top_x + 6.0, lay.hill_top_x + 26.0)
    ]
    route += s_centre + [(lay.ra_x, lay.ra_y, 0.0), (lay.finish[0], lay.finish[1], 0.0)]
    lay.add(
        "site",
        "route",
        "LineString",
        route,
        name="考试路线",
        note="the exam's driving line, start to finish; its direction is the direction of travel",
    )
    lay.add(
        "site",
        "origin",
        "Point",
        (0.0, 0.0, 0.0),
        name="测量原点",
        note="fictional example site (not a real exam ground); survey origin of the local east-north-up frame",
    )
    return lay


def _to_wgs84(coords: Any) -> Any:
    import pymap3d

    if isinstance(coords, tuple):
        lat, lon, alt = pymap3d.enu2geodetic(coords[0], coords[1], coords[2], *ORIGIN)
        return [round(float(lon), 9), round(float(lat), 9), round(float(alt), 3)]
    return [_to_wgs84(c) for c in coords]


def geojson(lay: Layout) -> dict[str, Any]:
    """The layout as a GeoJSON FeatureCollection (WGS84 lon, lat, altitude)."""
    feats = [
        {
            "type": "Feature",
            "properties": {"item": f["item"], "role": f["role"], **f["props"]},
            "geometry": {"type": f["kind"], "coordinates": _to_wgs84(f["coords"])},
        }
        for f in lay.features
    ]
    return {
        "type": "FeatureCollection",
        "name": "example-site",
        "description": "PassLane example exam course (fictional site): 倒车入库, 坡道定点停车和起步, 侧方停车, 曲线行驶, 直角转弯; "
        f"sized for a {lay.car_length} x {lay.car_width} m car",
        "features": feats,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--car", default="c1-example", help="car file or shipped car name the sizes follow")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ns = ap.parse_args(argv)
    from exam_vehicle.car import load_car

    car = load_car(ns.car)
    ns.out.write_text(
        json.dumps(geojson(layout(car.length_m, car.width_m)), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
