"""Vehicle board firmware: the test car's own signals for the exam vehicle.

Reads seat belt, doors, handbrake, the neutral and reverse switches, clutch,
brake, the left and right turn lamps, ignition and the engine's tach pulses
(hardware_specs/vehicle-board.md), and reports every change as a reliable
SIGNAL_CHANGED event on the lane bus (hardware_specs/lane-bus.md); GET_STATUS
and the STATUS heartbeat carry every signal at once.

`Tachometer`, `BlinkDetector` and `VehicleLogic` are the pure core: the
HAL's raw input word, its pulse counter and `now` (ms ticks) in, signal
values and events out; no I/O and no allocation in `update`.  The input
debouncer is the I/O board's (`firmware.io_board.Debouncer`).
`VehicleBoard(hal)` is the thin shell that reads the HAL, runs the core and
talks lane bus through `BoardLink`.

Timing (the numbers are the constants below):
 - every switch input is believed after DEBOUNCE_MS of a stable level, both
   ways (car switches bounce for a few ms; nothing here is safety-critical
   enough to need the I/O board's slow release);
 - a turn signal is on from the first (debounced) lit phase of its lamp and
   off after TURN_OFF_MS without the lamp lit: 1.5 periods of the slowest
   legal flash rate (60 per minute), so the dark phase of a 1-2 Hz flasher
   never reads as "off";
 - engine speed is the tach pulses of the last RPM_WINDOW_MS (RPM_SLOTS
   slots of RPM_SLOT_MS, so it is recomputed every slot), divided by the
   configured pulses per revolution; it is reported when two computations in
   a row show it moved by at least `rpm_report_step()` since the last report
   (RPM_REPORT_STEP, or one and a half pulses' worth of the window on a tach
   too coarse for that: a window's count can be one pulse off either way, and
   a steady engine's jitter is not a change), when it becomes or leaves 0, and
   whenever the engine starts or stops running (running from
   ENGINE_RUNNING_RPM, stopped below ENGINE_STOPPED_RPM), never per pulse;
   nothing about the engine before a whole window has been measured since boot.
"""

from firmware import lanebus as lb
from firmware.event_queue import EventQueue
from firmware.io_board import Debouncer
from firmware.link import BoardMain
from firmware.ticks import ticks_diff

DEBOUNCE_MS = 20  # switch inputs: stable this long, either way
TURN_OFF_MS = 1500  # turn signal off after the lamp was dark this long
RPM_SLOT_MS = 100  # engine speed recomputed this often ...
RPM_SLOTS = 5  # ... over the pulses of this many slots
RPM_WINDOW_MS = RPM_SLOT_MS * RPM_SLOTS
RPM_REPORT_STEP = 100  # rpm: report a move of at least this much
ENGINE_RUNNING_RPM = 400  # above cranking speed (150-300 rpm), below idle (700-900 rpm)
ENGINE_STOPPED_RPM = 300  # hysteresis: a rough idle does not read as a stall
DEFAULT_PULSES_PER_REV_X10 = 20  # four-cylinder four-stroke: two ignition/tach pulses per revolution
PULSE_COUNT_MASK = (1 << 30) - 1  # the HAL's pulse counter wraps here (a MicroPython small int)
MAX_WINDOW_PULSES = 10000  # far above any engine (keeps the rpm arithmetic in small ints)
EVENT_QUEUE_SIZE = 32

# The HAL's raw input word: bit n = switch input of signal n (lb.SIG_*), for
# the ten switch inputs seat belt .. ignition; for the turn signals the bit is
# the lamp being lit.  Engine running and engine speed come from the tach.
SWITCH_INPUTS = lb.SIG_IGNITION + 1
SWITCH_MASK = (1 << SWITCH_INPUTS) - 1
TURN_LEFT_BIT = 1 << lb.SIG_TURN_LEFT
TURN_RIGHT_BIT = 1 << lb.SIG_TURN_RIGHT
RUNNING_BIT = 1 << lb.SIG_ENGINE_RUNNING
_STEADY_MASK = SWITCH_MASK & ~(TURN_LEFT_BIT | TURN_RIGHT_BIT)


class BlinkDetector:
    """A flashing lamp as one on/off signal: on at the first lit phase, off
    after TURN_OFF_MS without the lamp lit."""

    def __init__(self, off_ms=TURN_OFF_MS):
        self.on = False
        self._off_ms = off_ms
        self._last_lit = 0

    def update(self, lit, now):
        """The signal after this step (`lit`: the debounced lamp input)."""
        if lit:
            self._last_lit = now
            self.on = True
        elif self.on and ticks_diff(now, self._last_lit) >= self._off_ms:
            self.on = False
        return self.on


def rpm_from_pulses(pulses, window_ms, pulses_per_rev_x10):
    """Engine speed from `pulses` counted over `window_ms`, in small-int arithmetic."""
    if window_ms <= 0 or pulses_per_rev_x10 <= 0:
        return 0
    if pulses > MAX_WINDOW_PULSES:
        pulses = MAX_WINDOW_PULSES
    rpm = pulses * 60000 // window_ms * 10 // pulses_per_rev_x10
    return rpm if rpm < 0xFFFF else 0xFFFF


def rpm_report_step(pulses_per_rev_x10):
    """The smallest move of the engine speed that is reported: RPM_REPORT_STEP, but always more than
    the window's one-pulse jitter (a 1-pulse-per-revolution tach resolves only 120 rpm)."""
    jitter = rpm_from_pulses(1, RPM_WINDOW_MS, pulses_per_rev_x10) * 3 // 2
    return jitter if jitter > RPM_REPORT_STEP else RPM_REPORT_STEP


class Tachometer:
    """Engine speed from the HAL's wrapping pulse counter, over a sliding
    window of RPM_SLOTS slots.  At boot the window is full of empty slots:
    a reading is always over a whole window (one slot's few pulses would
    make a cranking engine read as running)."""

    def __init__(self, now, count, pulses_per_rev_x10=DEFAULT_PULSES_PER_REV_X10):
        self.pulses_per_rev_x10 = pulses_per_rev_x10
        self.rpm = 0
        self._pulses = [0] * RPM_SLOTS
        self._ms = [RPM_SLOT_MS] * RPM_SLOTS
        self._slot = 0
        self._slot_start = now
        self._slot_count = count

    def update(self, now, count):
        """Close the slot when RPM_SLOT_MS have passed; True when `rpm` was recomputed."""
        elapsed = ticks_diff(now, self._slot_start)
        if elapsed < RPM_SLOT_MS:
            return False
        i = self._slot
        self._pulses[i] = (count - self._slot_count) & PULSE_COUNT_MASK
        self._ms[i] = elapsed
        self._slot = (i + 1) % RPM_SLOTS
        self._slot_start = now
        self._slot_count = count
        pulses = 0
        ms = 0
        for k in range(RPM_SLOTS):
            pulses += self._pulses[k]
            ms += self._ms[k]
        self.rpm = rpm_from_pulses(pulses, ms, self.pulses_per_rev_x10)
        return True


class VehicleLogic:
    """The whole pure core of the vehicle board: inputs, turn lamps, engine."""

    kind = lb.KIND_VEHICLE_BOARD

    def __init__(self, now, pulse_count, pulses_per_rev_x10=DEFAULT_PULSES_PER_REV_X10):
        self.events = EventQueue(EVENT_QUEUE_SIZE)
        self.debouncer = Debouncer(SWITCH_INPUTS, DEBOUNCE_MS, DEBOUNCE_MS)
        self.left = BlinkDetector()
        self.right = BlinkDetector()
        self.tach = Tachometer(now, pulse_count, pulses_per_rev_x10)
        self.signals = 0  # bit n: on/off signal n is true
        self.rpm_reported = 0  # the engine speed of the last report
        self._rpm_prev = 0  # the engine speed computed before this one
        self._warmup = RPM_SLOTS  # computations until the window covers time since boot
        self.host_link = 0
        self._started = False

    def update(self, now, raw, pulse_count):
        """One control-loop step.  No allocation."""
        word = self.debouncer.update(raw & SWITCH_MASK, now)
        bits = word & _STEADY_MASK
        if self.left.update(word & TURN_LEFT_BIT, now):
            bits |= TURN_LEFT_BIT
        if self.right.update(word & TURN_RIGHT_BIT, now):
            bits |= TURN_RIGHT_BIT
        if self._started:
            changed = (bits ^ self.signals) & SWITCH_MASK
            if changed:
                for i in range(SWITCH_INPUTS):
                    if changed & (1 << i):
                        self.events.push(lb.EV_SIGNAL, i, 0, 1 if bits & (1 << i) else 0)
        self._started = True  # the state at boot is in STATUS, not in events
        self.signals = (self.signals & ~SWITCH_MASK) | bits
        if self.tach.update(now, pulse_count):
            self._engine()

    def _engine(self):
        if self._warmup:
            # engine speed and running count once a whole window has been measured since boot: before
            # that the reading is low, and a board that resets beside a running engine would report it
            # slowing down and speeding up again
            self._warmup -= 1
            if self._warmup:
                return
        rpm = self.tach.rpm
        running = (self.signals & RUNNING_BIT) != 0
        if running and rpm < ENGINE_STOPPED_RPM:
            running = False
        elif not running and rpm >= ENGINE_RUNNING_RPM:
            running = True
        crossed = running != ((self.signals & RUNNING_BIT) != 0)
        last = self.rpm_reported
        step = rpm_report_step(self.tach.pulses_per_rev_x10)
        # a move counts when two computations in a row show it: one window's count can be a pulse off
        # either way, so a single reading is the jitter of a steady engine more often than a change
        prev = self._rpm_prev
        self._rpm_prev = rpm
        moved = (rpm - last >= step and prev - last >= step) or (last - rpm >= step and last - prev >= step)
        if crossed or moved or (rpm == 0) != (last == 0):
            self.rpm_reported = rpm
            self.events.push(lb.EV_SIGNAL, lb.SIG_ENGINE_RPM, rpm >> 8, rpm & 0xFF)
        if crossed:
            self.signals ^= RUNNING_BIT
            self.events.push(lb.EV_SIGNAL, lb.SIG_ENGINE_RUNNING, 0, 1 if running else 0)

    # ------------------------------------------------------------ lane bus
    def on_host_link(self, state, now):
        self.host_link = state
        self.events.push(lb.EV_HOST_LINK, state, 0, 0)

    def handle_command(self, mtype, vals, now):
        if mtype == lb.SET_TACH:
            ppr = vals[0]
            if not lb.MIN_PULSES_PER_REV_X10 <= ppr <= lb.MAX_PULSES_PER_REV_X10:
                return lb.E_BAD_FIELD, None, 0
            self.tach.pulses_per_rev_x10 = ppr
            return lb.OK, [ppr], 0
        return lb.E_NOT_SUPPORTED, None, mtype

    def status_values(self, uptime_ms):
        """Every signal now: the on/off ones as bits, the engine speed as measured."""
        return [uptime_ms, self.host_link, self.signals & 0xFFFF, self.tach.rpm, self.tach.pulses_per_rev_x10]


def send_queued_events(logic, link, now):
    """Drain the core's event ring into the lane bus (this side may allocate)."""
    q = logic.events
    while len(q):
        t, a, b, c, _ = q.pop()
        if t == lb.EV_SIGNAL:
            link.send_event(t, [a, (b << 8) | c], None, now)
        else:
            link.send_event(t, [a], None, now)


class VehicleBoard(BoardMain):
    """The vehicle board application on a HAL (hal_rp2.VehicleBoardHal or the simulator's)."""

    def __init__(self, hal, pulses_per_rev_x10=DEFAULT_PULSES_PER_REV_X10):
        now = hal.ticks_ms()
        super().__init__(hal, VehicleLogic(now, hal.pulse_count(), pulses_per_rev_x10), now)

    def sense(self, now):
        self.logic.update(now, self.hal.read_signals(), self.hal.pulse_count())
        self.link.poll(now)

    def send_events(self, now):
        send_queued_events(self.logic, self.link, now)
