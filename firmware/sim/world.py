"""The simulated physical world of a lane: barrier arms with travel time,
limit switches, vehicles on loops and in photo-eye beams, the e-stop; the
plate issuer's mechanism (magazines, feeder, printer, ejector, cover); and
the exam vehicle's test car (switches, flashing turn lamps, engine tach).

Pure in time: every method takes the world time `t` (seconds, already
multiplied by the time scale).  Not thread-safe: the server holds a lock.
Everything that happens is appended to `log` as a dict with "t" and "event"
(arm motions, presence changes, plates), so a test can check afterwards that
no arm ever closed onto a vehicle.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable

from firmware import lanebus as lb
from firmware.io_board import BARRIER_SHIFT, IN_ESTOP, R_CLOSE, R_GREEN, R_OPEN, R_RED, R_STOP
from firmware.plate_issuer import S_MAGAZINE_EMPTY, S_PRINTER_BUSY, S_PRINTER_ERROR
from firmware.vehicle_board import PULSE_COUNT_MASK

ARM_TRAVEL_S = 2.0  # class O (ordinary): 1.4-4 s for 0-90 degrees
VEHICLE_TO_BEAM_S = 0.6  # from starting to move until its nose breaks the beam
VEHICLE_OFF_LOOP_S = 1.6  # until its tail leaves the loop under the arm
VEHICLE_CLEAR_BEAM_S = 2.2  # until its tail clears the beam
VEHICLE_BACK_OFF_S = 0.8
EDGE_PULSE_S = 0.3

TURN_FLASH_HZ = 1.5  # 90 flashes per minute (the legal range is 60-120)
TURN_LIT_FRACTION = 0.5  # the lamp is lit for half of each period
CAR_PULSES_PER_REV = 2.0  # four-cylinder four-stroke tach
CAR_SWITCHES = {
    "seat_belt": lb.SIG_SEAT_BELT,
    "door_open": lb.SIG_DOOR_OPEN,
    "handbrake": lb.SIG_HANDBRAKE,
    "clutch": lb.SIG_CLUTCH,
    "brake": lb.SIG_BRAKE,
    "ignition": lb.SIG_IGNITION,
}
GEARS = ("P", "R", "N", "D", "1", "2", "3", "4", "5", "6")
TURN_SIDES = ("off", "left", "right", "hazard")

FEED_S = 0.8
PRINT_S = 1.5
EJECT_TO_BEAM_S = 0.3
EXIT_BEAM_S = 0.2


class _Timeline:
    def __init__(self) -> None:
        self._q: list[tuple[float, int, Callable[[float], None], str]] = []
        self._n = itertools.count()

    def at(self, t: float, fn: Callable[[float], None], tag: str = "") -> None:
        heapq.heappush(self._q, (t, next(self._n), fn, tag))

    def cancel(self, tag: str) -> None:
        self._q = [e for e in self._q if e[3] != tag]
        heapq.heapify(self._q)

    def due(self, t: float) -> list[tuple[float, Callable[[float], None]]]:
        out = []
        while self._q and self._q[0][0] <= t:
            when, _, fn, _ = heapq.heappop(self._q)
            out.append((when, fn))
        return out


class _Log:
    def __init__(self, sink: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.sink = sink

    def __call__(self, t: float, event: str, **kw: Any) -> None:
        e = {"t": round(t, 3), "event": event, **kw}
        self.entries.append(e)
        if self.sink:
            self.sink(e)


class Barrier:
    """One barrier gate with its barrier controller, loop, photo-eye and edge."""

    def __init__(
        self,
        name: str,
        log: _Log,
        timeline: _Timeline,
        travel_s: float,
        reaction_s: float = 0.1,
        min_pulse_s: float = 0.0,
    ) -> None:
        self.min_pulse_s = min_pulse_s
        self.name = name
        self.reaction_s = reaction_s
        self.log = log
        self.tl = timeline
        self.travel_s = travel_s
        self.pos = 0.0  # 0 = closed (horizontal), 1 = open (vertical)
        self.direction = 0  # +1 raising, -1 lowering
        self.loop = False
        self.beam_blockers = 0  # vehicles and pedestrians in the beam
        self.edge = False
        self.vehicle = "none"  # none, waiting, wants_to_pass, passing, leaving
        self.vehicles_passed = 0
        self.contacts = 0
        self.light = "off"
        self._presence_t: float | None = None
        self._struck = False

    @property
    def beam(self) -> bool:
        return self.beam_blockers > 0

    def presence(self) -> bool:
        return self.loop or self.beam or self.edge

    def inputs(self) -> int:
        w = 0
        if self.loop:
            w |= lb.IN_LOOP
        if self.beam:
            w |= lb.IN_BEAM
        if self.edge:
            w |= lb.IN_EDGE
        if self.pos >= 1.0:
            w |= lb.IN_LIMIT_OPEN
        if self.pos <= 0.0:
            w |= lb.IN_LIMIT_CLOSED
        return w

    def arm_state(self) -> str:
        if self.direction > 0:
            return "opening"
        if self.direction < 0:
            return "closing"
        if self.pos >= 1.0:
            return "open"
        if self.pos <= 0.0:
            return "closed"
        return "stopped"

    # ---------------------------------------------------------------- motion
    def move(self, t0: float, t1: float) -> None:
        if self.direction == 0 or t1 <= t0:
            return
        self.pos += self.direction * (t1 - t0) / self.travel_s
        if self.pos >= 1.0:
            self.pos = 1.0
            self.direction = 0
            self.log(t1, "arm_open", barrier=self.name)
        elif self.pos <= 0.0:
            self.pos = 0.0
            self.direction = 0
            self.log(t1, "arm_closed", barrier=self.name)
        if self.direction < 0 and self.presence():
            # the board has a reaction window (debounce + one loop, 100 ms of
            # real time); past it an arm still going down is a safety failure
            if self._presence_t is not None and t1 - self._presence_t > self.reaction_s and not self._struck:
                self._struck = True
                self.log(t1, "arm_struck_presence", barrier=self.name, pos=round(self.pos, 3))

    def set_contacts(self, t: float, contacts: int) -> None:
        """The barrier controller's reaction to the relay contacts (latched
        like a pulse-driven controller: it completes a travel on its own)."""
        old, self.contacts = self.contacts, contacts
        light = "red" if contacts & R_RED else "green" if contacts & R_GREEN else "off"
        if light != self.light:
            self.light = light
            self.log(t, "light", barrier=self.name, light=light)
        new_dir = self.direction
        if contacts & R_STOP:
            new_dir = 0
        elif contacts & R_OPEN and not old & R_OPEN:
            new_dir = 1 if self.pos < 1.0 else 0
        elif contacts & R_CLOSE and not old & R_CLOSE:
            new_dir = -1 if self.pos > 0.0 else 0
        if new_dir != self.direction:
            if new_dir < 0:
                self.log(
                    t,
                    "arm_closing",
                    barrier=self.name,
                    pos=round(self.pos, 3),
                    presence=self.presence(),
                    loop=self.loop,
                    beam=self.beam,
                    edge=self.edge,
                )
            elif new_dir > 0:
                self.log(t, "arm_opening", barrier=self.name, pos=round(self.pos, 3), reversed=self.direction < 0)
            else:
                self.log(t, "arm_stopped", barrier=self.name, pos=round(self.pos, 3))
            self.direction = new_dir

    # ---------------------------------------------------------------- vehicles
    def _presence_changed(self, t: float, before: bool) -> None:
        now = self.presence()
        if now and not before:
            self._presence_t = t
            self._struck = False
        elif not now:
            self._presence_t = None

    def _set_loop(self, t: float, v: bool) -> None:
        if v != self.loop:
            before = self.presence()
            self.loop = v
            self._presence_changed(t, before)
            self.log(t, "loop", barrier=self.name, occupied=v)

    def _beam(self, t: float, delta: int) -> None:
        before = self.beam
        before_any = self.presence()
        self.beam_blockers += delta
        self._presence_changed(t, before_any)
        if self.beam != before:
            self.log(t, "beam", barrier=self.name, blocked=self.beam)

    def arrive(self, t: float) -> None:
        if self.vehicle != "none":
            raise ValueError(f"{self.name}: a vehicle is already there ({self.vehicle})")
        self.vehicle = "waiting"
        self.log(t, "vehicle_arrived", barrier=self.name)
        self._set_loop(t, True)

    def want_pass(self, t: float) -> None:
        if self.vehicle == "none":
            self.arrive(t)
        if self.vehicle != "waiting":
            raise ValueError(f"{self.name}: vehicle is {self.vehicle}")
        self.vehicle = "wants_to_pass"
        self.check_go(t)

    def check_go(self, t: float) -> None:
        if self.vehicle == "wants_to_pass" and self.pos >= 1.0:
            self.vehicle = "passing"
            self.log(t, "vehicle_moving", barrier=self.name)
            # A sped-up world slows the car down, never below what the real-time
            # firmware can see: its shortest pulse (loop and beam both occupied,
            # 1.0 s at walking pace) lasts at least min_pulse_s.
            k = max(1.0, self.min_pulse_s / (VEHICLE_OFF_LOOP_S - VEHICLE_TO_BEAM_S))
            self.tl.at(t + VEHICLE_TO_BEAM_S * k, lambda tt: self._beam(tt, +1))
            self.tl.at(t + VEHICLE_OFF_LOOP_S * k, lambda tt: self._set_loop(tt, False))
            self.tl.at(t + VEHICLE_CLEAR_BEAM_S * k, self._passed)

    def _passed(self, t: float) -> None:
        self._beam(t, -1)
        self.vehicle = "none"
        self.vehicles_passed += 1
        self.log(t, "vehicle_passed", barrier=self.name)

    def leave(self, t: float) -> None:
        if self.vehicle not in ("waiting", "wants_to_pass"):
            raise ValueError(f"{self.name}: no vehicle waiting")
        self.vehicle = "leaving"
        self.log(t, "vehicle_backing_off", barrier=self.name)

        def gone(tt: float) -> None:
            self._set_loop(tt, False)
            self.vehicle = "none"
            self.log(tt, "vehicle_left", barrier=self.name)

        self.tl.at(t + VEHICLE_BACK_OFF_S, gone)

    def block_beam(self, t: float, seconds: float) -> None:
        self.log(t, "pedestrian", barrier=self.name, seconds=seconds)
        self._beam(t, +1)
        self.tl.at(t + seconds, lambda tt: self._beam(tt, -1))

    def press_edge(self, t: float) -> None:
        before = self.presence()
        self.edge = True
        self._presence_changed(t, before)
        self.log(t, "edge", barrier=self.name, pressed=True)

        def release(tt: float) -> None:
            before_r = self.presence()
            self.edge = False
            self._presence_changed(tt, before_r)
            self.log(tt, "edge", barrier=self.name, pressed=False)

        self.tl.at(t + max(EDGE_PULSE_S, self.min_pulse_s), release)

    def state(self) -> dict[str, Any]:
        return {
            "arm": self.arm_state(),
            "pos": round(self.pos, 3),
            "loop": self.loop,
            "beam": self.beam,
            "edge": self.edge,
            "vehicle": self.vehicle,
            "vehicles_passed": self.vehicles_passed,
            "light": self.light,
        }


class IoWorld:
    """Two barriers and an emergency stop."""

    def __init__(
        self,
        log_sink: Callable[[dict[str, Any]], None] | None = None,
        travel_s: float = ARM_TRAVEL_S,
        reaction_s: float = 0.1,
        min_pulse_s: float = 0.0,
    ) -> None:
        """reaction_s: world time the board may take to react to presence (the
        simulator passes 0.1 s x time scale, as the firmware's clock is not scaled)."""
        self.log = _Log(log_sink)
        self.tl = _Timeline()
        self.t = 0.0
        self.barriers = {
            name: Barrier(name, self.log, self.tl, travel_s, reaction_s, min_pulse_s) for name in lb.BARRIERS
        }
        self.estop = False

    def advance(self, t: float) -> None:
        while True:
            due = self.tl.due(t)
            if not due:
                break
            for when, fn in due:
                self._move_to(max(when, self.t))
                fn(self.t)
        self._move_to(t)

    def _move_to(self, t: float) -> None:
        if t <= self.t:
            return
        for b in self.barriers.values():
            b.move(self.t, t)
        self.t = t
        for b in self.barriers.values():
            b.check_go(t)

    def input_word(self) -> int:
        w = self.barriers["entry"].inputs() | (self.barriers["exit"].inputs() << BARRIER_SHIFT)
        if self.estop:
            w |= IN_ESTOP
        return w

    def set_relays(self, word: int) -> None:
        self.barriers["entry"].set_contacts(self.t, word & 0xFF)
        self.barriers["exit"].set_contacts(self.t, (word >> BARRIER_SHIFT) & 0xFF)

    def set_estop(self, pressed: bool) -> None:
        if pressed != self.estop:
            self.estop = pressed
            self.log(self.t, "estop", pressed=pressed)

    def state(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "estop": self.estop,
            "barriers": {n: b.state() for n, b in self.barriers.items()},
        }


class IssuerWorld:
    """The plate issuer's mechanism and its sensors."""

    def __init__(
        self, log_sink: Callable[[dict[str, Any]], None] | None = None, magazine: int = 50, min_pulse_s: float = 0.0
    ) -> None:
        """min_pulse_s: shortest sensor pulse in world time, so that a sped-up
        world never makes a pulse shorter than the firmware loop can see."""
        self.min_pulse_s = min_pulse_s
        self.log = _Log(log_sink)
        self.tl = _Timeline()
        self.t = 0.0
        self.magazines = dict.fromkeys(lb.PLATE_TYPES, magazine)
        self.cover_open = False
        self.jam = False  # injected: the plate in the feeder/ejector sticks
        self.print_failure = False  # injected: the next print ends in error
        self.plate_at_printer = False
        self.printer_busy = False
        self.printer_error = False
        self.exit_beam = False
        self.tray: list[str] = []
        self.issued: list[dict[str, Any]] = []
        self.text = ""
        self.plate_type = ""

    def advance(self, t: float) -> None:
        while True:
            due = self.tl.due(t)
            if not due:
                break
            for when, fn in due:
                self.t = max(when, self.t)
                fn(self.t)
        self.t = max(self.t, t)

    def sensors(self) -> int:
        w = 0
        if self.cover_open:
            w |= lb.S_COVER_OPEN
        if self.tray:
            w |= lb.S_TRAY_OCCUPIED
        if self.plate_at_printer:
            w |= lb.S_PLATE_AT_PRINTER
        if self.exit_beam:
            w |= lb.S_EXIT_BEAM
        if self.printer_busy:
            w |= S_PRINTER_BUSY
        if self.printer_error:
            w |= S_PRINTER_ERROR
        for i, p in enumerate(lb.PLATE_TYPES):
            if self.magazines[p] <= 0:
                w |= S_MAGAZINE_EMPTY[i]
        return w

    # ---------------------------------------------------------------- mechanism (HAL calls)
    def start_feed(self, plate_type: int) -> None:
        p = lb.PLATE_TYPES[plate_type]
        self.plate_type = p
        self.log(self.t, "feed_started", plate_type=p)
        if self.magazines[p] <= 0:
            return
        self.magazines[p] -= 1

        def arrived(t: float) -> None:
            if self.jam:
                self.log(t, "plate_jammed", where="feeder")
                return
            self.plate_at_printer = True
            self.log(t, "plate_at_printer")

        self.tl.at(self.t + FEED_S, arrived, "mech")

    def start_print(self, text: bytes) -> None:
        self.text = bytes(text).decode("utf-8", "replace")
        self.printer_busy = True
        self.log(self.t, "print_started", text=self.text)

        def done(t: float) -> None:
            self.printer_busy = False
            self.log(t, "print_done")
            if self.print_failure:
                self.print_failure = False
                self.printer_error = True
                self.log(t, "print_failed", text=self.text)

        # the busy signal must last long enough for the real-time firmware to see it
        self.tl.at(self.t + max(PRINT_S, self.min_pulse_s), done, "mech")

    def start_eject(self) -> None:
        self.log(self.t, "eject_started")

        def beam_on(t: float) -> None:
            if self.jam:
                self.log(t, "plate_jammed", where="ejector")
                return
            self.plate_at_printer = False
            self.exit_beam = True

            def beam_off(tt: float) -> None:
                self.exit_beam = False
                self.tray.append(self.text)
                self.issued.append({"t": round(tt, 3), "text": self.text, "plate_type": self.plate_type})
                self.log(tt, "plate_issued", text=self.text, plate_type=self.plate_type)

            self.tl.at(t + max(EXIT_BEAM_S, self.min_pulse_s), beam_off, "mech")

        self.tl.at(self.t + EJECT_TO_BEAM_S, beam_on, "mech")

    def stop_mechanism(self) -> None:
        self.tl.cancel("mech")
        self.printer_busy = False
        self.log(self.t, "mechanism_stopped")

    # ---------------------------------------------------------------- operator / faults
    def inject_fault(self, kind: str, plate_type: str | None = None) -> None:
        if kind == "jam":
            self.jam = True
        elif kind == "magazine_empty":
            for p in [plate_type] if plate_type else lb.PLATE_TYPES:
                self.magazines[p] = 0
        elif kind == "cover_open":
            self.cover_open = True
        elif kind == "print_failure":
            self.print_failure = True
        else:
            raise ValueError(f"unknown fault {kind!r}; one of jam, magazine_empty, cover_open, print_failure")
        self.log(self.t, "fault_injected", kind=kind)

    def clear_fault(self) -> None:
        """The operator opens the cover, removes a stuck or spoiled blank, closes it."""
        if self.plate_at_printer or self.jam or self.printer_error:
            self.log(self.t, "blank_removed")
        self.jam = False
        self.print_failure = False
        self.printer_error = False
        self.plate_at_printer = False
        self.exit_beam = False
        self.cover_open = False
        self.log(self.t, "operator_cleared")

    def refill(self, plate_type: str, n: int) -> None:
        self.magazines[plate_type] += n
        self.log(self.t, "refilled", plate_type=plate_type, n=n)

    def take_plates(self) -> list[str]:
        taken, self.tray = self.tray, []
        if taken:
            self.log(self.t, "tray_emptied", plates=taken)
        return taken

    def state(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "magazines": dict(self.magazines),
            "cover_open": self.cover_open,
            "jam": self.jam,
            "tray": list(self.tray),
            "issued": list(self.issued),
            "plate_at_printer": self.plate_at_printer,
            "printer_busy": self.printer_busy,
        }


class CarWorld:
    """The test car as the vehicle board sees it: switches, a gear lever with
    neutral and reverse switches, a turn-signal stalk whose lamps really flash,
    ignition, and an engine whose tach makes pulses at its speed.

    Time here must be the firmware's own (the simulator does not speed the car
    up): the board times lamp phases and counts pulses against its real clock.
    A switch may bounce: for `bounce_ms` after a change its contact chatters
    (flipping every millisecond) before it settles.
    """

    def __init__(
        self, log_sink: Callable[[dict[str, Any]], None] | None = None, pulses_per_rev: float = CAR_PULSES_PER_REV
    ) -> None:
        self.log = _Log(log_sink)
        self.t = 0.0
        self.switches = dict.fromkeys(CAR_SWITCHES, False)
        self.switches["handbrake"] = True  # a parked car
        self.gear = "N"
        self.turn = "off"
        self.flash_hz = TURN_FLASH_HZ
        self.pulses_per_rev = pulses_per_rev
        self.rpm = 0.0
        self._turn_t0 = 0.0
        self._pulses = 0.0
        self._bounce: dict[str, tuple[float, float]] = {}  # switch -> (start, end) of its chatter

    def advance(self, t: float) -> None:
        if t > self.t:
            self._pulses += self.rpm / 60.0 * self.pulses_per_rev * (t - self.t)
            self.t = t

    # ---------------------------------------------------------------- what the board reads
    def lamp_lit(self, side: str) -> bool:
        if self.turn not in (side, "hazard"):
            return False
        return ((self.t - self._turn_t0) * self.flash_hz) % 1.0 < TURN_LIT_FRACTION

    def flashes(self) -> int:
        """Lit phases begun since the stalk was last moved (0 when it is off)."""
        if self.turn == "off":
            return 0
        return int((self.t - self._turn_t0) * self.flash_hz) + 1

    def _switch(self, name: str) -> bool:
        v = self.switches[name]
        start_end = self._bounce.get(name)
        if start_end is not None and start_end[0] <= self.t < start_end[1]:
            return v if int((self.t - start_end[0]) * 1000) % 2 else not v
        return v

    def input_word(self) -> int:
        w = 0
        for name, sig in CAR_SWITCHES.items():
            if self._switch(name):
                w |= 1 << sig
        if self.gear in ("N", "P"):
            w |= 1 << lb.SIG_GEAR_NEUTRAL
        if self.gear == "R":
            w |= 1 << lb.SIG_GEAR_REVERSE
        if self.lamp_lit("left"):
            w |= 1 << lb.SIG_TURN_LEFT
        if self.lamp_lit("right"):
            w |= 1 << lb.SIG_TURN_RIGHT
        return w

    def pulse_count(self) -> int:
        return int(self._pulses) & PULSE_COUNT_MASK

    # ---------------------------------------------------------------- the driver
    def set_switch(self, t: float, name: str, value: bool, bounce_ms: float = 0.0) -> None:
        if name not in CAR_SWITCHES:
            raise ValueError(f"unknown switch {name!r}; one of {sorted(CAR_SWITCHES)}")
        value = bool(value)
        if value == self.switches[name]:
            return
        self.switches[name] = value
        if bounce_ms > 0:
            self._bounce[name] = (t, t + bounce_ms / 1000.0)
        self.log(t, "switch", switch=name, on=value, bounce_ms=bounce_ms)
        if name == "ignition" and not value and self.rpm:
            self.set_engine(t, 0)

    def set_gear(self, t: float, gear: str) -> None:
        if gear not in GEARS:
            raise ValueError(f"unknown gear {gear!r}; one of {GEARS}")
        if gear != self.gear:
            self.gear = gear
            self.log(t, "gear", gear=gear)

    def set_turn(self, t: float, side: str, flash_hz: float = TURN_FLASH_HZ) -> None:
        """Move the stalk: the flasher starts with the lamp lit, and the lamp goes dark at once when it is off."""
        if side not in TURN_SIDES:
            raise ValueError(f"unknown turn signal {side!r}; one of {TURN_SIDES}")
        if side != self.turn or flash_hz != self.flash_hz:
            self.turn = side
            self.flash_hz = float(flash_hz)
            self._turn_t0 = t
            self.log(t, "turn_signal", side=side, flash_hz=self.flash_hz)

    def set_engine(self, t: float, rpm: float) -> None:
        """Engine speed (0 = stopped or stalled); the engine runs only with the ignition on."""
        if rpm < 0:
            raise ValueError("rpm must be >= 0")
        if rpm and not self.switches["ignition"]:
            raise ValueError("the ignition is off: the engine cannot run")
        if rpm != self.rpm:
            self.rpm = float(rpm)
            self.log(t, "engine", rpm=self.rpm)

    def state(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "switches": dict(self.switches),
            "gear": self.gear,
            "turn": self.turn,
            "flash_hz": self.flash_hz,
            "flashes": self.flashes(),
            "lamps": {"left": self.lamp_lit("left"), "right": self.lamp_lit("right")},
            "rpm": self.rpm,
            "pulses": self.pulse_count(),
            "pulses_per_rev": self.pulses_per_rev,
        }
