"""Vehicle board firmware: debouncing, turn lamps to on/off, rpm from tach
pulses, events on change and the status snapshot, on a fake HAL with a
test-controlled clock.  Runs under MicroPython and CPython."""

from fw_fakes import FakeHal, events_of, reply_to

from firmware import lanebus as lb
from firmware.ticks import TICKS_MAX, ticks_add
from firmware.vehicle_board import (
    DEBOUNCE_MS,
    ENGINE_RUNNING_RPM,
    ENGINE_STOPPED_RPM,
    PULSE_COUNT_MASK,
    RPM_REPORT_STEP,
    RPM_WINDOW_MS,
    TURN_OFF_MS,
    BlinkDetector,
    Tachometer,
    VehicleBoard,
    VehicleLogic,
    rpm_from_pulses,
    rpm_report_step,
)

BELT = 1 << lb.SIG_SEAT_BELT
DOOR = 1 << lb.SIG_DOOR_OPEN
LEFT_LAMP = 1 << lb.SIG_TURN_LEFT
IGNITION = 1 << lb.SIG_IGNITION


class Car:
    """The car around the core: switch word, engine speed and the tach pulses it makes (5 ms steps)."""

    def __init__(self, now=1000, raw=0, rpm=0, ppr_x10=20):
        self.now = now
        self.raw = raw
        self.rpm = rpm
        self.ppr_x10 = ppr_x10
        self._acc = 0  # pulses x 600000 (integer arithmetic: rpm x ppr_x10 per ms)
        self.pulses = 0

    def advance(self, ms=5):
        self.now = ticks_add(self.now, ms)
        self._acc += self.rpm * self.ppr_x10 * ms
        n = self._acc // 600000
        self._acc -= n * 600000
        self.pulses = (self.pulses + n) & PULSE_COUNT_MASK


def run(logic, car, ms):
    for _ in range(ms // 5):
        car.advance(5)
        logic.update(car.now, car.raw, car.pulses)


def drain(logic):
    """The events queued since the last call, as (signal, value)."""
    out = []
    while len(logic.events):
        t, a, b, c, _ = logic.events.pop()
        if t == lb.EV_SIGNAL:
            out.append((a, (b << 8) | c))
    return out


def started(raw=0, rpm=0, now=1000):
    car = Car(now=now, raw=raw, rpm=rpm)
    logic = VehicleLogic(car.now, car.pulses)
    logic.update(car.now, car.raw, car.pulses)
    return logic, car


def test_the_state_at_boot_is_in_the_status_not_in_events():
    logic, car = started(raw=BELT | IGNITION)
    run(logic, car, 100)
    assert drain(logic) == []
    assert logic.signals == BELT | IGNITION


def test_a_switch_change_is_one_event_after_the_debounce_time():
    logic, car = started()
    car.raw = BELT
    run(logic, car, DEBOUNCE_MS - 5)
    assert drain(logic) == []
    run(logic, car, 10)
    assert drain(logic) == [(lb.SIG_SEAT_BELT, 1)]
    run(logic, car, 200)
    assert drain(logic) == []


def test_contact_bounce_shorter_than_the_debounce_time_is_ignored_and_gives_one_event():
    logic, car = started()
    for _ in range(3):  # the door switch chatters for 30 ms while the door opens
        car.raw = DOOR
        run(logic, car, 5)
        car.raw = 0
        run(logic, car, 5)
    assert drain(logic) == []
    car.raw = DOOR
    run(logic, car, 100)
    assert drain(logic) == [(lb.SIG_DOOR_OPEN, 1)]
    car.raw = 0
    run(logic, car, 10)  # a 10 ms drop-out is not the door closing
    car.raw = DOOR
    run(logic, car, 100)
    assert drain(logic) == []


def blink(logic, car, periods, period_ms=660, lit_ms=330, lamp=LEFT_LAMP):
    for _ in range(periods):
        car.raw |= lamp
        run(logic, car, lit_ms)
        car.raw &= ~lamp
        run(logic, car, period_ms - lit_ms)


def test_a_blinking_lamp_is_one_on_and_after_it_stops_one_off():
    for period_ms in (1000, 660, 500):  # 60, 90, 120 flashes per minute
        logic, car = started()
        blink(logic, car, 8, period_ms, period_ms // 2)
        assert drain(logic) == [(lb.SIG_TURN_LEFT, 1)], period_ms
        assert logic.signals & LEFT_LAMP
        run(logic, car, TURN_OFF_MS - period_ms // 2 - 50)
        assert drain(logic) == [], period_ms
        run(logic, car, 100)
        assert drain(logic) == [(lb.SIG_TURN_LEFT, 0)], period_ms


def test_turn_signal_is_on_at_the_first_lit_phase():
    logic, car = started()
    car.raw = LEFT_LAMP
    run(logic, car, DEBOUNCE_MS + 5)
    assert drain(logic) == [(lb.SIG_TURN_LEFT, 1)]


def test_a_lamp_glitch_shorter_than_the_debounce_time_is_no_turn_signal():
    logic, car = started()
    car.raw = LEFT_LAMP
    run(logic, car, DEBOUNCE_MS - 10)
    car.raw = 0
    run(logic, car, 2 * TURN_OFF_MS)
    assert drain(logic) == []


def test_blink_detector_goes_off_exactly_turn_off_ms_after_the_last_lit_step():
    d = BlinkDetector()
    assert d.update(True, 100) is True
    assert d.update(False, 100 + TURN_OFF_MS - 1) is True
    assert d.update(False, 100 + TURN_OFF_MS) is False


def test_blink_detector_survives_the_tick_wrap():
    d = BlinkDetector()
    t = TICKS_MAX - 100
    d.update(True, t)
    assert d.update(False, ticks_add(t, TURN_OFF_MS - 1)) is True
    assert d.update(False, ticks_add(t, TURN_OFF_MS)) is False


def test_rpm_is_pulses_over_the_window_divided_by_pulses_per_revolution():
    assert rpm_from_pulses(0, RPM_WINDOW_MS, 20) == 0
    assert rpm_from_pulses(14, 500, 20) == 840  # 14 pulses in 0.5 s at 2 per revolution
    assert rpm_from_pulses(7, 500, 10) == 840  # one pulse per revolution
    assert rpm_from_pulses(40, 500, 5) == 9600  # one pulse per two revolutions
    assert rpm_from_pulses(10**9, 500, 5) <= 0xFFFF
    assert rpm_from_pulses(5, 0, 20) == 0


def test_tachometer_measures_a_steady_engine_within_one_pulse():
    for rpm, ppr_x10 in ((800, 20), (3000, 20), (800, 10), (6000, 40), (750, 5)):
        car = Car(rpm=rpm, ppr_x10=ppr_x10)
        tach = Tachometer(car.now, car.pulses, ppr_x10)
        for _ in range(400):  # 2 s
            car.advance(5)
            tach.update(car.now, car.pulses)
        one_pulse = 60000 * 10 // (RPM_WINDOW_MS * ppr_x10)
        assert abs(tach.rpm - rpm) <= one_pulse, (rpm, ppr_x10, tach.rpm)


def test_tachometer_counts_across_the_pulse_counter_wrap():
    car = Car(rpm=1200)
    car.pulses = PULSE_COUNT_MASK - 5
    tach = Tachometer(car.now, car.pulses)
    for _ in range(200):
        car.advance(5)
        tach.update(car.now, car.pulses)
    assert abs(tach.rpm - 1200) <= 60


def test_engine_start_reports_rpm_and_running_and_a_stall_reports_both_back():
    logic, car = started(raw=IGNITION)
    car.rpm = 800
    run(logic, car, 1000)
    evs = drain(logic)
    assert (lb.SIG_ENGINE_RUNNING, 1) in evs
    rpms = [v for s, v in evs if s == lb.SIG_ENGINE_RPM]
    assert rpms and abs(rpms[-1] - 800) < RPM_REPORT_STEP + 60  # within the step, plus one pulse of jitter
    assert len(rpms) <= 6  # not one per pulse: one per step of RPM_REPORT_STEP at most per slot
    run(logic, car, 2000)  # steady idle: nothing to report
    assert drain(logic) == []
    car.rpm = 0  # stall
    run(logic, car, RPM_WINDOW_MS + 100)
    evs = drain(logic)
    assert (lb.SIG_ENGINE_RUNNING, 0) in evs and evs[-1] == (lb.SIG_ENGINE_RPM, 0)
    assert logic.rpm_reported == 0 and not logic.signals & (1 << lb.SIG_ENGINE_RUNNING)


def test_a_board_booting_beside_a_running_engine_reports_its_speed_once_a_window_is_measured():
    logic, car = started(raw=IGNITION, rpm=800)
    run(logic, car, RPM_WINDOW_MS - 10)
    assert drain(logic) == []  # no low readings from a window that does not yet cover time since boot
    run(logic, car, 200)
    evs = drain(logic)
    assert [s for s, _ in evs] == [lb.SIG_ENGINE_RPM, lb.SIG_ENGINE_RUNNING]
    assert abs(evs[0][1] - 800) <= 60 and evs[1][1] == 1


def test_rpm_is_reported_when_it_moves_by_the_step_not_less():
    logic, car = started(raw=IGNITION, rpm=1500)
    run(logic, car, 1000)
    drain(logic)
    base = logic.rpm_reported
    car.rpm = base + RPM_REPORT_STEP // 2 - 30  # a small move (less than the step, even with one pulse of jitter)
    run(logic, car, 1000)
    assert drain(logic) == []
    car.rpm = base + 3 * RPM_REPORT_STEP
    run(logic, car, 1000)
    rpms = [v for s, v in drain(logic) if s == lb.SIG_ENGINE_RPM]
    assert rpms and abs(rpms[-1] - car.rpm) <= 60


def test_report_step_is_larger_than_a_coarse_tachs_one_pulse_jitter():
    assert rpm_report_step(20) == RPM_REPORT_STEP  # two pulses per revolution: 60 rpm per pulse
    assert rpm_report_step(10) == 180  # one: 120 rpm per pulse
    assert rpm_report_step(5) == 360  # a half: 240 rpm per pulse


def test_a_steady_engine_on_a_coarse_tach_reports_nothing_after_the_window_filled():
    for ppr_x10 in (5, 10, 15, 20, 40):
        car = Car(raw=IGNITION, rpm=830, ppr_x10=ppr_x10)
        logic = VehicleLogic(car.now, car.pulses, ppr_x10)
        logic.update(car.now, car.raw, car.pulses)
        run(logic, car, 2000)  # the start's reports settle (a coarse tach's first readings are coarser still)
        drain(logic)
        run(logic, car, 5000)
        assert drain(logic) == [], ppr_x10


def test_a_move_is_reported_when_two_computations_in_a_row_show_it():
    logic, car = started(raw=IGNITION, rpm=1500)
    run(logic, car, 1000)
    drain(logic)
    car.rpm = 3000
    run(logic, car, 100)  # one slot: the window has moved by a fifth, one computation
    assert drain(logic) == []
    run(logic, car, 100)
    rpms = [v for s, v in drain(logic) if s == lb.SIG_ENGINE_RPM]
    assert len(rpms) == 1 and rpms[0] > 1500 + RPM_REPORT_STEP


def test_running_has_hysteresis_between_stopped_and_running_thresholds():
    logic, car = started(raw=IGNITION, rpm=900)
    run(logic, car, 1000)
    drain(logic)
    car.rpm = (ENGINE_RUNNING_RPM + ENGINE_STOPPED_RPM) // 2  # a rough idle dips into the band
    run(logic, car, 1000)
    assert (lb.SIG_ENGINE_RUNNING, 0) not in drain(logic)
    car.rpm = 200  # cranking speed: below both
    run(logic, car, 1000)
    assert (lb.SIG_ENGINE_RUNNING, 0) in drain(logic)
    car.rpm = (ENGINE_RUNNING_RPM + ENGINE_STOPPED_RPM) // 2
    run(logic, car, 1000)
    assert (lb.SIG_ENGINE_RUNNING, 1) not in drain(logic)


class CarHal(FakeHal):
    """FakeHal with the vehicle board's inputs: the switch word and the tach counter of a `Car`."""

    def __init__(self, car):
        super().__init__(now=car.now)
        self.car = car

    def read_signals(self):
        return self.car.raw

    def pulse_count(self):
        return self.car.pulses

    def idle(self, ms):
        self.car.advance(ms)
        self.now = self.car.now


def board_on(car):
    hal = CarHal(car)
    board = VehicleBoard(hal)
    return hal, board


def steps(board, hal, ms):
    for _ in range(ms // 5):
        board.step()
        hal.idle(5)


def test_board_sends_a_reliable_signal_changed_event_per_change():
    car = Car()
    hal, board = board_on(car)
    steps(board, hal, 50)
    hal.received()
    car.raw = BELT | DOOR
    steps(board, hal, 50)
    evs = events_of(hal.received(), lb.EV_SIGNAL)
    got = [lb.unpack_fields(lb.request_fields(lb.EV_SIGNAL), e.body) for e in evs]
    assert got == [[lb.SIG_SEAT_BELT, 1], [lb.SIG_DOOR_OPEN, 1]]
    assert [e.seq for e in evs] == [1, 2]  # reliable: numbered, kept until acknowledged


def test_get_status_is_a_snapshot_of_every_signal():
    car = Car(raw=BELT | IGNITION, rpm=1200)
    hal, board = board_on(car)
    steps(board, hal, 1000)
    hal.received()
    hal.send(9, lb.GET_STATUS)
    board.step()
    r = reply_to(hal.received(), 9, lb.GET_STATUS)
    assert r is not None and r.body[0] == lb.OK
    up, host_link, signals, rpm, ppr = lb.unpack_fields(lb.VEHICLE_STATUS, r.body, 1)
    assert signals == BELT | IGNITION | (1 << lb.SIG_ENGINE_RUNNING)
    assert abs(rpm - 1200) <= 60 and ppr == 20 and host_link == 1 and up >= 900


def test_heartbeat_carries_the_vehicle_status_record():
    car = Car(raw=DOOR)
    hal, board = board_on(car)
    steps(board, hal, 1100)
    st = events_of(hal.received(), lb.EV_STATUS)
    assert len(st) == 1
    vals = lb.unpack_fields(lb.status_fields(lb.KIND_VEHICLE_BOARD), st[0].body)
    assert vals[2] == DOOR


def test_set_tach_changes_the_rpm_scale_and_refuses_out_of_range():
    car = Car(rpm=1000, ppr_x10=10)  # a one-pulse-per-revolution tach on a board configured for two
    hal, board = board_on(car)
    steps(board, hal, 1000)
    assert abs(board.logic.tach.rpm - 500) <= 60
    hal.received()
    hal.send(3, lb.SET_TACH, [10], kind=lb.KIND_VEHICLE_BOARD)
    board.step()
    r = reply_to(hal.received(), 3, lb.SET_TACH)
    assert r is not None and list(r.body) == [lb.OK, 10]
    steps(board, hal, 1000)
    assert abs(board.logic.tach.rpm - 1000) <= 120
    for bad in (0, lb.MIN_PULSES_PER_REV_X10 - 1, lb.MAX_PULSES_PER_REV_X10 + 1):
        hal.send(4 + bad, lb.SET_TACH, [bad], kind=lb.KIND_VEHICLE_BOARD)
        board.step()
        r = reply_to(hal.received(), 4 + bad, lb.SET_TACH)
        assert r is not None and list(r.body) == [lb.E_BAD_FIELD, 0]
    assert board.logic.tach.pulses_per_rev_x10 == 10


def test_barrier_commands_are_not_supported_on_a_vehicle_board():
    hal, board = board_on(Car())
    hal.send(5, lb.BARRIER_OPEN, [0])
    board.step()
    r = reply_to(hal.received(), 5, lb.BARRIER_OPEN)
    assert r is not None and list(r.body) == [lb.E_NOT_SUPPORTED, lb.BARRIER_OPEN]


def test_hello_names_the_vehicle_board_kind():
    hal, board = board_on(Car())
    hal.send(6, lb.HELLO, [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 77])
    board.step()
    r = reply_to(hal.received(), 6, lb.HELLO)
    assert r is not None and r.body[0] == lb.OK and r.body[1] == lb.KIND_VEHICLE_BOARD
    assert lb.KIND_NAMES[lb.KIND_VEHICLE_BOARD] == "vehicle-board"


def _heap_locked(fn):
    """Run fn with the MicroPython heap locked (any allocation raises
    MemoryError).  Under CPython there is no heap lock: fn just runs."""
    try:
        import micropython

        lock = micropython.heap_lock
        unlock = micropython.heap_unlock
    except (ImportError, AttributeError):
        fn()
        return
    lock()
    try:
        fn()
    finally:
        unlock()


def test_control_loop_step_does_not_allocate():
    logic, car = started(raw=IGNITION)
    car.rpm = 900
    raws = (IGNITION, IGNITION | BELT, IGNITION | BELT | LEFT_LAMP, IGNITION | DOOR, IGNITION | LEFT_LAMP, 0, BELT)
    state = [0]
    times = [0, 0]

    def loop():
        now = car.now
        pulses = car.pulses
        for raw in raws:
            for _ in range(150):
                now += 5
                pulses = (pulses + 1) & PULSE_COUNT_MASK
                logic.update(now, raw, pulses)
                while len(logic.events):
                    logic.events.pop_into(state)
        times[0] = now

    _heap_locked(loop)
    assert times[0] > 0 and logic.signals & BELT
