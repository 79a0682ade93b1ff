"""A surveyed exam course: GeoJSON in WGS84, turned once at load into east-north-up metres with shapely shapes.

The file is a GeoJSON FeatureCollection. Every feature has ``properties.item`` (an exam item,
or ``site``) and ``properties.role`` (what the feature is for that item); lines are surveyed
on their inner edge (the edge a car must not touch), so the judge treats them as having no
width. Coordinates are [lon, lat, altitude]; altitude matters on the hill only.

| item | role | geometry | meaning |
|---|---|---|---|
| site | origin | Point | survey origin of the local ENU frame (exactly one) |
| site | route | LineString | the exam's driving line, start to finish; its direction is the direction of travel and the order it enters the item areas is the order of the items |
| every item | area | Polygon | entering it (the body's centre) starts the item, leaving it ends it |
| reverse_into_bay | bay_line | LineString | the bay's three lines (side, back, side), open at the mouth; `side`: which side of the route the bay is on |
| reverse_into_bay | edge_line | LineString | the road's edges in front of the bay |
| reverse_into_bay | control_line | LineString | the two control lines across that road, one each side of the bay |
| hill_stop_and_start | edge_line | LineString | the road's edges; `side` left/right of the direction of travel (the body's distance is judged to the right one) |
| hill_stop_and_start | stop_line | LineString | the stop (pole) line across the slope |
| parallel_park | bay_line | LineString | the bay's three lines (back end, outer side, front end), open to the lane; `side` as above |
| parallel_park | edge_line | LineString | the lane's edge lines |
| s_curve | edge_line | LineString | the road's edges, `side` left/right and `bend` 1/2 |
| right_angle_turn | edge_line | LineString | the road's edges (each an L through the corner), `side` left/right; the area has `turn`: left or right |

`check_course` compares a course with the standard's sizes for one car (see
`docs/exam-judging.md` for the sizes' sources and the tolerances, `TOLERANCES`).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymap3d
import shapely
from shapely.geometry import LineString, Point, Polygon, shape

from edge.settings import ConfigError

COURSES_DIR = Path(__file__).resolve().parent / "courses"

ITEMS = ("reverse_into_bay", "hill_stop_and_start", "parallel_park", "s_curve", "right_angle_turn")
ITEM_NAMES_ZH = {
    "reverse_into_bay": "倒车入库",
    "hill_stop_and_start": "坡道定点停车和起步",
    "parallel_park": "侧方停车",
    "s_curve": "曲线行驶",
    "right_angle_turn": "直角转弯",
}
REQUIRED_ROLES: dict[str, dict[str, int]] = {  # role -> the least number of features of it
    "reverse_into_bay": {"area": 1, "bay_line": 1, "edge_line": 1, "control_line": 2},
    "hill_stop_and_start": {"area": 1, "edge_line": 2, "stop_line": 1},
    "parallel_park": {"area": 1, "bay_line": 1, "edge_line": 1},
    "s_curve": {"area": 1, "edge_line": 4},
    "right_angle_turn": {"area": 1, "edge_line": 2},
}


@dataclass(frozen=True)
class CourseFeature:
    """One surveyed feature in ENU metres (z: height above the origin, per vertex)."""

    item: str
    role: str
    geom: Any  # shapely geometry, 2D (x east, y north)
    up: tuple[float, ...]
    props: dict[str, Any]


@dataclass
class ItemMap:
    """One item's features, with what the judge needs prepared once."""

    item: str
    area: Polygon
    features: list[CourseFeature]
    entry_progress: float = 0.0  # along the route, metres, where the route enters and leaves the area
    exit_progress: float = 0.0
    entry_bearing_deg: float = 0.0  # the route's direction where it enters the area
    props: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    def contains(self, x: float, y: float) -> bool:
        """Whether a point is in the area (its bounding box first: most epochs are far from most areas)."""
        x0, y0, x1, y1 = self.bounds
        return x0 <= x <= x1 and y0 <= y <= y1 and bool(shapely.contains_xy(self.area, x, y))

    def lines(self, role: str, **props: Any) -> list[CourseFeature]:
        return [f for f in self.features if f.role == role and all(f.props.get(k) == v for k, v in props.items())]

    def union(self, role: str) -> Any:
        """All lines of a role as one prepared shape (one intersection test per epoch)."""
        geom = (
            shapely.union_all([f.geom for f in self.lines(role)]) if self.lines(role) else shapely.GeometryCollection()
        )
        shapely.prepare(geom)
        return geom

    def grade_at(self, p: Point) -> float:
        """The slope (rise over horizontal run) of the edge line nearest `p`, at `p`: 0 where it was surveyed flat."""
        edges = self.lines("edge_line")
        if not edges:
            return 0.0
        f = min(edges, key=lambda x: x.geom.distance(p))
        coords, s, dist = list(f.geom.coords), f.geom.project(p), 0.0
        for k in range(len(coords) - 1):
            seg = math.dist(coords[k][:2], coords[k + 1][:2])
            if dist <= s <= dist + seg and seg > 0 and len(f.up) == len(coords):
                return (f.up[k + 1] - f.up[k]) / seg
            dist += seg
        return 0.0

    @property
    def bay(self) -> Polygon:
        """The bay's inside: its three lines closed across the mouth."""
        line = self.lines("bay_line")[0].geom
        return Polygon(list(line.coords))


class Course:
    """A loaded course: its features in the ENU frame of its survey origin, items in the route's order."""

    def __init__(self, name: str, origin: tuple[float, float, float], features: list[CourseFeature]) -> None:
        self.name = name
        self.origin = origin
        self.features = features
        routes = [f for f in features if f.item == "site" and f.role == "route"]
        if len(routes) != 1:
            raise ConfigError(f"course {name}: needs exactly one site/route line, has {len(routes)}")
        self.route: LineString = routes[0].geom
        self.items: dict[str, ItemMap] = {}
        for item in ITEMS:
            feats = [f for f in features if f.item == item]
            areas = [f for f in feats if f.role == "area"]
            if not feats:
                continue
            if len(areas) != 1:
                raise ConfigError(f"course {name}: item {item} needs exactly one area, has {len(areas)}")
            self.items[item] = self._item_map(item, areas[0], feats)
        self.order = sorted(self.items, key=lambda i: self.items[i].entry_progress)
        lat0, lon0 = math.radians(origin[0]), math.radians(origin[1])
        self._ell = pymap3d.Ellipsoid.from_name("wgs84")  # made once: pymap3d makes one per call without it
        self._ecef0 = tuple(float(v) for v in pymap3d.geodetic2ecef(*origin, ell=self._ell))
        self._rot = (
            (-math.sin(lon0), math.cos(lon0), 0.0),
            (-math.sin(lat0) * math.cos(lon0), -math.sin(lat0) * math.sin(lon0), math.cos(lat0)),
            (math.cos(lat0) * math.cos(lon0), math.cos(lat0) * math.sin(lon0), math.sin(lat0)),
        )

    def _item_map(self, item: str, area: CourseFeature, feats: list[CourseFeature]) -> ItemMap:
        m = ItemMap(item, area.geom, feats, props=dict(area.props))
        inside = self.route.intersection(area.geom)
        parts = [g for g in getattr(inside, "geoms", [inside]) if not g.is_empty and g.length > 0]
        if not parts:
            raise ConfigError(f"course {self.name}: the route does not pass through {item}'s area")
        m.entry_progress = min(self.route.project(Point(p.coords[0])) for p in parts)
        m.exit_progress = max(self.route.project(Point(p.coords[-1])) for p in parts)
        a = self.route.interpolate(m.entry_progress)
        b = self.route.interpolate(min(m.entry_progress + 1.0, self.route.length))
        m.entry_bearing_deg = math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360.0
        shapely.prepare(m.area)
        m.bounds = tuple(m.area.bounds)
        return m

    def enu(self, lat: float, lon: float, alt: float | None = None) -> tuple[float, float, float]:
        """A WGS84 point in this course's ENU frame (metres): pymap3d's ECEF, turned by the origin's rotation kept from load."""
        x, y, z = pymap3d.geodetic2ecef(lat, lon, self.origin[2] if alt is None else alt, ell=self._ell)
        dx, dy, dz = float(x) - self._ecef0[0], float(y) - self._ecef0[1], float(z) - self._ecef0[2]
        r = self._rot
        return (
            r[0][0] * dx + r[0][1] * dy,
            r[1][0] * dx + r[1][1] * dy + r[1][2] * dz,
            r[2][0] * dx + r[2][1] * dy + r[2][2] * dz,
        )

    def geodetic(self, e: float, n: float, u: float = 0.0) -> tuple[float, float, float]:
        lat, lon, alt = pymap3d.enu2geodetic(e, n, u, *self.origin)
        return float(lat), float(lon), float(alt)

    def route_bearing_at(self, progress: float) -> float:
        a = self.route.interpolate(max(0.0, progress - 0.5))
        b = self.route.interpolate(min(self.route.length, progress + 0.5))
        return math.degrees(math.atan2(b.x - a.x, b.y - a.y)) % 360.0


def _enu_geometry(geometry: dict[str, Any], origin: tuple[float, float, float]) -> tuple[Any, tuple[float, ...]]:
    ups: list[float] = []

    def conv(c: Any) -> Any:
        if isinstance(c[0], (int, float)):
            lon, lat = float(c[0]), float(c[1])
            alt = float(c[2]) if len(c) > 2 else origin[2]
            e, n, u = pymap3d.geodetic2enu(lat, lon, alt, *origin)
            ups.append(float(u))
            return [float(e), float(n)]
        return [conv(x) for x in c]

    return shape({"type": geometry["type"], "coordinates": conv(geometry["coordinates"])}), tuple(ups)


def load_course(path: Path | str) -> Course:
    """A course file, or a course shipped in `exam_vehicle/courses/` by name (``example-site``). ConfigError when unusable."""
    p = Path(path)
    if not p.exists() and not p.suffix and (COURSES_DIR / f"{p.name}.geojson").exists():
        p = COURSES_DIR / f"{p.name}.geojson"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {p}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON: {exc}") from None
    return course_from_geojson(doc, str(doc.get("name") or p.stem), source=str(p))


def course_from_geojson(doc: dict[str, Any], name: str, source: str = "") -> Course:
    where = source or name
    if doc.get("type") != "FeatureCollection":
        raise ConfigError(f"{where}: not a GeoJSON FeatureCollection")
    raw = doc.get("features") or []
    origins = [f for f in raw if (f.get("properties") or {}).get("role") == "origin"]
    if len(origins) != 1 or origins[0]["geometry"]["type"] != "Point":
        raise ConfigError(f"{where}: needs exactly one site/origin Point")
    lon, lat, *rest = origins[0]["geometry"]["coordinates"]
    origin = (float(lat), float(lon), float(rest[0]) if rest else 0.0)
    features = []
    for i, f in enumerate(raw):
        props = dict(f.get("properties") or {})
        item, role = props.pop("item", None), props.pop("role", None)
        if not item or not role:
            raise ConfigError(f"{where}: feature {i} has no item or role property")
        if item not in ITEMS and item != "site":
            raise ConfigError(f"{where}: feature {i}: unknown item {item!r} (one of {', '.join(ITEMS)}, site)")
        geom, ups = _enu_geometry(f["geometry"], origin)
        features.append(CourseFeature(item, role, geom, ups, props))
    return Course(name, origin, features)


# ---------------------------------------------------------------- checking a course against the standard's sizes

TOLERANCES: dict[str, float] = {
    "bay_m": 0.05,  # bay width and length (both bays): twice a surveyor's RTK error plus paint
    "road_m": 0.10,  # the road in front of the reverse bay and the control lines' distance from the bay
    "s_width_m": 0.05,  # S-curve road width
    "s_radius_m": 0.10,  # S-curve outer radius
    "s_sweep_min_deg": 115.0,  # each bend sweeps a third (120) to three eighths (135) of a circle: sources differ
    "s_sweep_max_deg": 140.0,
    "corner_width_m": 0.05,  # right-angle road width
    "corner_deg": 1.0,  # right-angle corner: 90 degrees within this
    "hill_grade_min": 0.095,  # the slope at the stop line: at least 10 %, less half a percent of survey error
    "stop_line_square_deg": 2.0,  # the stop line square to the road within this
    "stop_line_reach_m": 0.10,  # and reaching both edge lines within this
}


def _off(item: str, what: str, got: float, want: float, tol: float, how: str) -> str | None:
    if abs(got - want) <= tol + 1e-9:
        return None
    return f"{item}: {what} {got:.3f} m, expected {want:.3f} m +/- {tol:.2f} ({how})"


def _side_of_route(course: Course, m: ItemMap, p: Point) -> str:
    s = course.route.project(p)
    a, b = course.route.interpolate(max(0.0, s - 0.5)), course.route.interpolate(min(course.route.length, s + 0.5))
    cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x)
    return "left" if cross > 0 else "right"


def _check_bay(
    course: Course, m: ItemMap, width_want: float, length_want: float, along_mouth: str, how: tuple[str, str]
) -> list[str]:
    line = m.lines("bay_line")[0]
    pts = list(line.geom.coords)
    mouth = math.dist(pts[0], pts[-1])
    rect = m.bay.minimum_rotated_rectangle
    c = list(rect.exterior.coords)
    dims = sorted([math.dist(c[0], c[1]), math.dist(c[1], c[2])], key=lambda d: abs(d - mouth))
    width, length = (dims[0], dims[1]) if along_mouth == "width" else (dims[1], dims[0])
    out = [
        _off(m.item, "bay width", width, width_want, TOLERANCES["bay_m"], how[0]),
        _off(m.item, "bay length", length, length_want, TOLERANCES["bay_m"], how[1]),
    ]
    side = line.props.get("side")
    actual = _side_of_route(course, m, m.bay.centroid)
    if side != actual:
        out.append(f"{m.item}: the bay lies to the {actual} of the route but its bay_line says side={side!r}")
    return [p for p in out if p]


def _check_reverse(course: Course, m: ItemMap, L: float, W: float) -> list[str]:
    out: list[str | None] = list(
        _check_bay(course, m, W + 0.6, L + 0.7, "width", ("car width + 0.6", "car length + 0.7"))
    )
    pts = list(m.lines("bay_line")[0].geom.coords)
    mouth = LineString([pts[0], pts[-1]])
    far = [f for f in m.lines("edge_line") if f.props.get("side") != m.lines("bay_line")[0].props.get("side")]
    if not far:
        out.append(f"{m.item}: no edge line on the far side of the road")
    else:
        road = min(f.geom.distance(mouth.centroid) for f in far)
        out.append(
            _off(m.item, "road width in front of the bay", road, 1.5 * L, TOLERANCES["road_m"], "1.5 x car length")
        )
    controls = m.lines("control_line")
    if len(controls) != 2:
        out.append(f"{m.item}: needs 2 control lines, has {len(controls)}")
    else:
        ux, uy = (pts[-1][0] - pts[0][0]) / mouth.length, (pts[-1][1] - pts[0][1]) / mouth.length
        c = m.bay.centroid
        sides = {math.copysign(1, (f.geom.centroid.x - c.x) * ux + (f.geom.centroid.y - c.y) * uy) for f in controls}
        if len(sides) != 2:
            out.append(f"{m.item}: both control lines are on the same side of the bay")
        for f in controls:
            out.append(
                _off(
                    m.item,
                    "control line's distance from the bay",
                    f.geom.distance(m.bay),
                    1.5 * L,
                    TOLERANCES["road_m"],
                    "1.5 x car length",
                )
            )
    return [p for p in out if p]


def _fit_circle(coords: list[tuple[float, ...]]) -> tuple[float, float, float]:
    """Least-squares circle (centre x, y, radius) through surveyed points (Kasa's fit)."""
    import numpy as np

    a = np.array([[x, y, 1.0] for x, y, *_ in coords])
    b = np.array([x * x + y * y for x, y, *_ in coords])
    cx2, cy2, c = np.linalg.lstsq(a, b, rcond=None)[0]
    cx, cy = cx2 / 2, cy2 / 2
    return float(cx), float(cy), float(math.sqrt(c + cx * cx + cy * cy))


def _check_s_curve(m: ItemMap) -> list[str]:
    out: list[str | None] = []
    for bend in (1, 2):
        edges = m.lines("edge_line", bend=bend)
        if len(edges) != 2:
            out.append(f"{m.item}: bend {bend} needs two edge lines (side left and right), has {len(edges)}")
            continue
        fits = sorted(((_fit_circle(list(f.geom.coords)), f) for f in edges), key=lambda fit: fit[0][2])
        (cxi, cyi, r_in), _ = fits[0]
        (cxo, cyo, r_out), outer = fits[1]
        out.append(_off(m.item, f"bend {bend} outer radius", r_out, 7.5, TOLERANCES["s_radius_m"], "7.5 m"))
        out.append(_off(m.item, f"bend {bend} road width", r_out - r_in, 3.5, TOLERANCES["s_width_m"], "3.5 m"))
        if math.hypot(cxo - cxi, cyo - cyi) > TOLERANCES["s_width_m"]:
            out.append(
                f"{m.item}: bend {bend}'s edges are not concentric ({math.hypot(cxo - cxi, cyo - cyi):.3f} m apart)"
            )
        sweep = abs(_swept_deg(list(outer.geom.coords), cxo, cyo))
        if not TOLERANCES["s_sweep_min_deg"] <= sweep <= TOLERANCES["s_sweep_max_deg"]:
            out.append(
                f"{m.item}: bend {bend} sweeps {sweep:.1f} degrees, expected {TOLERANCES['s_sweep_min_deg']:.0f}-"
                f"{TOLERANCES['s_sweep_max_deg']:.0f} (a third to three eighths of a circle)"
            )
    return [p for p in out if p]


def _swept_deg(coords: list[tuple[float, ...]], cx: float, cy: float) -> float:
    """The angle a polyline sweeps about a centre (degrees, signed: counter-clockwise positive)."""
    total = 0.0
    for a, b in itertools.pairwise(coords):
        d = math.degrees(math.atan2(b[1] - cy, b[0] - cx) - math.atan2(a[1] - cy, a[0] - cx))
        total += (d + 180.0) % 360.0 - 180.0
    return total


def _corner(coords: list[tuple[float, ...]]) -> tuple[int, float]:
    """The vertex where a polyline turns most, and its interior angle (degrees)."""
    best, angle = 1, 180.0
    for i in range(1, len(coords) - 1):
        a, b, c = coords[i - 1], coords[i], coords[i + 1]
        v1, v2 = (a[0] - b[0], a[1] - b[1]), (c[0] - b[0], c[1] - b[1])
        ang = math.degrees(
            math.acos(max(-1.0, min(1.0, (v1[0] * v2[0] + v1[1] * v2[1]) / (math.hypot(*v1) * math.hypot(*v2)))))
        )
        if ang < angle:
            best, angle = i, ang
    return best, angle


def _check_right_angle(course: Course, m: ItemMap) -> list[str]:
    turn = m.props.get("turn")
    before = course.route_bearing_at(m.entry_progress + 0.5)
    after = course.route_bearing_at(m.exit_progress - 0.5)
    actual = "left" if ((after - before + 540.0) % 360.0 - 180.0) < 0 else "right"
    out: list[str | None] = (
        [] if turn == actual else [f"{m.item}: the route turns {actual} but the area says turn={turn!r}"]
    )
    outer_side = "right" if actual == "left" else "left"
    outer, inner = m.lines("edge_line", side=outer_side), m.lines("edge_line", side=actual)
    if len(outer) != 1 or len(inner) != 1:
        return [*[p for p in out if p], f"{m.item}: needs one left and one right edge line through the corner"]
    oc, ic = list(outer[0].geom.coords), list(inner[0].geom.coords)
    i, ang = _corner(oc)
    if abs(ang - 90.0) > TOLERANCES["corner_deg"]:
        out.append(f"{m.item}: the corner is {ang:.1f} degrees, expected 90 +/- {TOLERANCES['corner_deg']:.0f}")
    j, _ = _corner(ic)
    for leg in ((oc[i - 1], oc[i]), (oc[i], oc[i + 1])):
        (x1, y1, *_), (x2, y2, *_) = leg
        d = abs((x2 - x1) * (y1 - ic[j][1]) - (x1 - ic[j][0]) * (y2 - y1)) / math.hypot(x2 - x1, y2 - y1)
        out.append(_off(m.item, "road width", d, 3.5, TOLERANCES["corner_width_m"], "3.5 m"))
    return [p for p in out if p]


def _check_hill(m: ItemMap) -> list[str]:
    out: list[str | None] = []
    stop = m.lines("stop_line")[0].geom
    right, left = m.lines("edge_line", side="right"), m.lines("edge_line", side="left")
    if not right or not left:
        return [f"{m.item}: needs a left and a right edge line"]
    edge = right[0].geom
    s = edge.project(stop.centroid)
    a, b = edge.interpolate(max(0.0, s - 0.5)), edge.interpolate(min(edge.length, s + 0.5))
    (sx1, sy1), (sx2, sy2) = stop.coords[0][:2], stop.coords[-1][:2]
    cosang = abs((b.x - a.x) * (sx2 - sx1) + (b.y - a.y) * (sy2 - sy1)) / (
        math.hypot(b.x - a.x, b.y - a.y) * stop.length
    )
    if abs(90.0 - math.degrees(math.acos(min(1.0, cosang)))) > TOLERANCES["stop_line_square_deg"]:
        out.append(
            f"{m.item}: the stop line is not square to the road (within {TOLERANCES['stop_line_square_deg']:.0f} degrees)"
        )
    for f in (right[0], left[0]):
        gap = min(Point(stop.coords[0]).distance(f.geom), Point(stop.coords[-1]).distance(f.geom))
        if gap > TOLERANCES["stop_line_reach_m"]:
            out.append(f"{m.item}: the stop line ends {gap:.2f} m short of the {f.props.get('side')} edge line")
    grade = m.grade_at(stop.centroid)
    if grade < TOLERANCES["hill_grade_min"]:
        out.append(f"{m.item}: the slope at the stop line is {grade * 100:.1f} %, expected at least 10 %")
    return [p for p in out if p]


def structure_problems(course: Course, items: list[str]) -> list[str]:
    """What these items lack in the course for anyone to judge them (missing items, roles, sides); empty when all is there."""
    out: list[str] = []
    for item in items:
        m = course.items.get(item)
        if m is None:
            out.append(f"{item}: missing ({ITEM_NAMES_ZH[item]})")
            continue
        for role, least in REQUIRED_ROLES[item].items():
            have = len(m.lines(role)) if role != "area" else 1
            if have < least:
                out.append(f"{item}: needs {least} {role} feature(s), has {have}")
        if item in ("hill_stop_and_start", "right_angle_turn") and not (
            m.lines("edge_line", side="left") and m.lines("edge_line", side="right")
        ):
            out.append(f"{item}: needs an edge line with side=left and one with side=right")
        if item == "right_angle_turn" and m.props.get("turn") not in ("left", "right"):
            out.append(f"{item}: the area needs turn=left or turn=right")
    return out


def check_course(course: Course, car: Any) -> list[str]:
    """What in the course is off the standard's sizes for this car (`car.CarModel`); empty when all is well."""
    out = structure_problems(course, [i for i in ITEMS if not (car.licence == "C2" and i == "hill_stop_and_start")])
    if out:
        return out
    L, W = car.length_m, car.width_m
    out += _check_reverse(course, course.items["reverse_into_bay"], L, W)
    out += _check_bay(
        course,
        course.items["parallel_park"],
        W + 0.8,
        1.5 * L + 1.0,
        "length",
        ("car width + 0.8", "1.5 x car length + 1"),
    )
    out += _check_s_curve(course.items["s_curve"])
    out += _check_right_angle(course, course.items["right_angle_turn"])
    if "hill_stop_and_start" in course.items:
        out += _check_hill(course.items["hill_stop_and_start"])
    return out
