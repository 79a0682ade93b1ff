"""A simulated exam car: a kinematic (bicycle) car driven through the example course by scripted drivers.

Harness code: it models the physical car, its RTK receiver and its vehicle board, never the
judge. The car is the car model's wheelbase and outline moving as a bicycle model about the
rear axle; the driver is a script per item (`drive_exam`) whose knobs (`Profile`) make the
mistakes the rules table judges, and near misses that are not mistakes. Near misses are
measured on the car's true position (this module's own geometry, shapely on the design),
calibrated by dry runs (`calibrate`), never by asking the judge.

Receiver: 10 Hz epochs of the position antenna (the car file's offset applied): RTK fixed
noise 0.6 cm white plus 0.6 cm slowly wandering (Gauss-Markov, 20 s) per horizontal axis
(about 1.2 cm horizontal), twice that vertically; dual-antenna heading noise of 2 mm across
the baseline (0.1 degree on a 1.1 m baseline, a UM982-class receiver); Doppler speed noise
2 cm/s per axis; fix quality changes as scripted (RTK float: about 11 cm of wander, no heading). Board: every signal's value at power-up,
then each change (belt, gear, handbrake, clutch, brake, turn signals, ignition, engine running,
rpm in 100 rpm steps), on the same clock as the epochs.

    python -m site_sim.exam_car --profile clean --out /tmp/clean.jsonl [--nmea /tmp/clean.nmea]

`nmea_sentences(epoch)` gives the GGA + RMC + HDT an RTK receiver would send for an epoch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pymap3d
import shapely
from shapely.geometry import LineString, Polygon

from exam_vehicle.car import CarModel, load_car
from exam_vehicle.courses.make_example import ORIGIN, Layout, layout
from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.rules import load_rules
from exam_vehicle.signals import Signal, SignalChange
from exam_vehicle.track import Input, TrackHeader, iter_lines

T0 = 1_767_000_000.0  # 2025-12-29 09:20 UTC: the unit's clock when a simulated exam starts
DT = 0.05  # physics step, s
EPOCH_S = 0.1  # 10 Hz
STEER_RATE = 0.8  # road-wheel angle rate, rad/s
ACCEL, DECEL = 0.8, 1.2  # m/s^2


@dataclass
class Truth:
    """The car as it really is: rear axle centre (ENU metres), heading (radians from east, anticlockwise), speed (signed), steering."""

    x: float
    y: float
    th: float
    v: float = 0.0
    d: float = 0.0
    t: float = 0.0


# ---------------------------------------------------------------- the car's true shapes (this module's own geometry)
def body_corners(car: CarModel, s: Truth) -> list[tuple[float, float]]:
    c, sn = math.cos(s.th), math.sin(s.th)
    return [(s.x + x * c - y * sn, s.y + x * sn + y * c) for x, y in car.body_outline]


def wheel_treads(car: CarModel, s: Truth) -> list[list[tuple[float, float]]]:
    """Each tyre's tread across its width; the front ones turned by the steering angle (the judge cannot know it)."""
    out = []
    c, sn = math.cos(s.th), math.sin(s.th)
    half = car.tyre_width_m / 2
    for name, (x, y) in car.wheel_points.items():
        a = s.d if name.startswith("front") else 0.0
        dx, dy = -half * math.sin(a), half * math.cos(a)  # across the tyre, in the body frame
        pts = [(x - dx, y - dy), (x + dx, y + dy)]
        out.append([(s.x + px * c - py * sn, s.y + px * sn + py * c) for px, py in pts])
    return out


def antenna(car: CarModel, s: Truth) -> tuple[float, float, float, float]:
    """The position antenna's true (e, n) and its velocity (ve, vn)."""
    a = car.position_antenna
    c, sn = math.cos(s.th), math.sin(s.th)
    rx, ry = a.x * c - a.y * sn, a.x * sn + a.y * c
    w = s.v * math.tan(s.d) / car.wheelbase_m
    return s.x + rx, s.y + ry, s.v * c - w * ry, s.v * sn + w * rx


class Clearance:
    """The smallest true distance (metres) of the body or the wheels to a set of design lines over a dry run; 0 if they touched.

    Measured on what each shape swept between two physics steps (the hull of both positions), so a
    corner passing a line between steps is not missed.
    """

    def __init__(self, car: CarModel, lines: list[Any], what: str = "body") -> None:
        self.car, self.what = car, what
        self.lines = shapely.union_all(lines)
        shapely.prepare(self.lines)
        self.min = math.inf
        self._prev: list[list[tuple[float, float]]] | None = None

    def __call__(self, s: Truth) -> None:
        parts = [body_corners(self.car, s)] if self.what == "body" else wheel_treads(self.car, s)
        swept = parts if self._prev is None else [a + b for a, b in zip(parts, self._prev)]
        self._prev = parts
        shape = shapely.union_all([shapely.convex_hull(shapely.multipoints(p)) for p in swept])
        self.min = min(self.min, shape.distance(self.lines))


# ---------------------------------------------------------------- the receiver
class Receiver:
    """RTK receiver model: the antenna's epochs at 10 Hz with the noise the module describes."""

    def __init__(self, car: CarModel, lay: Layout, rng: random.Random) -> None:
        self.car, self.lay, self.rng = car, lay, rng
        self.gm = [0.0, 0.0, 0.0]
        self.float_bias = [0.0, 0.0]
        self.quality = FixQuality.RTK_FIXED

    def epoch(self, s: Truth, t_fix: float) -> Epoch:
        g = self.rng.gauss
        k = math.exp(-EPOCH_S / 20.0)
        self.gm = [k * b + math.sqrt(1 - k * k) * sd * g(0, 1) for b, sd in zip(self.gm, (0.006, 0.006, 0.012))]
        e, n, ve, vn = antenna(self.car, s)
        fixed = self.quality is FixQuality.RTK_FIXED
        if fixed:
            self.float_bias = [0.0, 0.0]
            ne, nn, nu, h_acc = g(0, 0.006) + self.gm[0], g(0, 0.006) + self.gm[1], g(0, 0.012) + self.gm[2], 0.012
        else:
            self.float_bias = [0.97 * b + g(0, 0.027) for b in self.float_bias]  # about 11 cm of wander
            ne, nn, nu, h_acc = self.float_bias[0] + g(0, 0.03), self.float_bias[1] + g(0, 0.03), g(0, 0.2), 0.2
        up = self.lay.hill_up(e) + self.car.position_antenna.z + nu
        lat, lon, alt = pymap3d.enu2geodetic(e + ne, n + nn, up, *ORIGIN)
        ve, vn = ve + g(0, 0.02), vn + g(0, 0.02)
        heading = None
        if fixed and self.car.heading_antenna is not None:
            compass = 90.0 - math.degrees(s.th) + self.car.baseline_bearing_deg
            heading = round((compass + math.degrees(g(0, 0.002 / self.car.baseline_m))) % 360.0, 3)
        when = dt.datetime.fromtimestamp(t_fix, dt.UTC)
        return Epoch(
            t=round(t_fix + 0.04, 3),
            time=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            lat=round(float(lat), 10),
            lon=round(float(lon), 10),
            alt=round(float(alt), 3),
            quality=self.quality,
            sats=26,
            hdop=0.7,
            speed_mps=round(math.hypot(ve, vn), 3),
            course_deg=round(math.degrees(math.atan2(ve, vn)) % 360.0, 2),
            heading_deg=heading,
            h_acc_m=h_acc,
        )


# ---------------------------------------------------------------- the car, its board and the clock
class ExamCar:
    """The simulated car: physics, driver primitives, board signals and receiver epochs on one clock.

    With `record=False` (a dry run for calibration) no epochs or signals are made; `monitors`
    see the true state after every step.
    """

    def __init__(self, car: CarModel, lay: Layout, start: Truth, *, seed: int = 1, record: bool = True) -> None:
        self.car, self.lay, self.s = car, lay, start
        self.record = record
        self.rng = random.Random(seed)
        self.receiver = Receiver(car, lay, self.rng)
        self.inputs: list[Input] = []
        self.signals: dict[Signal, bool | int] = {}
        self.monitors: list[Callable[[Truth], None]] = []
        self.quality_plan: list[tuple[float, float, FixQuality]] = []  # (from t, until t, quality)
        self.stall_plan: bool = False
        self.rpm_dip: int | None = None
        self.item_times: dict[str, list[float]] = {}
        self._next_epoch = start.t
        self._rpm_reported = 0

    # ---- clock, receiver and board
    @property
    def t(self) -> float:
        return self.s.t

    def set(self, signal: Signal, value: bool | int) -> None:
        """The board reports a change (nothing when the value is already so)."""
        if self.signals.get(signal) == value:
            return
        self.signals[signal] = value
        if self.record:
            self.inputs.append(SignalChange(t=round(self.s.t + 0.01, 3), signal=signal, value=value))

    def _rpm(self) -> None:
        running = self.signals.get(Signal.ENGINE_RUNNING) is True
        rpm = 0 if not running else int(800 + 420 * abs(self.s.v))
        if self.rpm_dip is not None and running:
            rpm, self.rpm_dip = self.rpm_dip, None
        if abs(rpm - self._rpm_reported) >= 100 or (rpm == 0) != (self._rpm_reported == 0):
            self._rpm_reported = rpm
            self.set(Signal.ENGINE_RPM, rpm)

    def _tick_clock(self) -> None:
        self.s.t = round(self.s.t + DT, 6)
        for m in self.monitors:
            m(self.s)
        if not self.record:
            return
        self._rpm()
        while self._next_epoch <= self.s.t + 1e-9:
            q = FixQuality.RTK_FIXED
            for a, b, quality in self.quality_plan:
                if a <= self._next_epoch < b:
                    q = quality
            self.receiver.quality = q
            self.inputs.append(self.receiver.epoch(self.s, self._next_epoch))
            self._next_epoch = round(self._next_epoch + EPOCH_S, 6)

    # ---- physics
    def _step(
        self, v_target: float, steer_target: float, max_ds: float | None = None, keep_speed: bool = False
    ) -> float:
        """One physics step (at most `max_ds` metres: then standing, unless `keep_speed`); returns the distance moved (signed)."""
        s = self.s
        s.d += max(-STEER_RATE * DT, min(STEER_RATE * DT, steer_target - s.d))
        dv = v_target - s.v
        limit = DECEL if abs(v_target) < abs(s.v) else ACCEL
        s.v += max(-limit * DT, min(limit * DT, dv))
        ds = s.v * DT
        if max_ds is not None and abs(ds) > max_ds:
            ds = math.copysign(max_ds, ds)
            s.v = s.v if keep_speed else 0.0
        dth = ds * math.tan(s.d) / self.car.wheelbase_m
        s.x += ds * math.cos(s.th + dth / 2)
        s.y += ds * math.sin(s.th + dth / 2)
        s.th += dth
        self._tick_clock()
        return ds

    def hold(self, seconds: float, steer: float | None = None) -> None:
        """Stand still (the wheel may be turned: dry steering)."""
        self.s.v = 0.0
        for _ in range(max(0, round(seconds / DT))):
            self._step(0.0, self.s.d if steer is None else steer)

    def go(
        self,
        speed: float,
        *,
        reverse: bool = False,
        steer: float | None = None,
        path: list[tuple[float, float]] | None = None,
        until: Callable[[Truth], bool] | None = None,
        stop_at: Callable[[Truth], float] | None = None,
        to: Callable[[Truth], float] | None = None,
        lookahead: float = 3.0,
        max_s: float = 600.0,
    ) -> None:
        """Drive at `speed` (m/s) forward or back, steering `steer` (radians, left positive) or following `path` (pure pursuit).

        Ends when `until` holds (still moving), exactly where `to` (metres left) says (still moving), or,
        with `stop_at` (metres left), standing exactly there.
        """
        sign = -1.0 if reverse else 1.0
        if self.record and (self.signals.get(Signal.BRAKE) or self.signals.get(Signal.CLUTCH)):
            self.set(Signal.BRAKE, False)
            self.set(Signal.CLUTCH, False)
        follower = _PurePursuit(path, lookahead) if path else None
        t_end = self.s.t + max_s
        while self.s.t < t_end:
            st = follower.steer(self.s, self.car) if follower else (self.s.d if steer is None else steer)
            st = max(-math.radians(self.car.max_steer_deg), min(math.radians(self.car.max_steer_deg), st))
            if stop_at is not None:
                rem = stop_at(self.s)
                if rem <= 0.0005:
                    break
                v = sign * max(0.04, min(speed, math.sqrt(2 * 0.7 * rem)))
                self._step(v, st, max_ds=rem)
                if abs(self.s.v) < 1e-9:
                    break
            elif to is not None:
                rem = to(self.s)
                if rem <= 1e-6:
                    return
                self._step(sign * speed, st, max_ds=rem, keep_speed=True)
            else:
                self._step(sign * speed, st)
                if until is not None and until(self.s):
                    return
        if stop_at is not None:
            self.s.v = 0.0
            self.set(Signal.BRAKE, True)
            if self.car.transmission == "manual":
                self.set(Signal.CLUTCH, True)

    def shift(self, gear: str) -> None:
        """Select a gear: N, 1, 2 or R (manual; P and D on an automatic)."""
        if self.car.transmission == "manual":
            self.set(Signal.CLUTCH, True)
        self.set(Signal.GEAR_NEUTRAL, gear in ("N", "P"))
        self.set(Signal.GEAR_REVERSE, gear == "R")


class _PurePursuit:
    """Steers the rear axle along a polyline (forward only), looking `lookahead` metres ahead."""

    def __init__(self, path: list[tuple[float, float]], lookahead: float) -> None:
        self.path, self.ld, self.i = path, lookahead, 0

    def steer(self, s: Truth, car: CarModel) -> float:
        p = self.path
        best, best_d = self.i, math.inf
        for j in range(self.i, min(len(p), self.i + 60)):
            d = (p[j][0] - s.x) ** 2 + (p[j][1] - s.y) ** 2
            if d < best_d:
                best, best_d = j, d
        self.i = best
        j = best
        while j < len(p) - 1 and math.dist(p[j], (s.x, s.y)) < self.ld:
            j += 1
        tx, ty = p[j]
        alpha = math.atan2(ty - s.y, tx - s.x) - s.th
        dist = max(0.5, math.dist((tx, ty), (s.x, s.y)))
        return math.atan2(2 * car.wheelbase_m * math.sin(alpha), dist)


def line_path(x0: float, y0: float, x1: float, y1: float, step: float = 0.25) -> list[tuple[float, float]]:
    n = max(2, int(math.dist((x0, y0), (x1, y1)) / step))
    return [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n + 1)]


# ---------------------------------------------------------------- drivers
@dataclass(frozen=True)
class Profile:
    """One scripted driver. The defaults drive a clean exam; each knob is one way to get something (nearly) wrong."""

    name: str = "clean"
    car: str = "c1-example"
    rules: str = "c1-2022"
    seed: int = 1
    # general
    belt: str = "before"  # before | never | off_on (unfastened and fastened again before moving off)
    belt_off_in: str | None = None  # the belt is unfastened in this item
    engine_start: str = "neutral"  # neutral | in_gear
    stall_in: str | None = None  # the engine stalls at the hill start
    rpm_dip_in: str | None = None  # the engine nearly stalls (450 rpm) at the hill start
    rtk_loss: tuple[str, float] | None = None  # (item, seconds of RTK float) soon after the item starts
    skip: str | None = None  # drive around this item's area
    detour: bool = False  # wander off the route before the first item
    wait_before_items: float = 0.0  # stand outside each item this long (a queue)
    # 倒车入库
    bay_control: float = 0.5  # front wheels past the control line by this (m; negative: short of it)
    bay_rear_gap: float = 0.35  # rear bumper to the back line, parked (m; negative: over it)
    bay_front_gap: float | None = None  # instead: front bumper inside the mouth by this (m; negative: outside)
    bay_shift: float = 0.0  # both reversals' arcs moved along the road (m, east positive)
    bay_mid_stop: float = 0.0  # a stop while reversing in, s
    bay_gear_wait: float = 1.0  # standing to change between forward and reverse, s
    bay_second_end: str = "west"  # the end the second reversal starts from
    # 坡道定点停车和起步
    hill_stop: bool = True
    hill_bumper: float = 0.0  # front bumper past the stop line (m; negative: short)
    hill_edge_gap: float = 0.20  # body to the right edge line (m)
    hill_start_after: float = 4.0  # stop to moving off, s
    hill_rollback: float = 0.0  # along the slope, m
    hill_handbrake: str = "set"  # set | late | never
    # 侧方停车
    par_mouth_gap: float = 0.40  # parked: the body's lane side inside the bay's open side by this (m; 0.40 is centred)
    par_rear_gap: float = 0.5  # parked: rear bumper to the back end line (m)
    par_signal: str = "left"  # left | none | right (when moving off out of the bay)
    par_mid_stop: float = 0.0  # a stop between the two arcs, s
    par_gear_wait: float = 1.0
    par_wheel_gap: float | None = (
        None  # approach with the right wheels this far from the lane edge (m; negative: over it)
    )
    # 曲线行驶
    s_offset: float | None = None  # the line followed, left of the centre line (m); None: the design's balanced line
    s_stop: float = 0.0
    # 直角转弯
    ra_signal: str = (
        "left"  # left | none | right | late (left, switched on only once the car has turned `ra_signal_at_deg`)
    )
    ra_signal_at_deg: float = 22.0
    ra_cancel: bool = True
    ra_turn_shift: float | None = None  # where the turn starts, from the design's balanced point (m)
    ra_stop: float = 0.0
    # what dry runs should make true before the run (see `calibrate`): (target name, value)
    targets: tuple[tuple[str, float], ...] = ()


class _Dims:
    def __init__(self, car: CarModel) -> None:
        self.L, self.fo, self.ro = car.wheelbase_m, car.front_overhang_m, car.rear_overhang_m
        self.W2, self.tr2, self.ty2 = car.width_m / 2, car.track_m / 2, car.tyre_width_m / 2
        self.front = self.L + self.fo


def _ramp(speed: float, steer: float, L: float) -> tuple[float, float]:
    """Distance the wheel takes to turn between straight and `steer` at `speed`, and the heading change while it does."""
    a = abs(steer)
    d = speed * a / STEER_RATE
    return d, d / L * (-math.log(math.cos(a)) / a)  # the mean of tan over the ramp


def _stop_here(c: ExamCar, reverse: bool, seconds: float) -> None:
    """Brake to a stop within 10 cm, keep the wheel as it is, stand `seconds`."""
    x0, y0 = c.s.x, c.s.y
    c.go(0.4, reverse=reverse, stop_at=lambda s: 0.1 - math.dist((s.x, s.y), (x0, y0)))
    c.hold(seconds)


def _enter_item(c: ExamCar, p: Profile, item: str, x_wait: float, y: float) -> None:
    """Queue outside the item if the profile says so, note the time, and start any scripted RTK loss."""
    if p.wait_before_items > 0:
        c.go(2.0, path=line_path(c.s.x, y, x_wait + 5, y), stop_at=lambda s: x_wait - s.x)
        c.hold(p.wait_before_items)
    c.item_times[item] = [c.t]
    if p.rtk_loss and p.rtk_loss[0] == item:
        c.quality_plan.append((c.t + 8.0, c.t + 8.0 + p.rtk_loss[1], FixQuality.RTK_FLOAT))


# ---------------------------------------------------------------- 倒车入库
BAY_STEER = math.radians(30.0)
BAY_EXIT_LATER = 0.6
BAY_LANE_Y = 0.6  # the approach keeps this far left of the road's middle: room for the swing into the bay  # drive this much further out of the bay before turning: the rear corner clears the bay line
SLOW, CREEP = 0.8, 0.6  # manoeuvring speeds forward and back, m/s


def _bay_reverse_in(c: ExamCar, p: Profile, end: str, first: bool) -> None:
    """From standing past a control line at `end`, reverse along an arc into the bay and stop parked."""
    lay, k = c.lay, _Dims(c.car)
    R = k.L / math.tan(BAY_STEER)
    ramp, dth = _ramp(CREEP, BAY_STEER, k.L)
    sgn = 1.0 if end == "east" else -1.0
    c.hold(p.bay_gear_wait / 2)
    c.shift("R")
    c.hold(p.bay_gear_wait / 2)
    x_arc = lay.bay_x + sgn * R + p.bay_shift
    c.go(CREEP, reverse=True, steer=0.0, to=lambda s: sgn * (s.x - x_arc) - ramp / 2)
    if end == "east":
        c.go(CREEP, reverse=True, steer=-BAY_STEER, until=lambda s: s.th >= math.pi / 2 - dth)
    else:
        c.go(CREEP, reverse=True, steer=BAY_STEER, until=lambda s: s.th <= math.pi / 2 + dth)
    if p.bay_front_gap is not None:
        y_park = lay.bay_mouth_y - p.bay_front_gap - k.front
    else:
        y_park = lay.bay_mouth_y - lay.bay_length + p.bay_rear_gap + k.ro
    if p.bay_mid_stop > 0 and first:
        c.go(CREEP, reverse=True, steer=0.0, stop_at=lambda s: s.y - (y_park + 1.0))
        c.hold(p.bay_mid_stop)
    c.go(CREEP, reverse=True, steer=0.0, stop_at=lambda s: s.y - y_park)


def _bay_drive_out(c: ExamCar, p: Profile, towards: str, stop_past: float | None) -> None:
    """Out of the bay forward, turning towards `towards`; stand with the front wheels `stop_past` beyond that control line."""
    lay, k = c.lay, _Dims(c.car)
    R = k.L / math.tan(BAY_STEER)
    ramp, dth = _ramp(SLOW, BAY_STEER, k.L)
    c.hold(p.bay_gear_wait / 2)
    c.shift("1")
    c.hold(p.bay_gear_wait / 2)
    c.go(SLOW, steer=0.0, until=lambda s: s.y >= -R - ramp / 2 + BAY_EXIT_LATER)
    if towards == "west":
        c.go(SLOW, steer=BAY_STEER, until=lambda s: s.th >= math.pi - dth)
        xw = lay.control_xs[0]
        path = line_path(c.s.x, c.s.y, xw - 30, c.s.y)  # straight on along the road from where the turn ended
        if stop_past is None:
            c.go(SLOW, path=path, until=lambda s: s.x < lay.control_xs[0] - 14)
        else:
            c.go(SLOW, path=path, stop_at=lambda s: (s.x - k.L) - (xw - stop_past))
    else:
        c.go(SLOW, steer=-BAY_STEER, until=lambda s: s.th <= dth)
        xe = lay.control_xs[1]
        path = line_path(c.s.x, c.s.y, xe + 40, c.s.y) if stop_past is not None else line_path(c.s.x, 0.0, xe + 40, 0.0)
        if stop_past is None:
            c.go(2.0, path=path, until=lambda s: s.x > xe + 12)
        else:
            c.go(SLOW, path=path, stop_at=lambda s: (xe + stop_past) - (s.x + k.L))


def reverse_into_bay(c: ExamCar, p: Profile) -> None:
    lay, k = c.lay, _Dims(c.car)
    xw, xe = lay.control_xs
    _enter_item(c, p, "reverse_into_bay", xw - 14, 0.0)
    c.go(
        2.5,
        path=line_path(c.s.x, BAY_LANE_Y, xe + 30, BAY_LANE_Y),
        stop_at=lambda s: (xe + p.bay_control) - (s.x + k.L),
    )
    _bay_reverse_in(c, p, "east", first=True)
    second = p.bay_second_end
    _bay_drive_out(c, p, second, stop_past=0.5)
    _bay_reverse_in(c, p, second, first=False)
    _bay_drive_out(c, p, "east", stop_past=None)
    c.item_times["reverse_into_bay"].append(c.t)


# ---------------------------------------------------------------- 坡道定点停车和起步
def _hill_start(c: ExamCar, p: Profile) -> None:
    """From standing at the stop line: handbrake, wait, (stall,) release, (roll back,) move off."""
    t_stop = c.t
    plan: list[tuple[float, Callable[[], None]]] = []
    if p.hill_handbrake == "set":
        plan.append((1.0, lambda: c.set(Signal.HANDBRAKE, True)))
    elif p.hill_handbrake == "late":
        plan.append((8.0, lambda: c.set(Signal.HANDBRAKE, True)))
    for at, action in sorted(plan, key=lambda a: a[0]):
        if at < p.hill_start_after - 1.0:
            c.hold(max(0.0, t_stop + at - c.t))
            action()
    if p.stall_in == "hill_stop_and_start":
        c.hold(max(0.0, t_stop + p.hill_start_after - 7.0 - c.t))
        c.set(Signal.HANDBRAKE, False)
        c.hold(0.5)
        c.set(Signal.ENGINE_RUNNING, False)  # stalled: the ignition stays on
        c.set(Signal.BRAKE, True)
        c.set(Signal.HANDBRAKE, True)
        c.hold(1.5)
        c.shift("N")
        c.hold(1.0)
        c.set(Signal.ENGINE_RUNNING, True)
        c.hold(1.0)
        c.shift("1")
    c.hold(max(0.0, t_stop + p.hill_start_after - 1.0 - c.t))
    if p.rpm_dip_in == "hill_stop_and_start":
        c.rpm_dip = 450
    c.set(Signal.HANDBRAKE, False)
    c.hold(1.0)
    if p.hill_rollback > 0:
        x0 = c.s.x
        back = p.hill_rollback / math.sqrt(1 + c.lay.hill_grade**2)  # along the slope to horizontal
        c.go(0.12, reverse=True, steer=0.0, stop_at=lambda s: back - (x0 - s.x))
        c.hold(0.5)


def hill_stop_and_start(c: ExamCar, p: Profile) -> None:
    lay, k = c.lay, _Dims(c.car)
    y = -lay.hill_half_width + p.hill_edge_gap + k.W2
    _enter_item(c, p, "hill_stop_and_start", lay.hill_foot_x - 16, y)
    path = line_path(c.s.x, y, lay.hill_top_x + 60, y)
    if not p.hill_stop:
        c.go(2.0, path=path, until=lambda s: s.x > lay.hill_top_x + 29.5)
    else:
        c.go(2.0, path=path, stop_at=lambda s: (lay.hill_stop_x + p.hill_bumper) - (s.x + k.front))
        _hill_start(c, p)
        c.go(2.0, path=line_path(c.s.x, y, lay.hill_top_x + 60, y), until=lambda s: s.x > lay.hill_top_x + 29.5)
    c.item_times["hill_stop_and_start"].append(c.t)


# ---------------------------------------------------------------- 侧方停车
PAR_STEER = math.radians(33.0)
PAR_LANE_GAP = 0.7  # the approach: the body this far from the lane's right edge
PAR_EXIT_TURN = math.radians(45.0)
_PAR_CACHE: dict[tuple[str, float], tuple[float, float]] = {}


def _par_s_manoeuvre(c: ExamCar, alpha: float, mid_stop: float = 0.0) -> None:
    """Reversing: right lock until the heading is `alpha`, then left lock until straight again."""
    _, dth = _ramp(CREEP, PAR_STEER, c.car.wheelbase_m)
    c.go(CREEP, reverse=True, steer=-PAR_STEER, until=lambda s: s.th >= alpha - dth)
    if mid_stop > 0:
        _stop_here(c, True, mid_stop)
    c.go(CREEP, reverse=True, steer=PAR_STEER, until=lambda s: s.th <= dth)
    c.go(CREEP, reverse=True, steer=0.0, until=lambda s: abs(s.d) < 1e-3)  # the wheel straight again


def par_design(car: CarModel, lay: Layout, mouth_gap: float) -> tuple[float, float]:
    """The turn (radians) that ends the reversing S with the body `mouth_gap` inside the bay's open side, and the S's length.

    Found by dry runs (bisection), cached per car and gap.
    """
    key = (car.name, round(mouth_gap, 4))
    if key in _PAR_CACHE:
        return _PAR_CACHE[key]
    k = _Dims(car)
    y0 = -lay.par_lane_half + PAR_LANE_GAP + k.W2
    y_park = -lay.par_lane_half - mouth_gap - k.W2
    lo, hi = math.radians(15.0), math.radians(75.0)
    dx = 0.0
    for _ in range(16):
        mid = (lo + hi) / 2
        dry = ExamCar(car, lay, Truth(300.0, y0, 0.0), record=False)
        _par_s_manoeuvre(dry, mid)
        y_end, dx = dry.s.y + math.tan(dry.s.th) * k.front, 300.0 - dry.s.x  # the front corner's height counts
        if y_end > y_park:
            lo = mid
        else:
            hi = mid
    _PAR_CACHE[key] = ((lo + hi) / 2, dx)
    return _PAR_CACHE[key]


def parallel_park(c: ExamCar, p: Profile) -> None:
    lay, k = c.lay, _Dims(c.car)
    y = -lay.par_lane_half + PAR_LANE_GAP + k.W2
    _enter_item(c, p, "parallel_park", lay.par_x0 - 26, y)
    alpha, dx = par_design(c.car, lay, p.par_mouth_gap)
    x_start = lay.par_x0 + k.ro + p.par_rear_gap + dx + 0.3  # then 0.3 m straight back to the parked spot
    if p.par_wheel_gap is not None:  # along the lane edge before the bay, then out to the usual line
        yw = -lay.par_lane_half + p.par_wheel_gap + k.tr2 + k.ty2
        c.go(2.0, path=line_path(c.s.x, yw, lay.par_x0 - 3.0, yw), until=lambda s: s.x > lay.par_x0 - 6.0)
    c.go(2.0, path=line_path(c.s.x, y, x_start + 30, y), stop_at=lambda s: x_start - s.x)
    c.hold(p.par_gear_wait / 2)
    c.shift("R")
    c.hold(p.par_gear_wait / 2)
    _par_s_manoeuvre(c, alpha, p.par_mid_stop)
    c.go(CREEP, reverse=True, steer=0.0, stop_at=lambda s: (s.x - k.ro) - (lay.par_x0 + p.par_rear_gap))
    if p.belt_off_in == "parallel_park":
        c.set(Signal.SEAT_BELT, False)
    c.hold(p.par_gear_wait / 2)
    if p.par_signal in ("left", "right"):
        c.set(Signal.TURN_LEFT if p.par_signal == "left" else Signal.TURN_RIGHT, True)
    c.shift("1")
    c.hold(p.par_gear_wait / 2)
    _, dth = _ramp(SLOW, PAR_STEER, k.L)
    c.go(SLOW, steer=PAR_STEER, until=lambda s: s.th >= PAR_EXIT_TURN - dth)
    c.go(SLOW, steer=-PAR_STEER, until=lambda s: s.th <= dth)
    c.go(2.0, path=line_path(c.s.x, y, lay.par_x1 + 40, y), until=lambda s: s.x > lay.par_x1 + 2.0)
    c.set(Signal.TURN_LEFT, False)
    c.set(Signal.TURN_RIGHT, False)
    c.go(2.0, path=line_path(c.s.x, 0.0, lay.par_x1 + 60, 0.0), until=lambda s: s.x > lay.par_x1 + 16.5)
    c.item_times["parallel_park"].append(c.t)


# ---------------------------------------------------------------- 曲线行驶
S_SPEED, S_LOOKAHEAD = 1.5, 1.6
_S_CACHE: dict[str, float] = {}


def s_curve_path(lay: Layout, offset: float, step: float = 0.2) -> list[tuple[float, float]]:
    """The line the driver follows: the S's centre line moved `offset` to the left, with straight lead-in and lead-out."""
    (c1x, c1y), (c2x, c2y) = lay.s_centres
    rc = lay.s_radius_outer - lay.s_width / 2
    ex, ey = lay.s_entry
    out = line_path(ex - 20.0, ey + offset, ex, ey + offset, step)
    sweep = math.radians(lay.s_sweep_deg)
    n = int(sweep * rc / step)
    out += [
        (
            c1x + (rc - offset) * math.cos(-math.pi / 2 + sweep * i / n),
            c1y + (rc - offset) * math.sin(-math.pi / 2 + sweep * i / n),
        )
        for i in range(1, n + 1)
    ]
    b0 = -math.pi / 2 + sweep + math.pi
    out += [
        (c2x + (rc + offset) * math.cos(b0 - sweep * i / n), c2y + (rc + offset) * math.sin(b0 - sweep * i / n))
        for i in range(1, n + 1)
    ]
    sx, sy = lay.s_exit
    return out + line_path(sx, sy + offset, lay.ra_x + 30.0, sy + offset, step)[1:]


def s_edges(lay: Layout) -> list[LineString]:
    return [
        LineString([(x, y) for x, y, *_ in f["coords"]])
        for f in lay.features
        if f["item"] == "s_curve" and f["role"] == "edge_line"
    ]


def s_clearance(car: CarModel, lay: Layout, offset: float, side: str | None = None) -> float:
    """The wheels' smallest true distance to the S's edge lines (or one side's) when following the line at `offset` (dry run)."""
    lines = [
        LineString([(x, y) for x, y, *_ in f["coords"]])
        for f in lay.features
        if f["item"] == "s_curve" and f["role"] == "edge_line" and side in (None, f["props"]["side"])
    ]
    ex, ey = lay.s_entry
    dry = ExamCar(car, lay, Truth(ex - 22.0, ey + offset, 0.0, v=S_SPEED), record=False)
    m = Clearance(car, lines, "wheels")
    dry.monitors.append(m)
    dry.go(S_SPEED, path=s_curve_path(lay, offset), until=lambda s: s.x > lay.s_exit[0] + 4.0, lookahead=S_LOOKAHEAD)
    return m.min


def s_balanced_offset(car: CarModel, lay: Layout) -> float:
    """The offset whose left and right wheel clearances are equal (bisection on dry runs), cached per car."""
    if car.name not in _S_CACHE:
        lo, hi = -0.8, 0.8
        for _ in range(12):
            mid = (lo + hi) / 2
            if s_clearance(car, lay, mid, "left") > s_clearance(car, lay, mid, "right"):
                lo = mid
            else:
                hi = mid
        _S_CACHE[car.name] = (lo + hi) / 2
    return _S_CACHE[car.name]


def s_curve(c: ExamCar, p: Profile) -> None:
    lay = c.lay
    offset = s_balanced_offset(c.car, lay) if p.s_offset is None else p.s_offset
    ex, ey = lay.s_entry
    _enter_item(c, p, "s_curve", ex - 12.0, ey + offset)
    path = s_curve_path(lay, offset)
    c.go(2.0, path=line_path(c.s.x, ey + offset, ex - 8.0, ey + offset), until=lambda s: s.x > ex - 16.0)
    c.go(S_SPEED, path=line_path(c.s.x, ey + offset, ex - 8.0, ey + offset), until=lambda s: s.x > ex - 9.0)
    if p.s_stop > 0:
        (c1x, c1y), rc = lay.s_centres[0], lay.s_radius_outer - lay.s_width / 2
        a = -math.pi / 2 + math.radians(lay.s_sweep_deg) * 0.6
        px, py = c1x + (rc - offset) * math.cos(a), c1y + (rc - offset) * math.sin(a)
        c.go(
            S_SPEED,
            path=path,
            lookahead=S_LOOKAHEAD,
            stop_at=lambda s: (px - s.x) * math.cos(s.th) + (py - s.y) * math.sin(s.th),
        )
        c.hold(p.s_stop)
    c.go(
        S_SPEED,
        path=path,
        lookahead=S_LOOKAHEAD,
        until=lambda s: s.x > lay.s_exit[0] + 5.0 and s.y > lay.s_exit[1] - 1.0,
    )
    c.item_times["s_curve"].append(c.t)


# ---------------------------------------------------------------- 直角转弯
RA_SPEED = 0.8
RA_OUTER_GAP = 0.45  # the approach: the body this far from the outer (right) edge
_RA_CACHE: dict[str, float] = {}


def _ra_turn(
    c: ExamCar, x_turn: float, north_x: float, until_y: float, on_turn: Callable[[Truth], None] | None = None
) -> None:
    """Full left lock from `x_turn` until heading north, then straight up the north leg."""
    lock = math.radians(c.car.max_steer_deg)
    _, dth = _ramp(RA_SPEED, lock, c.car.wheelbase_m)
    c.go(RA_SPEED, path=line_path(c.s.x, c.s.y, x_turn + 20, c.s.y), to=lambda s: x_turn - s.x)
    c.go(RA_SPEED, steer=lock, until=lambda s: (on_turn(s) if on_turn else None) or s.th >= math.pi / 2 - dth)
    c.go(RA_SPEED, steer=0.0, until=lambda s: abs(s.d) < 0.01)
    c.go(RA_SPEED, path=line_path(c.s.x, c.s.y, c.s.x, until_y + 20), until=lambda s: s.y > until_y)


def ra_clearance(car: CarModel, lay: Layout, x_turn: float, side: str | None = None) -> float:
    """The wheels' smallest true distance to the turn's edge lines when turning at `x_turn` (dry run)."""
    lines = [
        LineString([(x, y) for x, y, *_ in f["coords"]])
        for f in lay.features
        if f["item"] == "right_angle_turn" and f["role"] == "edge_line" and side in (None, f["props"]["side"])
    ]
    y = lay.ra_y - lay.ra_width / 2 + RA_OUTER_GAP + car.width_m / 2
    dry = ExamCar(car, lay, Truth(lay.ra_x - 16.0, y, 0.0, v=RA_SPEED), record=False)
    m = Clearance(car, lines, "wheels")
    dry.monitors.append(m)
    _ra_turn(dry, x_turn, lay.ra_x, lay.ra_y + 8.0)
    return m.min


def ra_balanced_turn(car: CarModel, lay: Layout) -> float:
    """Where to start the turn so the inner and outer wheels clear the lines equally (bisection on dry runs), cached."""
    if car.name not in _RA_CACHE:
        lo, hi = lay.ra_x - 6.0, lay.ra_x + 1.0
        for _ in range(12):
            mid = (lo + hi) / 2
            if ra_clearance(car, lay, mid, "left") < ra_clearance(car, lay, mid, "right"):
                lo = mid  # too close to the inner corner: turn later
            else:
                hi = mid
        _RA_CACHE[car.name] = (lo + hi) / 2
    return _RA_CACHE[car.name]


def right_angle_turn(c: ExamCar, p: Profile) -> None:
    lay, k = c.lay, _Dims(c.car)
    y = lay.ra_y - lay.ra_width / 2 + RA_OUTER_GAP + k.W2
    _enter_item(c, p, "right_angle_turn", lay.ra_x - 20.0, y)
    x_turn = ra_balanced_turn(c.car, lay) + (p.ra_turn_shift or 0.0)
    c.go(2.0, path=line_path(c.s.x, y, lay.ra_x - 13.0, y), until=lambda s: s.x > lay.ra_x - 18.0)
    c.go(RA_SPEED, path=line_path(c.s.x, y, lay.ra_x - 10.0, y), until=lambda s: s.x > lay.ra_x - 13.5)
    if p.ra_signal in ("left", "right"):
        c.set(Signal.TURN_LEFT if p.ra_signal == "left" else Signal.TURN_RIGHT, True)
    if p.ra_stop > 0:
        c.go(RA_SPEED + 0.7, path=line_path(c.s.x, y, x_turn, y), stop_at=lambda s: (x_turn - 3.0) - s.x)
        c.hold(p.ra_stop)

    def late_signal(s: Truth) -> None:
        if p.ra_signal == "late" and s.th > math.radians(p.ra_signal_at_deg):
            c.set(Signal.TURN_LEFT, True)

    _ra_turn(c, x_turn, lay.ra_x, lay.ra_y + 6.0, on_turn=late_signal)
    if p.ra_cancel:
        c.set(Signal.TURN_LEFT, False)
        c.set(Signal.TURN_RIGHT, False)
    c.go(2.0, path=line_path(c.s.x, c.s.y, c.s.x, lay.finish[1] + 10), stop_at=lambda s: lay.finish[1] - s.y)
    c.item_times["right_angle_turn"].append(c.t)


# ---------------------------------------------------------------- the whole exam
ITEM_SCRIPTS: dict[str, Callable[[ExamCar, Profile], None]] = {
    "reverse_into_bay": reverse_into_bay,
    "hill_stop_and_start": hill_stop_and_start,
    "parallel_park": parallel_park,
    "s_curve": s_curve,
    "right_angle_turn": right_angle_turn,
}
POWER_UP = {
    Signal.SEAT_BELT: False,
    Signal.DOOR_OPEN: False,
    Signal.HANDBRAKE: True,
    Signal.GEAR_NEUTRAL: True,
    Signal.GEAR_REVERSE: False,
    Signal.CLUTCH: False,
    Signal.BRAKE: False,
    Signal.TURN_LEFT: False,
    Signal.TURN_RIGHT: False,
    Signal.IGNITION: False,
    Signal.ENGINE_RUNNING: False,
    Signal.ENGINE_RPM: 0,
}


def _start(c: ExamCar, p: Profile) -> None:
    """Power-up, belt, engine, gear, handbrake off: ready to move off."""
    for sig, value in POWER_UP.items():
        c.set(sig, value)
    c.hold(2.0)
    if p.belt in ("before", "off_on"):
        c.set(Signal.SEAT_BELT, True)
    c.hold(1.0)
    c.set(Signal.BRAKE, True)
    if c.car.transmission == "manual":
        c.set(Signal.CLUTCH, True)
    c.set(Signal.IGNITION, True)
    c.hold(1.0)
    if p.engine_start == "in_gear":
        c.shift("1" if c.car.transmission == "manual" else "D")
        c.hold(0.5)
    c.set(Signal.ENGINE_RUNNING, True)
    c.hold(1.5)
    if p.belt == "off_on":
        c.set(Signal.SEAT_BELT, False)
        c.hold(2.0)
        c.set(Signal.SEAT_BELT, True)
    c.shift("1" if c.car.transmission == "manual" else "D")
    c.hold(1.0)
    c.set(Signal.HANDBRAKE, False)
    c.hold(1.0)


def _bypass(c: ExamCar, item: str) -> None:
    """Drive around an item's area on the open ground beside it."""
    lay = c.lay
    x0, x1 = {"reverse_into_bay": (lay.control_xs[0] - 12, lay.control_xs[1] + 14)}.get(item, (c.s.x + 5, c.s.x + 45))
    pts = line_path(c.s.x, 0.0, x0 - 6, 0.0) + line_path(x0, 7.5, x1, 7.5) + line_path(x1 + 6, 0.0, x1 + 40, 0.0)
    c.go(2.5, path=pts, until=lambda s: s.x > x1 + 8)


def drive_exam(
    p: Profile, car: CarModel | None = None, lay: Layout | None = None
) -> tuple[TrackHeader, list[Input], dict[str, list[float]]]:
    """One simulated exam: the track header, every input in arrival order, and each item's (start, end) time."""
    car = car or load_car(p.car)
    lay = lay or layout(car.length_m, car.width_m)
    p = calibrate(p, car, lay)
    c = ExamCar(car, lay, Truth(4.0, 0.0, 0.0, t=T0), seed=p.seed)
    c._next_epoch = T0
    _start(c, p)
    if p.detour:
        c.go(
            2.0,
            path=line_path(c.s.x, 0.0, 10, 0.0) + line_path(13, 2.5, 17, 2.5) + line_path(20, 0.0, 30, 0.0),
            until=lambda s: s.x > 21.0,
        )
    items = [i for i in ITEM_SCRIPTS if not (car.licence == "C2" and i == "hill_stop_and_start")]
    for item in items:
        if p.skip == item:
            _bypass(c, item)
            continue
        if p.belt_off_in == item and item != "parallel_park":
            c.set(Signal.SEAT_BELT, False)
        ITEM_SCRIPTS[item](c, p)
        if car.licence == "C2" and item == "reverse_into_bay":  # C2 drives through the hill, no item for it
            c.go(2.5, path=line_path(c.s.x, 0.0, lay.hill_top_x + 60, 0.0), until=lambda s: s.x > lay.hill_top_x + 34)
    c.hold(2.0)
    c.shift("N" if car.transmission == "manual" else "P")
    c.set(Signal.HANDBRAKE, True)
    c.set(Signal.IGNITION, False)
    c.set(Signal.ENGINE_RUNNING, False)
    c.hold(1.0)
    inputs = sorted(c.inputs, key=lambda i: i.t)
    header = TrackHeader(
        exam_id=f"sim-{p.name}-{p.seed}",
        candidate="simulated driver",
        car=car.name,
        course="example-site",
        rules_version=load_rules(p.rules).version,
        started_at=T0,
    )
    return header, inputs, c.item_times


# ---------------------------------------------------------------- calibration: dry runs make a near miss exactly so near
def _design_lines(lay: Layout, item: str, role: str, **props: Any) -> list[LineString]:
    return [
        LineString([(x, y) for x, y, *_ in f["coords"]])
        for f in lay.features
        if f["item"] == item and f["role"] == role and all(f["props"].get(k) == v for k, v in props.items())
    ]


class _AreaTimer:
    """When the body's true centre was first and last inside an item's designed area."""

    def __init__(self, car: CarModel, lay: Layout, item: str) -> None:
        ring = next(f["coords"][0] for f in lay.features if f["item"] == item and f["role"] == "area")
        self.area = Polygon([(x, y) for x, y, *_ in ring])
        self.car, self.first, self.last = car, math.nan, math.nan

    def __call__(self, s: Truth) -> None:
        cx, cy = self.car.body_centre
        c, sn = math.cos(s.th), math.sin(s.th)
        if self.area.contains(shapely.points(s.x + cx * c - cy * sn, s.y + cx * sn + cy * c)):
            self.first = s.t if math.isnan(self.first) else self.first
            self.last = s.t


def _dry_item(car: CarModel, lay: Layout, p: Profile, item: str, monitors: list[Callable[[Truth], None]]) -> None:
    start = {"reverse_into_bay": Truth(14.0, 0.0, 0.0, v=2.0), "parallel_park": Truth(125.0, 0.0, 0.0, v=2.0)}[item]
    dry = ExamCar(car, lay, start, record=False)
    dry.monitors.extend(monitors)
    ITEM_SCRIPTS[item](dry, replace(p, wait_before_items=0.0))


def _item_seconds(car: CarModel, lay: Layout, p: Profile, item: str) -> float:
    timer = _AreaTimer(car, lay, item)
    _dry_item(car, lay, p, item, [timer])
    return timer.last - timer.first


def _linear(measure: Callable[[float], float], x0: float, step: float, target: float) -> float:
    """The x where `measure` (a clearance, locally linear, 0 once touching) is `target`.

    Secant steps towards max(target, 2 cm) until within a millimetre; a negative target (over a line,
    which a clearance cannot measure) is then reached by following the last slope on.
    """
    reach = max(target, 0.02)
    xa, ma = x0, measure(x0)
    xb, mb = x0 + step, measure(x0 + step)
    for _ in range(8):
        if abs(mb - reach) < 0.001 or mb == ma:
            break
        xa, ma, xb = xb, mb, xb + (reach - mb) * (xb - xa) / (mb - ma)
        mb = measure(xb)
    slope = (mb - ma) / (xb - xa)
    return xb + (target - mb) / slope


def calibrate(p: Profile, car: CarModel, lay: Layout) -> Profile:
    """The profile with its `targets` turned into knob settings by dry runs of the true car."""
    for name, value in p.targets:
        if name == "s_wheel":  # the wheels' closest pass to an S-curve edge line (negative: over it)
            b = s_balanced_offset(car, lay)
            p = replace(p, s_offset=_linear(lambda off: s_clearance(car, lay, off, "left"), b, 0.2, value))
        elif name == "ra_wheel":  # the wheels' closest pass to the right-angle's outer edge line
            b = ra_balanced_turn(car, lay)
            shift = _linear(lambda x: ra_clearance(car, lay, b + x, "right"), 0.2, 0.1, value)  # noqa: B023 (called at once)
            p = replace(p, ra_turn_shift=shift)
        elif name == "bay_seconds":  # time in the reverse-into-bay area: longer stands at the four gear changes
            p = replace(p, bay_gear_wait=p.bay_gear_wait + (value - _item_seconds(car, lay, p, "reverse_into_bay")) / 4)
        elif name == "par_seconds":  # time in the parallel-park area: longer stands at the two gear changes
            p = replace(p, par_gear_wait=p.par_gear_wait + (value - _item_seconds(car, lay, p, "parallel_park")) / 2)
        elif name == "par_front_swing":
            # driving out: the body's closest pass to the bay's front end line (parked further forward)
            lines = [LineString(_design_lines(lay, "parallel_park", "bay_line")[0].coords[2:4])]

            def front(gap: float, lines: list[LineString] = lines, p: Profile = p) -> float:
                m = Clearance(car, lines, "body")
                _dry_item(car, lay, replace(p, par_rear_gap=gap), "parallel_park", [m])
                return m.min

            p = replace(p, par_rear_gap=_linear(front, 0.5, 0.1, value))
        else:
            raise ValueError(f"unknown calibration target {name}")
    return replace(p, targets=())


# ---------------------------------------------------------------- the drivers and what each should get
@dataclass(frozen=True)
class Expect:
    """What the judge should say of a profile's exam: the rules broken, in order, and how the test ends."""

    deductions: tuple[str, ...] = ()
    ended_by: str = "completed"
    passed: bool | None = True


def _fail(*rules: str) -> Expect:
    return Expect(rules, "disqualified", False)


def _minus(*rules: str) -> Expect:
    return Expect(rules, "completed", True)


PROFILES: dict[str, tuple[Profile, Expect]] = {
    p.name: (p, e)
    for p, e in [
        (Profile(), Expect()),
        # general
        (Profile("belt-never", belt="never"), _fail("seat-belt")),
        (Profile("belt-off-mid-test", belt_off_in="parallel_park"), _fail("seat-belt")),
        (Profile("belt-off-on-before-moving", belt="off_on"), Expect()),
        (Profile("engine-start-in-gear", engine_start="in_gear"), _fail("engine-start-in-gear")),
        (Profile("stall", stall_in="hill_stop_and_start"), _minus("stall")),
        (Profile("rpm-dip", rpm_dip_in="hill_stop_and_start"), Expect()),
        (Profile("route-skip-bay", skip="reverse_into_bay"), _fail("route-order")),
        (Profile("detour-before-items", detour=True), Expect()),
        (Profile("rtk-lost-5s", rtk_loss=("s_curve", 5.0)), Expect((), "invalid", None)),
        (Profile("rtk-lost-2s", rtk_loss=("s_curve", 2.0)), Expect()),
        # 倒车入库
        (Profile("bay-control-short", bay_control=-0.03), _fail("bay-control-line")),
        (Profile("bay-control-just-past", bay_control=0.03), Expect()),
        (Profile("bay-not-entered", bay_front_gap=-0.03), _fail("bay-not-entered")),
        (Profile("bay-just-entered", bay_front_gap=0.03), Expect()),
        (Profile("bay-over-back-line", bay_rear_gap=-0.03), _fail("bay-body-over-line")),
        (Profile("bay-near-back-line", bay_rear_gap=0.03), Expect()),
        (Profile("bay-same-end-twice", bay_second_end="east"), _fail("bay-route")),
        (Profile("bay-stop-3s", bay_mid_stop=3.0), _minus("bay-stop-over-2s")),
        (Profile("bay-stop-1.5s", bay_mid_stop=1.5), Expect()),
        (Profile("bay-long-gear-change", bay_gear_wait=6.0), Expect()),
        (Profile("bay-215s", targets=(("bay_seconds", 215.0),)), _fail("bay-time-limit")),
        (Profile("bay-200s", targets=(("bay_seconds", 200.0),)), Expect()),
        # 坡道定点停车和起步
        (Profile("hill-bumper-55cm-short", hill_bumper=-0.55), _fail("hill-bumper-over-50cm")),
        (Profile("hill-bumper-45cm-short", hill_bumper=-0.45), _minus("hill-bumper-off-line")),
        (Profile("hill-bumper-15cm-past", hill_bumper=0.15), _minus("hill-bumper-off-line")),
        (Profile("hill-bumper-5cm-past", hill_bumper=0.05), Expect()),
        (Profile("hill-no-stop", hill_stop=False), _fail("hill-bumper-over-50cm")),
        (Profile("hill-edge-55cm", hill_edge_gap=0.55), _fail("hill-body-over-50cm-from-edge")),
        (Profile("hill-edge-45cm", hill_edge_gap=0.45), _minus("hill-body-30-50cm-from-edge")),
        (Profile("hill-edge-35cm", hill_edge_gap=0.35), _minus("hill-body-30-50cm-from-edge")),
        (Profile("hill-edge-25cm", hill_edge_gap=0.25), Expect()),
        (Profile("hill-start-32s", hill_start_after=32.0), _fail("hill-start-over-30s")),
        (Profile("hill-start-27s", hill_start_after=27.0), Expect()),
        (Profile("hill-rollback-35cm", hill_rollback=0.35), _fail("hill-rollback-over-30cm")),
        (Profile("hill-rollback-25cm", hill_rollback=0.25), _minus("hill-rollback-10-30cm")),
        (Profile("hill-rollback-15cm", hill_rollback=0.15), _minus("hill-rollback-10-30cm")),
        (Profile("hill-rollback-5cm", hill_rollback=0.05), Expect()),
        (Profile("hill-no-handbrake", hill_handbrake="never"), _minus("hill-handbrake-not-set")),
        (Profile("hill-handbrake-late", hill_handbrake="late", hill_start_after=12.0), Expect()),
        (
            Profile("hill-wheel-over-edge", hill_edge_gap=-0.0575),
            _fail("hill-wheel-on-edge-line"),
        ),  # the wheel 3 cm over
        (Profile("hill-wheel-near-edge", hill_edge_gap=0.0025), Expect()),  # the wheel 3 cm inside
        # 侧方停车
        (Profile("par-body-out", par_mouth_gap=-0.03), _fail("parallel-body-out-after-parking")),
        (Profile("par-body-just-in", par_mouth_gap=0.03), Expect()),
        # parked 1.1 m from the back line: driving out, the body sweeps over the top 33 cm of the bay's front line for 0.9 s
        (Profile("par-swing-over-bay-line", par_rear_gap=1.1), _minus("parallel-body-on-bay-line")),
        (Profile("par-swing-near-bay-line", targets=(("par_front_swing", 0.03),)), Expect()),
        (Profile("par-wheel-over-lane-line", par_wheel_gap=-0.03), _minus("parallel-wheel-on-lane-line")),
        (Profile("par-wheel-near-lane-line", par_wheel_gap=0.03), Expect()),
        (Profile("par-no-signal", par_signal="none"), _minus("parallel-turn-signal")),
        (Profile("par-wrong-signal", par_signal="right"), _minus("parallel-turn-signal")),
        (Profile("par-stop-3s", par_mid_stop=3.0), _minus("parallel-stop-over-2s")),
        (Profile("par-stop-1.5s", par_mid_stop=1.5), Expect()),
        (Profile("par-95s", targets=(("par_seconds", 95.0),)), _fail("parallel-time-limit")),
        (Profile("par-85s", targets=(("par_seconds", 85.0),)), Expect()),
        # 曲线行驶
        (Profile("s-wheel-over-edge", targets=(("s_wheel", -0.03),)), _fail("s-curve-wheel-on-edge-line")),
        (Profile("s-wheel-near-edge", targets=(("s_wheel", 0.03),)), Expect()),
        (Profile("s-stop-3s", s_stop=3.0), _fail("s-curve-stop")),
        (Profile("s-stop-1.5s", s_stop=1.5), Expect()),
        # 直角转弯
        (Profile("ra-wheel-over-edge", targets=(("ra_wheel", -0.03),)), _fail("right-angle-wheel-on-edge-line")),
        (Profile("ra-wheel-near-edge", targets=(("ra_wheel", 0.03),)), Expect()),
        (Profile("ra-no-signal", ra_signal="none"), _minus("right-angle-turn-signal")),
        (Profile("ra-wrong-signal", ra_signal="right"), _minus("right-angle-turn-signal")),
        (Profile("ra-signal-late", ra_signal="late", ra_signal_at_deg=22.0), _minus("right-angle-turn-signal")),
        (Profile("ra-signal-just-in-time", ra_signal="late", ra_signal_at_deg=8.0), Expect()),
        (Profile("ra-not-cancelled", ra_cancel=False), _minus("right-angle-signal-not-cancelled")),
        (Profile("ra-stop-3s", ra_stop=3.0), _minus("right-angle-stop-over-2s")),
        (Profile("ra-stop-1.5s", ra_stop=1.5), Expect()),
        # several small faults: under the pass mark at the third -10
        (
            Profile("sloppy", hill_bumper=0.15, hill_rollback=0.15, par_signal="none"),
            _fail("hill-bumper-off-line", "hill-rollback-10-30cm", "parallel-turn-signal"),
        ),
        # C2 (automatic): no hill item; it drives through the hill's area
        (Profile("c2-clean", car="c2-example", rules="c2-2022"), Expect()),
        (Profile("c2-s-stop-3s", car="c2-example", rules="c2-2022", s_stop=3.0), _fail("s-curve-stop")),
    ]
}

# For each rule of the C1 table: the profile that breaks it and the near miss that does not.
RULE_PROFILES: dict[str, tuple[str, str]] = {
    "seat-belt": ("belt-off-mid-test", "belt-off-on-before-moving"),
    "engine-start-in-gear": ("engine-start-in-gear", "stall"),  # the stall's restart is in neutral
    "stall": ("stall", "rpm-dip"),
    "route-order": ("route-skip-bay", "detour-before-items"),
    "bay-route": ("bay-same-end-twice", "clean"),
    "bay-control-line": ("bay-control-short", "bay-control-just-past"),
    "bay-not-entered": ("bay-not-entered", "bay-just-entered"),
    "bay-body-over-line": ("bay-over-back-line", "bay-near-back-line"),
    "bay-stop-over-2s": ("bay-stop-3s", "bay-long-gear-change"),
    "bay-time-limit": ("bay-215s", "bay-200s"),
    "hill-bumper-over-50cm": ("hill-bumper-55cm-short", "hill-bumper-45cm-short"),
    "hill-bumper-off-line": ("hill-bumper-15cm-past", "hill-bumper-5cm-past"),
    "hill-body-over-50cm-from-edge": ("hill-edge-55cm", "hill-edge-45cm"),
    "hill-body-30-50cm-from-edge": ("hill-edge-35cm", "hill-edge-25cm"),
    "hill-start-over-30s": ("hill-start-32s", "hill-start-27s"),
    "hill-rollback-over-30cm": ("hill-rollback-35cm", "hill-rollback-25cm"),
    "hill-rollback-10-30cm": ("hill-rollback-15cm", "hill-rollback-5cm"),
    "hill-handbrake-not-set": ("hill-no-handbrake", "hill-handbrake-late"),
    "hill-wheel-on-edge-line": ("hill-wheel-over-edge", "hill-wheel-near-edge"),
    "parallel-body-out-after-parking": ("par-body-out", "par-body-just-in"),
    "parallel-time-limit": ("par-95s", "par-85s"),
    "parallel-wheel-on-lane-line": ("par-wheel-over-lane-line", "par-wheel-near-lane-line"),
    "parallel-body-on-bay-line": ("par-swing-over-bay-line", "par-swing-near-bay-line"),
    "parallel-turn-signal": ("par-wrong-signal", "clean"),
    "parallel-stop-over-2s": ("par-stop-3s", "par-stop-1.5s"),
    "s-curve-wheel-on-edge-line": ("s-wheel-over-edge", "s-wheel-near-edge"),
    "s-curve-stop": ("s-stop-3s", "s-stop-1.5s"),
    "right-angle-wheel-on-edge-line": ("ra-wheel-over-edge", "ra-wheel-near-edge"),
    "right-angle-turn-signal": ("ra-signal-late", "ra-signal-just-in-time"),
    "right-angle-signal-not-cancelled": ("ra-not-cancelled", "clean"),
    "right-angle-stop-over-2s": ("ra-stop-3s", "ra-stop-1.5s"),
}
VALIDITY_PROFILES = (
    "rtk-lost-5s",
    "rtk-lost-2s",
)  # the RTK-fixed loss tolerance: invalid, and a near miss that is judged


# ---------------------------------------------------------------- NMEA 0183 for the real GNSS reader
_GGA_QUALITY = {
    FixQuality.INVALID: 0,
    FixQuality.GPS: 1,
    FixQuality.DGPS: 2,
    FixQuality.RTK_FIXED: 4,
    FixQuality.RTK_FLOAT: 5,
    FixQuality.DEAD_RECKONING: 6,
}
_RMC_MODE = {
    FixQuality.INVALID: "N",
    FixQuality.GPS: "A",
    FixQuality.DGPS: "D",
    FixQuality.RTK_FIXED: "R",
    FixQuality.RTK_FLOAT: "F",
    FixQuality.DEAD_RECKONING: "E",
}


def _sentence(body: str) -> bytes:
    check = 0
    for ch in body.encode("ascii"):
        check ^= ch
    return f"${body}*{check:02X}\r\n".encode("ascii")


def _nmea_angle(value: float, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    hemi = hemispheres[0] if value >= 0 else hemispheres[1]
    value = abs(value)
    deg = int(value)
    minutes = (value - deg) * 60.0
    if round(minutes, 8) >= 60.0:
        deg, minutes = deg + 1, 0.0
    return f"{deg:0{degree_digits}d}{minutes:011.8f}", hemi


def nmea_sentences(epoch: Epoch) -> list[bytes]:
    """The sentences an RTK dual-antenna receiver sends for one epoch: GGA, RMC and (with a heading) HDT, checksummed, CRLF-ended."""
    when = dt.datetime.fromisoformat(epoch.time)
    hms = when.strftime("%H%M%S") + f".{when.microsecond // 10000:02d}"
    lat, ns = _nmea_angle(epoch.lat or 0.0, 2, "NS") if epoch.lat is not None else ("", "")
    lon, ew = _nmea_angle(epoch.lon or 0.0, 3, "EW") if epoch.lon is not None else ("", "")
    q = _GGA_QUALITY[epoch.quality]
    rtk = epoch.quality in (FixQuality.RTK_FIXED, FixQuality.RTK_FLOAT)
    alt = f"{epoch.alt:.3f}" if epoch.alt is not None else ""
    gga = (
        f"GNGGA,{hms},{lat},{ns},{lon},{ew},{q},{epoch.sats or 0:02d},{epoch.hdop or 0:.1f},{alt},M,0.000,M,"
        f"{'1.0' if rtk else ''},{'0001' if rtk else ''}"
    )
    valid = "A" if epoch.quality is not FixQuality.INVALID else "V"
    knots = f"{(epoch.speed_mps or 0.0) / 0.514444:.3f}"
    cog = f"{epoch.course_deg:.2f}" if epoch.course_deg is not None else ""
    rmc = f"GNRMC,{hms},{valid},{lat},{ns},{lon},{ew},{knots},{cog},{when.strftime('%d%m%y')},,,{_RMC_MODE[epoch.quality]},V"
    out = [_sentence(gga), _sentence(rmc)]
    if epoch.heading_deg is not None:
        out.append(_sentence(f"GNHDT,{epoch.heading_deg:.3f},T"))
    return out


# ---------------------------------------------------------------- command line
def write_track(path: Path, header: TrackHeader, inputs: list[Input]) -> None:
    """The track file (`exam_vehicle.track` format; gzip when the name ends in .gz)."""
    import gzip

    text = "\n".join(iter_lines(header, inputs)) + "\n"
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m site_sim.exam_car", description="simulate an exam car on the example course"
    )
    ap.add_argument("--profile", default="clean", help="a driver profile (--list shows them)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--out", type=Path, help="write the track here (.jsonl or .jsonl.gz)")
    ap.add_argument("--nmea", type=Path, help="also write the epochs as NMEA sentences here")
    ap.add_argument("--list", action="store_true", help="list the profiles and what each should get")
    ns = ap.parse_args(argv)
    if ns.list:
        for name, (_, expect) in PROFILES.items():
            print(f"{name:28s} {', '.join(expect.deductions) or '-':60s} {expect.ended_by}")
        return 0
    if ns.profile not in PROFILES:
        ap.error(f"unknown profile {ns.profile!r}")
    profile = PROFILES[ns.profile][0]
    if ns.seed is not None:
        profile = replace(profile, seed=ns.seed)
    header, inputs, _ = drive_exam(profile)
    if ns.out:
        write_track(ns.out, header, inputs)
    if ns.nmea:
        ns.nmea.write_bytes(b"".join(s for i in inputs if isinstance(i, Epoch) for s in nmea_sentences(i)))
    epochs = sum(isinstance(i, Epoch) for i in inputs)
    print(
        f"{profile.name}: {len(inputs)} inputs ({epochs} epochs), {inputs[-1].t - inputs[0].t:.0f} s; expected: "
        f"{', '.join(PROFILES[ns.profile][1].deductions) or 'no deductions'}, {PROFILES[ns.profile][1].ended_by}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
