"""The RP2040 HAL (firmware/hal_rp2.py) on a stand-in `machine` module, under
the real MicroPython interpreter: pins, fail-safe input polarity, relays,
UART lane bus, watchdog, flash journal, and a whole IoBoard on it.
Under CPython (no time.ticks_ms) these tests return at once."""

import sys

from fake_machine import UART, UNIQUE_ID_HEX, Machine, Pin

from firmware import lanebus as lb

ON_MICROPYTHON = sys.implementation.name == "micropython"


def _hal_module():
    sys.modules["machine"] = Machine
    Pin.pins = {}
    from firmware import hal_rp2

    return hal_rp2


def _set_24v(gpios, present):
    for g in gpios:
        Pin.pins[g].v = 0 if present else 1


def test_io_inputs_are_fail_safe_and_limits_active_with_24v():
    if not ON_MICROPYTHON:
        return
    hal_rp2 = _hal_module()
    hal = hal_rp2.IoBoardHal(use_uart=True)
    _set_24v(range(12, 23), False)  # nothing connected: no 24 V anywhere
    word = hal.read_inputs()
    assert word & lb.PRESENCE_MASK == lb.PRESENCE_MASK  # cut wires read as presence
    assert word & (1 << 16)  # and as e-stop pressed
    assert not word & (lb.IN_LIMIT_OPEN | lb.IN_LIMIT_CLOSED)
    _set_24v(range(12, 23), True)
    word = hal.read_inputs()
    assert word & 0x1FFFF == (lb.IN_LIMIT_OPEN | lb.IN_LIMIT_CLOSED) * 0x101


def test_io_relays_follow_the_output_word():
    if not ON_MICROPYTHON:
        return
    hal_rp2 = _hal_module()
    from firmware.io_board import R_CLOSE, R_OPEN

    hal = hal_rp2.IoBoardHal(use_uart=True)
    hal.write_outputs(R_OPEN | (R_CLOSE << 8))
    assert Pin.pins[2].v == 1 and Pin.pins[8].v == 1
    assert Pin.pins[3].v == 0 and Pin.pins[7].v == 0


def test_issuer_journal_is_written_atomically_and_read_back():
    if not ON_MICROPYTHON:
        return
    hal_rp2 = _hal_module()
    hal = hal_rp2.PlateIssuerHal(use_uart=True)
    hal.journal_write(b"PLJ1abc")
    assert hal.journal_read() == b"PLJ1abc"
    hal.journal_write(b"PLJ1xyz")
    assert hal.journal_read() == b"PLJ1xyz"


def test_io_board_answers_hello_over_uart_and_feeds_the_watchdog():
    if not ON_MICROPYTHON:
        return
    hal_rp2 = _hal_module()
    from firmware.io_board import IoBoard

    hal = hal_rp2.IoBoardHal(use_uart=True, watchdog=True)
    _set_24v(range(12, 23), True)
    board = IoBoard(hal)
    uart = UART.last
    body = lb.pack_fields(lb.request_fields(lb.HELLO), [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 7])
    uart.rx.extend(lb.encode_frame(5, lb.HELLO, body))
    for _ in range(3):
        board.step()
    replies = [p for p in lb.FrameDecoder().feed(bytes(uart.tx)) if p.mtype == lb.HELLO | lb.REPLY_FLAG]
    assert replies and replies[0].seq == 5
    vals = lb.unpack_fields(lb.reply_fields(lb.HELLO), replies[0].body, 1)
    assert vals[-1] == UNIQUE_ID_HEX
    assert hal.wdt.fed >= 3


def test_board_cfg_selects_the_board_kind_and_the_uart():
    if not ON_MICROPYTHON:
        return
    from firmware.main import read_board_cfg

    with open("/board_test.cfg", "w") as f:
        f.write("plate-issuer uart\n")
    assert read_board_cfg("/board_test.cfg") == ("plate-issuer", True)
    assert read_board_cfg("/no-such.cfg") == ("io-board", False)
