"""I/O board firmware: the barrier safety rules and the board shell, on a
fake HAL with a test-controlled clock.  Runs under MicroPython and CPython."""

from fw_fakes import FakeHal, events_of, reply_to

from firmware import lanebus as lb
from firmware.io_board import (
    BARRIER_SHIFT,
    DEBOUNCE_OFF_MS,
    IN_ESTOP,
    R_CLOSE,
    R_OPEN,
    R_STOP,
    TRAVEL_TIMEOUT_MS,
    IoBoard,
    IoLogic,
)
from firmware.ticks import TICKS_MAX, ticks_add, ticks_diff

CLOSED = lb.IN_LIMIT_CLOSED
OPEN = lb.IN_LIMIT_OPEN


def run_logic(logic, start, ms, raw):
    t = start
    for _ in range(ms // 5):
        t = ticks_add(t, 5)
        logic.update(t, raw)
    return t


def opened_logic(now=1000):
    logic = IoLogic()
    logic.update(now, CLOSED)
    b = logic.barriers[0]
    res, _ = b.command_open(now, 0)
    assert res == lb.OK
    now = run_logic(logic, now, 100, 0)
    now = run_logic(logic, now, 100, OPEN)
    assert b.arm == lb.ARM_OPEN
    return logic, now


def test_ticks_diff_survives_the_wrap():
    assert ticks_diff(ticks_add(TICKS_MAX, 10), TICKS_MAX) == 10
    assert ticks_diff(5, TICKS_MAX) == 6
    assert ticks_diff(TICKS_MAX, 5) == -6


def test_arm_state_follows_limit_switches_at_start():
    logic = IoLogic()
    logic.update(0, CLOSED | (OPEN << BARRIER_SHIFT))
    assert logic.barriers[0].arm == lb.ARM_CLOSED
    assert logic.barriers[1].arm == lb.ARM_OPEN


def test_open_drives_open_relay_until_open_limit():
    logic, now = opened_logic()
    assert logic.relays() & R_OPEN == 0
    kinds = []
    while len(logic.events):
        kinds.append(logic.events.pop()[:4])
    assert (lb.EV_BARRIER, 0 | (lb.BEV_OPENING << 4), lb.ARM_OPENING, 0) in kinds
    assert (lb.EV_BARRIER, 0 | (lb.BEV_OPENED << 4), lb.ARM_OPEN, 0) in kinds


def test_close_is_refused_while_the_loop_is_occupied():
    logic, now = opened_logic()
    now = run_logic(logic, now, 50, OPEN | lb.IN_LOOP)
    res, detail = logic.barriers[0].command_close(now, 0)
    assert res == lb.E_OCCUPIED and detail == lb.IN_LOOP
    assert logic.relays() & R_CLOSE == 0


def test_close_is_refused_while_the_photo_eye_is_blocked():
    logic, now = opened_logic()
    now = run_logic(logic, now, 50, OPEN | lb.IN_BEAM)
    res, detail = logic.barriers[0].command_close(now, 0)
    assert res == lb.E_OCCUPIED and detail == lb.IN_BEAM


def test_presence_while_closing_reverses_the_arm_at_once():
    logic, now = opened_logic()
    b = logic.barriers[0]
    assert b.command_close(now, 0)[0] == lb.OK
    assert logic.relays() & R_CLOSE
    now = run_logic(logic, now, 200, 0)  # arm leaves the open limit, lowering
    assert b.arm == lb.ARM_CLOSING
    now = run_logic(logic, now, 15, lb.IN_BEAM)  # a pedestrian steps into the beam
    assert b.arm == lb.ARM_OPENING
    assert logic.relays() & R_OPEN and not logic.relays() & R_CLOSE


def test_closing_edge_reverses_the_arm():
    logic, now = opened_logic()
    b = logic.barriers[0]
    b.command_close(now, 0)
    now = run_logic(logic, now, 200, 0)
    now = run_logic(logic, now, 15, lb.IN_EDGE)
    assert b.arm == lb.ARM_OPENING


def test_host_silence_never_closes_an_open_barrier():
    hal = FakeHal(now=1000, inputs=OPEN)
    board = IoBoard(hal)
    for _ in range(3000):  # 15 s of silence, well past HOST_SILENCE_MS
        board.step()
        hal.idle(5)
    assert board.logic.barriers[0].arm == lb.ARM_OPEN
    assert hal.outputs & (R_CLOSE | (R_CLOSE << BARRIER_SHIFT)) == 0


def test_debounce_ignores_a_short_glitch_on_release():
    logic, now = opened_logic()
    now = run_logic(logic, now, 50, OPEN | lb.IN_LOOP)
    now = run_logic(logic, now, DEBOUNCE_OFF_MS - 20, OPEN)  # loop drops out briefly
    now = run_logic(logic, now, 20, OPEN | lb.IN_LOOP)
    assert logic.barriers[0].inputs & lb.IN_LOOP


def test_estop_stops_motion_and_refuses_commands():
    logic, now = opened_logic()
    b = logic.barriers[0]
    b.command_close(now, 0)
    now = run_logic(logic, now, 100, 0)
    now = run_logic(logic, now, 30, IN_ESTOP)
    assert b.arm == lb.ARM_STOPPED
    assert logic.relays() & R_STOP
    assert b.command_open(now, logic.estop)[0] == lb.E_ESTOP


def test_travel_timeout_reports_a_fault_and_stops():
    logic = IoLogic()
    logic.update(0, CLOSED)
    b = logic.barriers[1]
    b.command_open(0, 0)
    run_logic(logic, 0, TRAVEL_TIMEOUT_MS + 100, CLOSED)  # the arm never leaves the closed limit
    assert b.arm == lb.ARM_FAULT and b.fault == lb.FAULT_ARM_TRAVEL


def test_board_replies_and_reports_refusal_as_event():
    hal = FakeHal(now=500, inputs=OPEN | lb.IN_LOOP)
    board = IoBoard(hal)
    for _ in range(10):
        board.step()
        hal.idle(5)
    hal.received()
    hal.send(7, lb.BARRIER_CLOSE, [0])
    board.step()
    pk = hal.received()
    r = reply_to(pk, 7, lb.BARRIER_CLOSE)
    assert r is not None and r.body[0] == lb.E_OCCUPIED
    evs = events_of(pk, lb.EV_BARRIER)
    assert evs and evs[0].body[1] == lb.BEV_REFUSED


def test_heartbeat_status_is_sent_every_period():
    hal = FakeHal(now=0, inputs=CLOSED)
    board = IoBoard(hal)
    for _ in range(int(3.5 * lb.HEARTBEAT_MS / 5)):
        board.step()
        hal.idle(5)
    assert len(events_of(hal.received(), lb.EV_STATUS)) == 3


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
    logic = IoLogic()
    logic.update(0, CLOSED | (CLOSED << BARRIER_SHIFT))
    logic.barriers[0].command_open(0, 0)
    raws = (0, lb.IN_LOOP, lb.IN_LOOP | lb.IN_BEAM, OPEN | lb.IN_BEAM, OPEN, OPEN | lb.IN_EDGE, IN_ESTOP)
    state = [0]

    def run():
        now = 5
        for raw in raws:
            for _ in range(30):
                now += 5
                logic.update(now, raw)
                while len(logic.events):
                    logic.events.pop_into(state)

    _heap_locked(run)
    assert logic.barriers[0].arm in (lb.ARM_STOPPED, lb.ARM_OPENING, lb.ARM_OPEN)


def test_stop_on_an_arm_at_rest_pulses_stop_and_reports_it():
    """Rule 4: every actuation is reported.  STOP on a closed arm still pulses the STOP circuit, so it is
    a BARRIER_EVENT `stopped` (detail 0 = STOP command) whose arm field keeps the arm's real state."""
    hal = FakeHal(now=500, inputs=CLOSED | (CLOSED << BARRIER_SHIFT))
    board = IoBoard(hal)
    for _ in range(5):
        board.step()
        hal.idle(5)
    hal.received()
    hal.send(8, lb.BARRIER_STOP, [1])
    board.step()
    pk = hal.received()
    r = reply_to(pk, 8, lb.BARRIER_STOP)
    assert r is not None and list(r.body) == [lb.OK, lb.ARM_CLOSED]
    assert hal.outputs & (R_STOP << BARRIER_SHIFT)
    evs = events_of(pk, lb.EV_BARRIER)
    assert [list(e.body) for e in evs] == [[1, lb.BEV_STOPPED, lb.ARM_CLOSED, 0]]
    assert board.logic.barriers[1].arm == lb.ARM_CLOSED


def test_stop_while_moving_reports_stopped_once():
    logic, now = opened_logic()
    b = logic.barriers[0]
    b.command_close(now, 0)
    while len(logic.events):
        logic.events.pop()
    assert b.command_stop(now)[0] == lb.OK
    assert b.arm == lb.ARM_STOPPED
    evs = []
    while len(logic.events):
        evs.append(logic.events.pop()[:4])
    assert evs == [(lb.EV_BARRIER, 0 | (lb.BEV_STOPPED << 4), lb.ARM_STOPPED, 0)]
