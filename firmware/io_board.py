"""I/O board firmware: two barriers (entry, exit), their lights, loops,
photo-eyes, closing edges, limit switches and the emergency stop.

`BarrierControl` and `Debouncer` are the pure control core: debounced input
words and `now` (ms ticks) in, relay words and events out; no I/O and no
allocation in `update`.  `IoBoard(hal)` is the thin shell that reads the
HAL, runs the core, and talks lane bus through `BoardLink`.

Safety rules (hardware_specs/barrier-safety.md, lane-bus.md), enforced here
whatever the host asks:
 1. never start closing while loop, photo-eye or edge reports presence
    (the command is refused with OCCUPIED);
 2. while closing, presence on loop, photo-eye or edge reverses to open;
 3. nothing here ever starts a close except a host CLOSE command: losing
    the host changes no arm;
 4. every actuation and every refusal is queued as an event.
"""

from firmware import lanebus as lb
from firmware.event_queue import EventQueue
from firmware.link import BoardMain
from firmware.ticks import ticks_add, ticks_diff

# relay bits, per barrier (exit barrier shifted by 8)
R_OPEN = 1
R_CLOSE = 2
R_STOP = 4  # energised = STOP circuit opened = barrier controller stops
R_RED = 8
R_GREEN = 16
# raw input word: per barrier the lanebus IN_* bits (exit shifted by 8); e-stop:
IN_ESTOP = 1 << 16
BARRIER_SHIFT = 8

TRAVEL_TIMEOUT_MS = 6000  # class O arm: 1.4-4 s, plus margin
STOP_PULSE_MS = 500
DEBOUNCE_ON_MS = 10  # presence is believed quickly ...
DEBOUNCE_OFF_MS = 60  # ... and released slowly

_PRESENCE_BITS = (lb.IN_LOOP, lb.IN_BEAM, lb.IN_EDGE)

DETAIL_HOST = 0
DETAIL_MANUAL = 1
DETAIL_ESTOP = 2
DETAIL_TIMEOUT = 3


class Debouncer:
    """Per-bit debouncing of an input word with separate on/off delays."""

    def __init__(self, nbits=17, on_ms=DEBOUNCE_ON_MS, off_ms=DEBOUNCE_OFF_MS):
        self.state = 0
        self._cand = 0
        self._since = [0] * nbits
        self._nbits = nbits
        self._on = on_ms
        self._off = off_ms
        self._started = False

    def update(self, raw, now):
        if not self._started:
            self._started = True
            self.state = raw
            self._cand = raw
            return raw
        changed = raw ^ self._cand
        if changed:
            for i in range(self._nbits):
                if changed & (1 << i):
                    self._since[i] = now
            self._cand = raw
        diff = self._cand ^ self.state
        if diff:
            for i in range(self._nbits):
                bit = 1 << i
                if diff & bit:
                    need = self._on if self._cand & bit else self._off
                    if ticks_diff(now, self._since[i]) >= need:
                        self.state ^= bit
        return self.state


class BarrierControl:
    """One barrier.  `inputs` are the debounced IN_* bits of this barrier."""

    def __init__(self, index, events):
        self.index = index
        self.events = events
        self.arm = lb.ARM_UNKNOWN
        self.inputs = 0
        self.relays = R_RED
        self.light = lb.LIGHT_RED
        self.fault = lb.FAULT_NONE
        self._since = 0
        self._stop_until = 0
        self._stop_pulse = False
        self._started = False

    def _emit(self, ev, detail):
        # (barrier, event, arm, detail) packed into the 4-byte ring as
        # type EV_BARRIER, a = barrier | event << 4, b = arm, c = detail
        self.events.push(lb.EV_BARRIER, self.index | (ev << 4), self.arm, detail)

    def _lights(self):
        lights = 0
        if self.light == lb.LIGHT_RED:
            lights = R_RED
        elif self.light == lb.LIGHT_GREEN:
            lights = R_GREEN
        return lights

    def _drive(self, motion):
        self.relays = motion | self._lights()

    # ------------------------------------------------------------ commands
    def command_open(self, now, estop):
        if estop:
            self._emit(lb.BEV_REFUSED, lb.E_ESTOP)
            return lb.E_ESTOP, 0
        if self.arm == lb.ARM_OPEN or self.arm == lb.ARM_OPENING:
            return lb.OK, 0
        self.arm = lb.ARM_OPENING
        self.fault = lb.FAULT_NONE
        self._since = now
        self._stop_pulse = False
        self._drive(R_OPEN)
        self._emit(lb.BEV_OPENING, DETAIL_HOST)
        return lb.OK, 0

    def command_close(self, now, estop):
        if estop:
            self._emit(lb.BEV_REFUSED, lb.E_ESTOP)
            return lb.E_ESTOP, 0
        presence = self.inputs & lb.PRESENCE_MASK
        if presence:
            # rule 1: never start closing over a vehicle or a person
            self._emit(lb.BEV_REFUSED, lb.E_OCCUPIED)
            return lb.E_OCCUPIED, presence
        if self.arm == lb.ARM_CLOSED or self.arm == lb.ARM_CLOSING:
            return lb.OK, 0
        self.arm = lb.ARM_CLOSING
        self.fault = lb.FAULT_NONE
        self._since = now
        self._stop_pulse = False
        self._drive(R_CLOSE)
        self._emit(lb.BEV_CLOSING, DETAIL_HOST)
        return lb.OK, 0

    def command_stop(self, now):
        """Pulse the STOP circuit.  Rule 4: the pulse is an actuation, so it is
        reported even when the arm was at rest (which then keeps its state)."""
        if self.arm == lb.ARM_OPENING or self.arm == lb.ARM_CLOSING:
            self.arm = lb.ARM_STOPPED
        self._stop_pulse = True
        self._stop_until = ticks_add(now, STOP_PULSE_MS)
        self._since = now
        self._drive(R_STOP)
        self._emit(lb.BEV_STOPPED, DETAIL_HOST)
        return lb.OK, 0

    def set_light(self, light):
        self.light = light
        self.relays = (self.relays & (R_OPEN | R_CLOSE | R_STOP)) | self._lights()

    # ------------------------------------------------------------ control loop
    def update(self, now, inputs, estop):
        """Advance the barrier by one control-loop step.  No allocation."""
        old = self.inputs
        self.inputs = inputs
        changed = (old ^ inputs) & lb.PRESENCE_MASK
        if changed and self._started:
            for bit in _PRESENCE_BITS:
                if changed & bit:
                    self.events.push(lb.EV_INPUT, self.index, bit, 1 if inputs & bit else 0)
        if not self._started:
            self._started = True
            if inputs & lb.IN_LIMIT_CLOSED:
                self.arm = lb.ARM_CLOSED
            elif inputs & lb.IN_LIMIT_OPEN:
                self.arm = lb.ARM_OPEN
            else:
                self.arm = lb.ARM_STOPPED
            self._drive(0)
            return
        arm = self.arm
        if estop:
            if arm == lb.ARM_OPENING or arm == lb.ARM_CLOSING:
                self.arm = lb.ARM_STOPPED
                self._emit(lb.BEV_STOPPED, DETAIL_ESTOP)
            self._stop_pulse = False
            if self.relays & (R_OPEN | R_CLOSE | R_STOP) != R_STOP:
                self._drive(R_STOP)
            return
        if self._stop_pulse:
            if ticks_diff(now, self._stop_until) >= 0:
                self._stop_pulse = False
                self._drive(0)
        elif self.relays & R_STOP:
            self._drive(0)  # e-stop released: release the STOP circuit, move nothing
        if arm == lb.ARM_CLOSING:
            presence = inputs & lb.PRESENCE_MASK
            if presence:
                # rule 2: presence while closing reverses at once
                self.arm = lb.ARM_OPENING
                self._since = now
                self._drive(R_OPEN)
                self._emit(lb.BEV_REVERSED, presence)
            elif inputs & lb.IN_LIMIT_CLOSED:
                self.arm = lb.ARM_CLOSED
                self._drive(0)
                self._emit(lb.BEV_CLOSED, DETAIL_HOST)
            elif ticks_diff(now, self._since) > TRAVEL_TIMEOUT_MS:
                self._fault(now)
        elif arm == lb.ARM_OPENING:
            if inputs & lb.IN_LIMIT_OPEN:
                self.arm = lb.ARM_OPEN
                self._drive(0)
                self._emit(lb.BEV_OPENED, DETAIL_HOST)
            elif ticks_diff(now, self._since) > TRAVEL_TIMEOUT_MS:
                self._fault(now)
        else:
            # at rest: follow the limit switches (arm moved by hand, or by
            # the barrier controller itself on power failure).  Only a single
            # active limit counts: both at once (a fast arm seen through the
            # debounce delay, or a wiring fault) says nothing about the arm.
            limits = inputs & (lb.IN_LIMIT_OPEN | lb.IN_LIMIT_CLOSED)
            if limits == lb.IN_LIMIT_OPEN and arm != lb.ARM_OPEN:
                self.arm = lb.ARM_OPEN
                self._emit(lb.BEV_OPENED, DETAIL_MANUAL)
            elif limits == lb.IN_LIMIT_CLOSED and arm != lb.ARM_CLOSED:
                self.arm = lb.ARM_CLOSED
                self._emit(lb.BEV_CLOSED, DETAIL_MANUAL)

    def _fault(self, now):
        self.arm = lb.ARM_FAULT
        self.fault = lb.FAULT_ARM_TRAVEL
        self._stop_pulse = True
        self._stop_until = ticks_add(now, STOP_PULSE_MS)
        self._drive(R_STOP)
        self._emit(lb.BEV_FAULT, DETAIL_TIMEOUT)


class IoLogic:
    """Both barriers and the e-stop: the whole pure core of the I/O board."""

    kind = lb.KIND_IO_BOARD

    def __init__(self):
        self.events = EventQueue(64)
        self.debouncer = Debouncer()
        self.barriers = (BarrierControl(0, self.events), BarrierControl(1, self.events))
        self.estop = 0
        self.host_link = 0
        self._started = False

    def update(self, now, raw):
        word = self.debouncer.update(raw, now)
        estop = 1 if word & IN_ESTOP else 0
        if estop != self.estop and self._started:
            self.events.push(lb.EV_ESTOP, estop, 0, 0)
        self.estop = estop
        self._started = True
        self.barriers[0].update(now, word & 0xFF, estop)
        self.barriers[1].update(now, (word >> BARRIER_SHIFT) & 0xFF, estop)

    def relays(self):
        return self.barriers[0].relays | (self.barriers[1].relays << BARRIER_SHIFT)

    def on_host_link(self, state, now):
        self.host_link = state
        self.events.push(lb.EV_HOST_LINK, state, 0, 0)
        if not state:
            # rule 3: losing the host moves no arm.  Only the entry light goes
            # red so no further vehicle is invited in while nobody watches.
            self.barriers[0].set_light(lb.LIGHT_RED)

    def handle_command(self, mtype, vals, now):
        if mtype in (lb.BARRIER_OPEN, lb.BARRIER_CLOSE, lb.BARRIER_STOP, lb.SET_LIGHT):
            if vals[0] > 1:
                return lb.E_BAD_FIELD, None, 0
            b = self.barriers[vals[0]]
            if mtype == lb.BARRIER_OPEN:
                res, detail = b.command_open(now, self.estop)
            elif mtype == lb.BARRIER_CLOSE:
                res, detail = b.command_close(now, self.estop)
            elif mtype == lb.BARRIER_STOP:
                res, detail = b.command_stop(now)
            else:
                if vals[1] > lb.LIGHT_GREEN:
                    return lb.E_BAD_FIELD, None, 1
                b.set_light(vals[1])
                return lb.OK, [b.light], 0
            return res, [b.arm], detail
        return lb.E_NOT_SUPPORTED, None, mtype

    def status_values(self, uptime_ms):
        e, x = self.barriers
        return [
            uptime_ms,
            self.estop,
            self.host_link,
            e.arm,
            e.inputs,
            e.light,
            e.fault,
            x.arm,
            x.inputs,
            x.light,
            x.fault,
        ]


def send_queued_events(logic, link, now):
    q = logic.events
    while len(q):
        t, a, b, c, _ = q.pop()
        if t == lb.EV_BARRIER:
            link.send_event(t, [a & 0x0F, a >> 4, b, c], None, now)
        elif t == lb.EV_INPUT:
            link.send_event(t, [a, b, c], None, now)
        else:
            link.send_event(t, [a], None, now)


class IoBoard(BoardMain):
    """The I/O board application on a HAL (hal_rp2.IoBoardHal or the simulator's)."""

    def __init__(self, hal):
        super().__init__(hal, IoLogic(), hal.ticks_ms())

    def sense(self, now):
        self.logic.update(now, self.hal.read_inputs())
        self.link.poll(now)
        self.hal.write_outputs(self.logic.relays())

    def send_events(self, now):
        send_queued_events(self.logic, self.link, now)
