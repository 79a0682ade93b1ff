"""What the judge knows about the car between inputs: its signals, where it is, and when it stood still.

Pure: everything here changes only when an input is fed. A stop is dated from its first
standing epoch and confirmed by `motion_confirm_epochs` of them; so is the start that ends
it. A line touch counts once it is seen in `line_confirm_epochs` consecutive epochs, and
again only after as many clear ones (one epoch of receiver noise is not a fault). The
front wheels' angle, which turns their treads, is the bicycle model's: the rear axle's
curvature over the last few epochs (a kinematic car's rear axle turns as its front wheels
say), kept while the car stands.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from exam_vehicle.car import CarModel, PlacedCar, heading_of
from exam_vehicle.course import Course
from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.rules import Judging
from exam_vehicle.signals import Signal


@dataclass
class Finding:
    """A rule broken, before the judge turns it into a `Deduction`: which, when, where and what was measured."""

    rule_id: str
    t: float
    where: tuple[float, float] | None = None
    detail: str = ""


class Signals:
    """The last value of each signal; None for one never reported (the judge does not guess it)."""

    def __init__(self) -> None:
        self.values: dict[Signal, bool | int] = {}

    def get(self, signal: Signal) -> bool | int | None:
        return self.values.get(signal)

    def is_on(self, signal: Signal) -> bool:
        return self.values.get(signal) is True


@dataclass
class Stop:
    """One time the car stood still."""

    t: float
    placed: PlacedCar
    reverse: bool  # the gear when it stopped (reverse or not)
    ended_t: float | None = None
    reverse_after: bool | None = None  # the gear when it moved off again
    samples: list[tuple[float, float, float]] = field(
        default_factory=list
    )  # (e, n, heading) of its first standing epochs

    def settled(self, car: CarModel) -> PlacedCar:
        """The car where it stood: the mean of its first standing epochs (the first one alone if there are none)."""
        if not self.samples:
            return self.placed
        k = len(self.samples)
        e, n = sum(x[0] for x in self.samples) / k, sum(x[1] for x in self.samples) / k
        hx = sum(math.sin(math.radians(x[2])) for x in self.samples)
        hy = sum(math.cos(math.radians(x[2])) for x in self.samples)
        return car.place(e, n, math.degrees(math.atan2(hx, hy)) % 360.0)

    @property
    def duration(self) -> float:
        return (self.ended_t or self.t) - self.t

    @property
    def direction_change(self) -> bool:
        """A stop to change between forward and reverse (part of a manoeuvre, not a 'stop midway')."""
        return self.reverse_after is not None and self.reverse_after != self.reverse


@dataclass
class Tick:
    """One judged epoch (RTK fixed, placed): what every item judge looks at."""

    t: float
    e: float  # the position antenna, ENU
    n: float
    placed: PlacedCar
    speed: float
    reverse: bool  # the reverse gear is engaged
    stopped: bool
    stop: Stop | None  # the current stop while stopped, else the last one
    began: Stop | None = None  # a stop confirmed at this epoch
    ended: Stop | None = None  # a stop that ended at this epoch (the car moved off)
    signals: Signals = field(default_factory=Signals)


class LineWatch:
    """Touching a line, with confirmation both ways: `update` is True at the epoch a new touch is confirmed."""

    def __init__(self, confirm: int) -> None:
        self.confirm = confirm
        self.touching = False
        self._run = 0

    def update(self, touching_now: bool) -> bool:
        if touching_now == self.touching:
            self._run = 0
            return False
        self._run += 1
        if self._run < self.confirm:
            return False
        self.touching, self._run = touching_now, 0
        return touching_now


class Motion:
    """Places the car from each epoch and keeps its stops; `tick` returns None when the epoch cannot be judged."""

    def __init__(self, course: Course, car: CarModel, judging: Judging) -> None:
        self.course, self.car, self.j = course, car, judging
        self.heading: float | None = None
        self.stopped = True  # a car waits at the start
        self.stop: Stop | None = None
        self.last: Tick | None = None
        self.moved_off = False
        self._run: list[tuple[float, PlacedCar, bool, float, float]] = []
        self._prev: tuple[float, float, float] | None = None
        self.steer = 0.0
        self._axles: deque[tuple[float, float, float]] = deque(maxlen=4)  # the rear axle and heading of the last epochs

    def _speed(self, epoch: Epoch, e: float, n: float) -> float:
        if epoch.speed_mps is not None:
            return epoch.speed_mps
        if self._prev is None or epoch.t <= self._prev[0]:
            return 0.0
        return math.hypot(e - self._prev[1], n - self._prev[2]) / (epoch.t - self._prev[0])

    def tick(self, epoch: Epoch, signals: Signals) -> Tick | None:
        if epoch.lat is None or epoch.lon is None:
            return None
        e, n, _ = self.course.enu(epoch.lat, epoch.lon, epoch.alt)
        reverse = signals.is_on(Signal.GEAR_REVERSE)
        heading = heading_of(
            self.car, epoch.heading_deg, epoch.course_deg, epoch.speed_mps, reverse, self.j.course_heading_min_mps
        )
        self.heading = heading if heading is not None else self.heading
        speed = self._speed(epoch, e, n)
        self._prev = (epoch.t, e, n)
        if self.heading is None:
            return None
        placed = self.car.place(e, n, self.heading)
        placed.steer_deg = self._steer(placed)  # before its wheels are first built
        tick = Tick(epoch.t, e, n, placed, speed, reverse, self.stopped, self.stop, signals=signals)
        self._motion(tick)
        self.last = tick
        return tick

    def _steer(self, placed: PlacedCar) -> float:
        """The front wheels' angle (degrees, left positive) from how the rear axle turned over the last epochs (kept when standing)."""
        ae, an = placed.rear_axle
        self._axles.append((ae, an, placed.heading_deg))
        e0, n0, h0 = self._axles[0]
        fe, fn = placed.forward
        ds = (ae - e0) * fe + (an - n0) * fn
        if abs(ds) > 0.05:
            dh = math.radians((placed.heading_deg - h0 + 540.0) % 360.0 - 180.0)
            limit = self.car.max_steer_deg
            self.steer = max(-limit, min(limit, math.degrees(math.atan(-self.car.wheelbase_m * dh / ds))))
        return self.steer

    def _motion(self, tick: Tick) -> None:
        if self.stop is None:  # the first judged epoch: the car stands at the start
            self.stop = Stop(tick.t, tick.placed, tick.reverse)
        against = tick.speed > self.j.moving_above_mps if self.stopped else tick.speed < self.j.stopped_below_mps
        if not against:
            self._run.clear()
            if self.stopped and len(self.stop.samples) < self.j.settle_epochs:
                self.stop.samples.append((tick.e, tick.n, tick.placed.heading_deg))
        else:
            self._run.append((tick.t, tick.placed, tick.reverse, tick.e, tick.n))
            if len(self._run) >= self.j.motion_confirm_epochs:
                first_t, first_placed, first_reverse, _, _ = self._run[0]
                if self.stopped:
                    self.stop.ended_t, self.stop.reverse_after = first_t, tick.reverse
                    tick.ended = self.stop
                    self.moved_off = True
                else:
                    self.stop = Stop(first_t, first_placed, first_reverse)
                    self.stop.samples = [(e, n, pl.heading_deg) for _, pl, _, e, n in self._run]
                    tick.began = self.stop
                self._run.clear()
                self.stopped = not self.stopped
        tick.stopped, tick.stop = self.stopped, self.stop
