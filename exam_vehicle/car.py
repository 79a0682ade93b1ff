"""The exam car as the judge sees it: body outline, wheel contact points and GNSS antennas, in one body frame.

A car file (TOML, `exam_vehicle/cars/*.toml`) describes one exam car type (C1 manual, C2
automatic). The body frame has its origin at the centre of the rear axle, x forward and y
to the left (metres): the point a kinematic (bicycle) model turns about, so the simulator
and the judge share one frame. The judge places the body in the course's east-north-up
frame from one epoch: the position antenna's ENU point and the car's heading.

Heading (see `heading_of`): the dual-antenna receiver's heading, corrected for the
baseline's direction in the body, when the epoch has one. Without it, the course over
ground of the antenna, turned round when the car is reversing (the gear says so), but
only above `min_speed_mps`: below it the course over ground is noise, so the last good
heading is kept (a car cannot turn on the spot). Limits of that fallback: when stopped it
cannot see the car turn its wheels or be pushed; in a turn the antenna's course differs
from the body's heading by atan(x_antenna * curvature) (about 10 degrees at 1.3 m ahead
of the rear axle on a 7.5 m radius), and it lags a reversal until the gear signal
arrives. Lines judged with it are only as good as that: the exam car should have two
antennas.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Literal

import shapely
from pydantic import Field, model_validator
from shapely.geometry import LineString, MultiLineString, Polygon

from edge.settings import Section, parse, read_toml

CARS_DIR = Path(__file__).resolve().parent / "cars"


class Antenna(Section):
    """One GNSS antenna's phase centre in the body frame (metres)."""

    x: float = Field(title="Forward", description="metres ahead of the rear axle's centre")
    y: float = Field(0.0, title="Left", description="metres to the left of the car's centre line")
    z: float = Field(1.4, title="Up", description="metres above the ground")


class CarModel(Section):
    """One exam car type: its dimensions, wheels and antennas. Lengths in metres, body frame as the module says."""

    name: str = Field(title="Name", description="what the examiners call this car type")
    licence: Literal["C1", "C2"] = Field(title="Licence class", description="the class this car is examined for")
    transmission: Literal["manual", "automatic"] = Field(title="Transmission")
    length_m: float = Field(gt=2, lt=8, title="Length", description="bumper to bumper, without mirrors")
    width_m: float = Field(gt=1, lt=3, title="Width", description="without mirrors (the standard's bay sizes use this)")
    wheelbase_m: float = Field(gt=1, lt=5, title="Wheelbase")
    track_m: float = Field(
        gt=0.8, lt=2.5, title="Track", description="between the tyres' centres (front and rear taken equal)"
    )
    front_overhang_m: float = Field(ge=0, title="Front overhang", description="front axle to front bumper")
    rear_overhang_m: float = Field(ge=0, title="Rear overhang", description="rear axle to rear bumper")
    tyre_width_m: float = Field(
        0.195, gt=0, lt=0.5, title="Tyre width", description="a wheel touches a line when its tread's width does"
    )
    max_steer_deg: float = Field(
        35.0, gt=5, lt=60, title="Steering lock", description="the bicycle model's largest road-wheel angle"
    )
    position_antenna: Antenna = Field(
        title="Position antenna", description="the antenna whose position the receiver reports"
    )
    heading_antenna: Antenna | None = Field(
        None,
        title="Heading antenna",
        description="the second antenna: the receiver's heading is the bearing from the position antenna to it",
    )
    outline: list[tuple[float, float]] | None = Field(
        None,
        title="Body outline",
        description="the body's outline in the body frame, counter-clockwise; default the length x width rectangle",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CarModel:
        total = self.rear_overhang_m + self.wheelbase_m + self.front_overhang_m
        if abs(total - self.length_m) > 0.01:
            raise ValueError(
                f"rear overhang + wheelbase + front overhang = {total:.3f} m, not the length {self.length_m} m"
            )
        if self.track_m + self.tyre_width_m > self.width_m + 0.05:
            raise ValueError("the wheels stand outside the body: track + tyre width > width")
        if (
            self.heading_antenna is not None
            and math.hypot(
                self.heading_antenna.x - self.position_antenna.x, self.heading_antenna.y - self.position_antenna.y
            )
            < 0.3
        ):
            raise ValueError("the antennas' baseline is under 0.3 m: no usable heading")
        return self

    @property
    def baseline_bearing_deg(self) -> float:
        """The bearing of the antennas' baseline relative to the car's forward axis (clockwise degrees), 0 without one."""
        if self.heading_antenna is None:
            return 0.0
        dx = self.heading_antenna.x - self.position_antenna.x
        dy = self.heading_antenna.y - self.position_antenna.y
        return math.degrees(math.atan2(-dy, dx))  # y is to the left: a baseline pointing left is a negative bearing

    @property
    def baseline_m(self) -> float:
        if self.heading_antenna is None:
            return 0.0
        return math.hypot(
            self.heading_antenna.x - self.position_antenna.x, self.heading_antenna.y - self.position_antenna.y
        )

    @cached_property
    def body_outline(self) -> list[tuple[float, float]]:
        if self.outline:
            return list(self.outline)
        f, r, w = self.wheelbase_m + self.front_overhang_m, -self.rear_overhang_m, self.width_m / 2
        return [(r, -w), (f, -w), (f, w), (r, w)]

    @cached_property
    def wheel_points(self) -> dict[str, tuple[float, float]]:
        """Each wheel's contact point (front_left, front_right, rear_left, rear_right) in the body frame."""
        t = self.track_m / 2
        return {
            "front_left": (self.wheelbase_m, t),
            "front_right": (self.wheelbase_m, -t),
            "rear_left": (0.0, t),
            "rear_right": (0.0, -t),
        }

    @cached_property
    def body_centre(self) -> tuple[float, float]:
        c = Polygon(self.body_outline).centroid
        return (c.x, c.y)

    def place(self, e: float, n: float, heading_deg: float, steer_deg: float = 0.0) -> PlacedCar:
        """The car in ENU with its position antenna at (e, n), the given heading (degrees from north, clockwise) and front wheels
        turned `steer_deg` to the left (a bicycle model's angle; the judge estimates it from how the car turns)."""
        return PlacedCar(self, e, n, heading_deg, steer_deg)


class PlacedCar:
    """One car placed in the ENU frame. Shapely shapes are built on first use: most epochs need only a few."""

    __slots__ = ("__dict__", "_fe", "_fn", "_oe", "_on", "car", "heading_deg", "steer_deg")

    def __init__(self, car: CarModel, e: float, n: float, heading_deg: float, steer_deg: float = 0.0) -> None:
        self.car = car
        self.heading_deg = heading_deg
        self.steer_deg = steer_deg
        h = math.radians(heading_deg)
        self._fe, self._fn = math.sin(h), math.cos(h)  # forward unit vector in (e, n)
        a = car.position_antenna
        # the rear axle's centre: the antenna point minus its body offset turned into ENU
        self._oe = e - (a.x * self._fe - a.y * self._fn)
        self._on = n - (a.x * self._fn + a.y * self._fe)

    def to_enu(self, x: float, y: float) -> tuple[float, float]:
        """A body-frame point in ENU (left is (-north, east) of forward)."""
        return (self._oe + x * self._fe - y * self._fn, self._on + x * self._fn + y * self._fe)

    @property
    def forward(self) -> tuple[float, float]:
        return (self._fe, self._fn)

    @property
    def rear_axle(self) -> tuple[float, float]:
        return (self._oe, self._on)

    @cached_property
    def centre(self) -> tuple[float, float]:
        return self.to_enu(*self.car.body_centre)

    @cached_property
    def body(self) -> Polygon:
        return shapely.polygons([self.to_enu(x, y) for x, y in self.car.body_outline])

    @cached_property
    def front_bumper(self) -> tuple[float, float]:
        """The middle of the front bumper (the point the hill's stop line is judged by)."""
        return self.to_enu(self.car.wheelbase_m + self.car.front_overhang_m, 0.0)

    def wheel(self, name: str) -> tuple[float, float]:
        return self.to_enu(*self.car.wheel_points[name])

    def _tread(self, name: str) -> list[tuple[float, float]]:
        """A wheel's tread across its width; a front wheel's turned by the steering angle."""
        x, y = self.car.wheel_points[name]
        a = math.radians(self.steer_deg) if name.startswith("front") else 0.0
        dx, dy = -self.car.tyre_width_m / 2 * math.sin(a), self.car.tyre_width_m / 2 * math.cos(a)
        return [self.to_enu(x - dx, y - dy), self.to_enu(x + dx, y + dy)]

    @cached_property
    def wheels(self) -> MultiLineString:
        """Every wheel's tread across its width."""
        return shapely.multilinestrings(
            shapely.linestrings([self._tread(n) for n in self.car.wheel_points])
        )  # vectorised: a third of the time

    def wheel_tread(self, name: str) -> LineString:
        return LineString(self._tread(name))


def heading_of(
    car: CarModel,
    heading_deg: float | None,
    course_deg: float | None,
    speed_mps: float | None,
    reversing: bool,
    min_speed_mps: float,
) -> float | None:
    """The car's heading from one epoch, or None when the epoch cannot say (see the module's fallback and its limits)."""
    if heading_deg is not None:
        return (heading_deg - car.baseline_bearing_deg) % 360.0
    if course_deg is None or speed_mps is None or speed_mps < min_speed_mps:
        return None
    return (course_deg + (180.0 if reversing else 0.0)) % 360.0


def load_car(path: Path | str) -> CarModel:
    """A car file, or a car shipped in `exam_vehicle/cars/` by name (``c1-example``). ConfigError when unusable."""
    p = Path(path)
    if not p.exists() and not p.suffix and (CARS_DIR / f"{p.name}.toml").exists():
        p = CARS_DIR / f"{p.name}.toml"
    return parse(CarModel, read_toml(p), str(p))
