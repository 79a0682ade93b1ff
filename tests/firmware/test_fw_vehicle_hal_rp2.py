"""The vehicle board's RP2040 HAL (firmware/hal_rp2.py VehicleBoardHal) on a
stand-in `machine` and clock, under the real MicroPython interpreter: input
polarity, the tach IRQ counter with its hold-off, board.cfg's `ppr=`, and a
whole VehicleBoard answering HELLO over the UART.
Under CPython (no `machine`, no time.ticks_us) these tests return at once."""

import sys

from fake_machine import UART, UNIQUE_ID_HEX, Machine, Pin

from firmware import lanebus as lb

ON_MICROPYTHON = sys.implementation.name == "micropython"


class _Clock:
    """time for the HAL: ticks_us set by the test, the rest MicroPython's own."""

    us = 0

    @staticmethod
    def ticks_us():
        return _Clock.us

    @staticmethod
    def ticks_ms():
        import time

        return time.ticks_ms()

    @staticmethod
    def ticks_diff(a, b):
        import time

        return time.ticks_diff(a, b)

    @staticmethod
    def sleep_ms(ms):
        pass


def _with_hal(fn):
    """Run fn(hal_rp2) with the stand-ins in place, then put the module's own back
    (hal_rp2 is imported once per interpreter: another test file may have imported it first)."""
    if "machine" not in sys.modules:
        sys.modules["machine"] = Machine
    from firmware import hal_rp2

    saved = hal_rp2.machine, hal_rp2.time
    hal_rp2.machine, hal_rp2.time = Machine, _Clock
    Pin.pins = {}
    _Clock.us = 1000
    try:
        fn(hal_rp2)
    finally:
        hal_rp2.machine, hal_rp2.time = saved


def _current(gpios, flowing):
    """Current through the optocoupler of each input pulls its GPIO low."""
    for g in gpios:
        Pin.pins[g].v = 0 if flowing else 1


def test_vehicle_inputs_are_true_while_current_flows_in_the_opto():
    if not ON_MICROPYTHON:
        return

    def check(hal_rp2):
        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=False)
        gpios = [g for g, _, _ in hal_rp2.VEHICLE_INPUT_PINS]
        _current(gpios, False)  # nothing connected: every signal false
        assert hal.read_signals() == 0
        _current(gpios, True)
        assert hal.read_signals() == (1 << (lb.SIG_IGNITION + 1)) - 1
        _current(gpios, False)
        belt = [g for g, sig, _ in hal_rp2.VEHICLE_INPUT_PINS if sig == lb.SIG_SEAT_BELT][0]
        _current([belt], True)
        assert hal.read_signals() == 1 << lb.SIG_SEAT_BELT

    _with_hal(check)


def test_an_inverted_input_is_true_without_current():
    if not ON_MICROPYTHON:
        return

    def check(hal_rp2):
        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=False)
        pin, bit, _ = hal.signal_pins[0]
        hal.signal_pins[0] = (pin, bit, True)  # a buckle switch that opens when the belt is fastened
        pin.v = 1
        assert hal.read_signals() == bit
        pin.v = 0
        assert hal.read_signals() == 0

    _with_hal(check)


def test_tach_irq_counts_falling_edges_and_ignores_ringing_within_the_hold_off():
    if not ON_MICROPYTHON:
        return

    def check(hal_rp2):
        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=False)
        tach = Pin.pins[hal_rp2.VEHICLE_TACH_PIN]
        assert tach.hard and tach.trigger == Pin.IRQ_FALLING
        start = hal.pulse_count()
        for _ in range(10):
            _Clock.us += 5000  # a clean pulse every 5 ms (6000 rpm at two per revolution)
            tach.falling_edge()
            _Clock.us += hal_rp2.TACH_HOLDOFF_US // 4
            tach.falling_edge()  # ringing on the same edge
        assert hal.pulse_count() - start == 10

    _with_hal(check)


def test_tach_counter_wraps_as_a_small_int():
    if not ON_MICROPYTHON:
        return

    def check(hal_rp2):
        from firmware.vehicle_board import PULSE_COUNT_MASK

        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=False)
        hal._pulses = PULSE_COUNT_MASK
        _Clock.us += 10000
        Pin.pins[hal_rp2.VEHICLE_TACH_PIN].falling_edge()
        assert hal.pulse_count() == 0

    _with_hal(check)


def test_tach_irq_handler_does_not_allocate():
    if not ON_MICROPYTHON:
        return
    import micropython

    def check(hal_rp2):
        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=False)
        handler = Pin.pins[hal_rp2.VEHICLE_TACH_PIN].handler
        tach = Pin.pins[hal_rp2.VEHICLE_TACH_PIN]
        micropython.heap_lock()
        try:
            for _ in range(50):
                _Clock.us += 1000
                handler(tach)
        finally:
            micropython.heap_unlock()
        assert hal.pulse_count() == 50

    _with_hal(check)


def test_vehicle_board_answers_hello_over_uart_as_kind_3():
    if not ON_MICROPYTHON:
        return

    def check(hal_rp2):
        from firmware.vehicle_board import VehicleBoard

        hal = hal_rp2.VehicleBoardHal(use_uart=True, watchdog=True)
        board = VehicleBoard(hal)
        uart = UART.last
        body = lb.pack_fields(lb.request_fields(lb.HELLO), [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 9])
        uart.rx.extend(lb.encode_frame(4, lb.HELLO, body))
        for _ in range(3):
            board.step()
        replies = [p for p in lb.FrameDecoder().feed(bytes(uart.tx)) if p.mtype == lb.HELLO | lb.REPLY_FLAG]
        assert replies and replies[0].seq == 4
        vals = lb.unpack_fields(lb.reply_fields(lb.HELLO), replies[0].body, 1)
        assert vals[0] == lb.KIND_VEHICLE_BOARD and vals[-1] == UNIQUE_ID_HEX
        assert hal.wdt.fed >= 3

    _with_hal(check)


def test_board_cfg_selects_the_vehicle_board_and_its_pulses_per_revolution():
    if not ON_MICROPYTHON:
        return
    from firmware.main import read_board_cfg, read_pulses_per_rev_x10

    cases = (
        ("vehicle-board ppr=1\n", 10),
        ("vehicle-board uart ppr=0.5\n", 5),
        ("vehicle-board\n", 20),
        ("vehicle-board ppr=99\n", 20),
        ("vehicle-board ppr=x\n", 20),
        ("vehicle-board ppr=4\n", 40),
    )
    for text, want in cases:
        with open("/board_vehicle.cfg", "w") as f:
            f.write(text)
        assert read_board_cfg("/board_vehicle.cfg")[0] == "vehicle-board"
        assert read_pulses_per_rev_x10("/board_vehicle.cfg") == want, text
    assert read_pulses_per_rev_x10("/no-such.cfg") == 20
