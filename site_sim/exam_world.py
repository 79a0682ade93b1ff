"""One simulated test car in a world that runs `speed` times faster than real time.

The car stands at the start with its RTK receiver sending NMEA (10 Hz of world
time) over TCP and its switches read by the real vehicle-board firmware. When
the examiner says go, the candidate drives their profile (`site_sim.exam_car`)
and the car's outputs are played on the world's clock; when the examiner says
stop (the result is in) the candidate stops, switches off, and the car is taken
back to the start (not simulated: it stands where it stopped for a while, then
stands at the start).

The world's clock is the receiver's GNSS clock: it starts at the real time and
runs `speed` times faster, so a unit judging on GNSS time judges the world as it
is. The vehicle board is hardware with real-time constants (20 ms debounce, a
turn signal off after 1.5 s dark, a 0.5 s tach window), so for `REAL_TIME_AFTER_S`
of world time after a change it needs real time to sense (the engine starting or
stopping, a turn signal switched off) this car's world runs at real speed, and for
`SWITCH_REAL_S` after any other switch (so the board's and the link's real latency
is not magnified into world time). Each car's world has its own clock for that
reason.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exam_vehicle.gnss import Epoch
from exam_vehicle.signals import Signal, SignalChange
from exam_vehicle.time_base import fix_time
from exam_vehicle.track import Input
from firmware.sim.server import SimBoardServer
from site_sim.exam_car import POWER_UP, T0, Profile, drive_exam, nmea_sentences
from site_sim.exam_drive import CarSignals, NmeaServer

REAL_TIME_AFTER_S = 2.0
"""World seconds after a change the board needs real time to sense: TURN_OFF_MS 1.5 s plus margin, the tach window."""
SWITCH_REAL_S = 0.6
"""World seconds at real speed after any other switch change: the board's debounce and the lane bus (tens of ms,
more on a busy machine) are not magnified into the world's time, so the judge sees the change where the car was."""
BACK_AT_START_S = 20.0
"""World seconds from the end of an exam until the car stands at the start again."""
EPOCH_S = 0.1
MAX_LATE_S = 0.02
"""The world never catches up more than this: when the machine kept it from playing an input on time, the rest of
the drive moves later (the world's time stretches, as in a real-time stretch) instead of coming in a burst that would
outrun the board's real latency."""


def real_time_after(inp: Input) -> float:
    """World seconds the world runs at real speed after `inp`: long after a change the vehicle board takes real time
    to sense (the engine starting or stopping, a turn signal switched off), short after another switch, none after
    an epoch or an engine speed (the judge reads the speed only as running or not)."""
    if not isinstance(inp, SignalChange) or inp.signal is Signal.ENGINE_RPM:
        return 0.0
    if inp.signal is Signal.ENGINE_RUNNING or (inp.signal in (Signal.TURN_LEFT, Signal.TURN_RIGHT) and not inp.value):
        return REAL_TIME_AFTER_S
    return SWITCH_REAL_S


def real_offsets(inputs: list[Input], speed: float) -> list[float]:
    """Real seconds after the first input at which each input happens: world time / speed, but real time
    (rate 1) for `real_time_after` each change."""
    if not inputs:
        return []
    out, real, rate_end, prev = [], 0.0, float("-inf"), inputs[0].t
    for inp in inputs:
        w = prev
        while w < inp.t:  # piecewise: real-time stretch, then sped-up
            if w < rate_end:
                nxt = min(inp.t, rate_end)
                real += nxt - w
            else:
                nxt = inp.t
                real += (nxt - w) / speed
            w = nxt
        prev = inp.t
        out.append(real)
        rate_end = max(rate_end, inp.t + real_time_after(inp))
    return out


def _fix(epoch: Epoch) -> float:
    fix = fix_time(epoch)
    assert fix is not None, "the simulated receiver always knows the date"
    return fix


def _moved(epoch: Epoch, offset: float) -> Epoch:
    """The epoch `offset` seconds later on the world's clock (its fix time and its stamp)."""
    fix = _fix(epoch)
    when = dt.datetime.fromtimestamp(fix + offset, dt.UTC).isoformat(timespec="milliseconds")
    return epoch.model_copy(update={"t": epoch.t + offset, "time": when.replace("+00:00", "Z")})


@dataclass
class Drive:
    """A candidate's drive under way: the inputs on the world's clock and when each is due in real time."""

    inputs: list[Input]
    due: list[float]
    played: int = 0
    stretched: float = 0.0  # real seconds the world's time was stretched by a busy machine

    def next_due(self) -> float:
        return self.due[self.played] + self.stretched


class SimCar:
    """The car, its receiver and its board, on one world clock; `go(profile)` and `stop()` are the examiner's words.

    The board is `board`: (its serial URL, its world control), e.g. a `passlane sim vehicle-board` process and a
    `SimControl` on its control port; by default the firmware runs in this process (`SimBoardServer`).
    """

    def __init__(
        self,
        name: str,
        speed: float,
        profiles: Callable[[Profile], list[Input]] | None = None,
        board: tuple[str, Any] | None = None,
    ) -> None:
        self.name, self.speed = name, speed
        self.nmea = NmeaServer()
        self._own_board: SimBoardServer | None = None
        if board is None:
            self._own_board = SimBoardServer("vehicle-board").start()
            board = (self._own_board.url, self._own_board.control())
        self.board_url, control = board
        self.signals = CarSignals(control)
        self.profiles = profiles or (lambda p: drive_exam(p)[1])
        start = self.profiles(Profile())
        self._standing_at_start = next(i for i in start if isinstance(i, Epoch))
        self._standing = self._standing_at_start
        self._back_at: float | None = None
        self._real0, self._world0 = time.monotonic(), time.time()  # the world's clock starts at the real time
        self._next_fix = (int(self._world0 * 10) + 1) / 10
        self._drive: Drive | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.drives = 0
        self.epochs = 0
        self._thread = threading.Thread(target=self._run, name=f"world-{name}", daemon=True)
        for sig, value in POWER_UP.items():
            self.signals.apply(SignalChange(t=0.0, signal=sig, value=value))
        self._thread.start()

    # ---------------------------------------------------------------- the world's clock
    def world_now(self) -> float:
        with self._lock:
            return self._world0 + (time.monotonic() - self._real0) * self.speed

    def _real_of(self, world_t: float) -> float:
        return self._real0 + (world_t - self._world0) / self.speed

    # ---------------------------------------------------------------- the examiner's words
    @property
    def driving(self) -> bool:
        return self._drive is not None

    @property
    def ready(self) -> bool:
        """Standing at the start, switched off, nobody driving."""
        return self._drive is None and self._back_at is None

    def go(self, profile: Profile) -> None:
        """The candidate drives `profile` from now."""
        inputs = self.profiles(profile)
        with self._lock:
            offset = self._next_fix - T0  # the profile's first fix is the world's next one
            moved = [
                _moved(i, offset) if isinstance(i, Epoch) else i.model_copy(update={"t": i.t + offset}) for i in inputs
            ]
            start_real = self._real0 + (self._next_fix - self._world0) / self.speed
            self._drive = Drive(moved, [start_real + r for r in real_offsets(moved, self.speed)])
            self.drives += 1

    def stop(self) -> None:
        """Stop the car and switch off (the exam is over); it is back at the start a while later."""
        with self._lock:
            self._end_drive()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.nmea.close()
        if self._own_board is not None:
            self._own_board.stop()

    # ---------------------------------------------------------------- the world
    def _end_drive(self) -> None:
        d = self._drive
        if d is None:
            return
        self._drive = None
        now_real = time.monotonic()
        world = d.inputs[min(d.played, len(d.inputs) - 1)].t if d.played else self._next_fix
        self._real0, self._world0 = now_real, max(world, self._next_fix - EPOCH_S)  # sped up again from here
        for sig, value in POWER_UP.items():
            self.signals.apply(SignalChange(t=0.0, signal=sig, value=value))
        self._back_at = self._world0 + BACK_AT_START_S

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = self._step()
            if wait > 0:
                self._stop.wait(wait)

    def _step(self) -> float:
        """Play what is due; the real seconds until something is due next."""
        return self._play_drive(self._drive) if self._drive is not None else self._play_standing()

    def _play_drive(self, d: Drive) -> float:
        now = time.monotonic()
        if now - d.next_due() > MAX_LATE_S:
            d.stretched += now - d.next_due()
        while d.played < len(d.inputs) and d.next_due() <= now:
            inp = d.inputs[d.played]
            if isinstance(inp, Epoch):
                self.nmea.send(b"".join(nmea_sentences(inp)))
                self._standing = inp.model_copy(update={"speed_mps": 0.0})
                self._next_fix = round(_fix(inp) + EPOCH_S, 3)
                self.epochs += 1
            else:
                self.signals.apply(inp)
            d.played += 1
        if d.played >= len(d.inputs):
            self._end_drive()
            return 0.0
        return min(0.05, d.next_due() - now)

    def _play_standing(self) -> float:
        now = time.monotonic()
        due = self._real_of(self._next_fix)
        if due > now:
            return min(0.05, due - now)
        if now - due > MAX_LATE_S:  # no burst of standing epochs either: the world's clock goes on from here
            self._real0, self._world0 = now, self._next_fix
        if self._back_at is not None and self._next_fix >= self._back_at:
            self._standing, self._back_at = self._standing_at_start, None
        epoch = _moved(self._standing, self._next_fix - _fix(self._standing))
        self.nmea.send(b"".join(nmea_sentences(epoch)))
        self.epochs += 1
        self._next_fix = round(self._next_fix + EPOCH_S, 3)
        return 0.0
