"""The real HAL for a Raspberry Pi Pico (RP2040) running MicroPython.

Pin map and wiring: hardware_specs/io-board.md, plate-issuer.md and
vehicle-board.md.  The firmware cores never import `machine`; only this file
does.

Opto-isolated 24 V inputs pull their GPIO low when 24 V is present.  Safety
inputs (loops, photo-eyes, closing edges, e-stop) are wired fail-safe: 24 V
means "clear", so a cut wire or an unpowered sensor reads as presence.
"""

import os
import random
import select
import sys
import time

import machine
import micropython

from firmware import lanebus as lb
from firmware.io_board import BARRIER_SHIFT, IN_ESTOP, R_CLOSE, R_GREEN, R_OPEN, R_RED, R_STOP
from firmware.plate_issuer import S_MAGAZINE_EMPTY, S_PRINTER_BUSY, S_PRINTER_ERROR
from firmware.vehicle_board import PULSE_COUNT_MASK

JOURNAL_PATH = "/journal.bin"
JOURNAL_TMP = "/journal.tmp"
WDT_TIMEOUT_MS = 2000

# I/O board: (GPIO, relay bit) per barrier; exit relays are shifted by 8
IO_RELAY_PINS = (
    (2, R_OPEN),
    (3, R_CLOSE),
    (4, R_STOP),
    (5, R_RED),
    (6, R_GREEN),
    (7, R_OPEN << BARRIER_SHIFT),
    (8, R_CLOSE << BARRIER_SHIFT),
    (9, R_STOP << BARRIER_SHIFT),
    (10, R_RED << BARRIER_SHIFT),
    (11, R_GREEN << BARRIER_SHIFT),
)
# (GPIO, input bit, fail-safe): fail-safe inputs read 1 (presence) without 24 V
IO_INPUT_PINS = (
    (12, lb.IN_LOOP, True),
    (13, lb.IN_BEAM, True),
    (14, lb.IN_EDGE, True),
    (15, lb.IN_LIMIT_OPEN, False),
    (16, lb.IN_LIMIT_CLOSED, False),
    (17, lb.IN_LOOP << BARRIER_SHIFT, True),
    (18, lb.IN_BEAM << BARRIER_SHIFT, True),
    (19, lb.IN_EDGE << BARRIER_SHIFT, True),
    (20, lb.IN_LIMIT_OPEN << BARRIER_SHIFT, False),
    (21, lb.IN_LIMIT_CLOSED << BARRIER_SHIFT, False),
    (22, IN_ESTOP, True),
)

# plate issuer outputs (to the mechanism's driver board) and inputs
ISSUER_FEED_PINS = (2, 3, 4)  # feeder solenoid per magazine (blue, green, yellow)
ISSUER_PRINT_PIN = 5  # printer/stamper start (held while printing)
ISSUER_EJECT_PIN = 6  # ejector motor
ISSUER_SENSOR_PINS = (
    (12, lb.S_COVER_OPEN, True),
    (13, lb.S_TRAY_OCCUPIED, False),
    (14, lb.S_PLATE_AT_PRINTER, False),
    (15, lb.S_EXIT_BEAM, False),
    (16, S_PRINTER_BUSY, False),
    (17, S_PRINTER_ERROR, False),
    # magazine empty per plate type (blue, green, yellow), fail-safe
    (18, S_MAGAZINE_EMPTY[0], True),
    (19, S_MAGAZINE_EMPTY[1], True),
    (20, S_MAGAZINE_EMPTY[2], True),
)

# vehicle board: (GPIO, signal id, inverted) of the opto-isolated 12 V switch
# inputs.  Current through the optocoupler pulls the GPIO low and means the
# signal is true; `inverted` is for a car whose switch works the other way
# (vehicle-board.md, "Polarity").  The tach input counts falling edges.
VEHICLE_INPUT_PINS = (
    (2, lb.SIG_SEAT_BELT, False),
    (3, lb.SIG_DOOR_OPEN, False),
    (4, lb.SIG_HANDBRAKE, False),
    (5, lb.SIG_GEAR_NEUTRAL, False),
    (6, lb.SIG_GEAR_REVERSE, False),
    (7, lb.SIG_CLUTCH, False),
    (8, lb.SIG_BRAKE, False),
    (9, lb.SIG_TURN_LEFT, False),
    (10, lb.SIG_TURN_RIGHT, False),
    (11, lb.SIG_IGNITION, False),
)
VEHICLE_TACH_PIN = 12
TACH_HOLDOFF_US = 200  # edges closer than this are ringing, not pulses (5 kHz is past any engine)


class _Serial:
    """Lane bus over USB CDC (default) or UART0 on GP0/GP1 at 115200 8N1."""

    def __init__(self, use_uart):
        self.uart = None
        if use_uart:
            self.uart = machine.UART(
                0, baudrate=115200, bits=8, parity=None, stop=1, tx=machine.Pin(0), rx=machine.Pin(1), rxbuf=512
            )
        else:
            micropython.kbd_intr(-1)  # 0x03 on the line is data, not Ctrl-C
            self._poll = select.poll()
            self._poll.register(sys.stdin, select.POLLIN)
            self._in = sys.stdin.buffer
            self._out = sys.stdout.buffer

    def read(self, buf):
        if self.uart is not None:
            n = self.uart.readinto(buf)
            return n or 0
        n = 0
        while n < len(buf) and self._poll.poll(0):
            b = self._in.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n

    def write(self, data):
        if self.uart is not None:
            self.uart.write(data)
        else:
            self._out.write(data)


class _CommonHal:
    def __init__(self, use_uart=False, watchdog=True):
        self.serial = _Serial(use_uart)
        self.wdt = machine.WDT(timeout=WDT_TIMEOUT_MS) if watchdog else None
        self.led = machine.Pin(25, machine.Pin.OUT)
        try:
            self._boot_id = int.from_bytes(os.urandom(4), "big")  # RP2040 ring-oscillator entropy
        except AttributeError:  # ports without os.urandom
            self._boot_id = random.getrandbits(32)
        self._led_t = time.ticks_ms()

    def ticks_ms(self):
        return time.ticks_ms()

    def serial_read(self, buf):
        return self.serial.read(buf)

    def serial_write(self, data):
        self.serial.write(data)

    def feed_watchdog(self):
        if self.wdt is not None:
            self.wdt.feed()
        now = time.ticks_ms()
        if time.ticks_diff(now, self._led_t) > 500:
            self._led_t = now
            self.led.toggle()

    def idle(self, ms):
        time.sleep_ms(ms)

    def board_id(self):
        return "".join("%02x" % b for b in machine.unique_id())

    def boot_id(self):
        return self._boot_id


def _read_pins(pins):
    word = 0
    for pin, bit, failsafe in pins:
        has_24v = pin.value() == 0
        if has_24v != failsafe:
            word |= bit
    return word


class IoBoardHal(_CommonHal):
    def __init__(self, use_uart=False, watchdog=True):
        super().__init__(use_uart, watchdog)
        self.relays = [(machine.Pin(g, machine.Pin.OUT, value=0), bit) for g, bit in IO_RELAY_PINS]
        self.inputs = [(machine.Pin(g, machine.Pin.IN, machine.Pin.PULL_UP), bit, fs) for g, bit, fs in IO_INPUT_PINS]

    def read_inputs(self):
        return _read_pins(self.inputs)

    def write_outputs(self, word):
        for pin, bit in self.relays:
            pin.value(1 if word & bit else 0)


class PlateIssuerHal(_CommonHal):
    def __init__(self, use_uart=False, watchdog=True):
        super().__init__(use_uart, watchdog)
        self.feed = [machine.Pin(g, machine.Pin.OUT, value=0) for g in ISSUER_FEED_PINS]
        self.print_pin = machine.Pin(ISSUER_PRINT_PIN, machine.Pin.OUT, value=0)
        self.eject_pin = machine.Pin(ISSUER_EJECT_PIN, machine.Pin.OUT, value=0)
        self.sensors = [
            (machine.Pin(g, machine.Pin.IN, machine.Pin.PULL_UP), bit, fs) for g, bit, fs in ISSUER_SENSOR_PINS
        ]
        self.print_uart = machine.UART(1, baudrate=115200, tx=machine.Pin(8), rx=machine.Pin(9))

    def read_sensors(self):
        return _read_pins(self.sensors)

    def start_feed(self, plate_type):
        for i in range(len(self.feed)):
            self.feed[i].value(1 if i == plate_type else 0)

    def start_print(self, text):
        for p in self.feed:
            p.value(0)
        self.print_uart.write(text)  # the stamper's driver takes the text on UART1
        self.print_uart.write(b"\n")
        self.print_pin.value(1)

    def start_eject(self):
        self.print_pin.value(0)
        self.eject_pin.value(1)

    def stop_mechanism(self):
        for p in self.feed:
            p.value(0)
        self.print_pin.value(0)
        self.eject_pin.value(0)

    def journal_read(self):
        try:
            with open(JOURNAL_PATH, "rb") as f:
                return f.read()
        except OSError:
            return None

    def journal_write(self, data):
        with open(JOURNAL_TMP, "wb") as f:
            f.write(data)
        os.rename(JOURNAL_TMP, JOURNAL_PATH)  # atomic on littlefs


class VehicleBoardHal(_CommonHal):
    """Switch inputs read as a word; tach pulses counted by a hard IRQ on the
    falling edge (the optocoupler pulls the pin low per pulse).  The counter
    wraps at PULSE_COUNT_MASK so it stays a small int: the IRQ never allocates."""

    def __init__(self, use_uart=False, watchdog=True):
        super().__init__(use_uart, watchdog)
        try:
            micropython.alloc_emergency_exception_buf(100)  # a traceback from the IRQ, should it fail
        except AttributeError:  # ports without it
            pass
        self.signal_pins = [
            (machine.Pin(g, machine.Pin.IN, machine.Pin.PULL_UP), 1 << sig, inv) for g, sig, inv in VEHICLE_INPUT_PINS
        ]
        self._pulses = 0
        self._last_pulse_us = time.ticks_us()
        self.tach = machine.Pin(VEHICLE_TACH_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self.tach.irq(handler=self._on_tach_edge, trigger=machine.Pin.IRQ_FALLING, hard=True)

    def _on_tach_edge(self, _pin):
        t = time.ticks_us()
        if time.ticks_diff(t, self._last_pulse_us) >= TACH_HOLDOFF_US:
            self._last_pulse_us = t
            self._pulses = (self._pulses + 1) & PULSE_COUNT_MASK

    def read_signals(self):
        word = 0
        for pin, bit, inverted in self.signal_pins:
            if (pin.value() == 0) != inverted:
                word |= bit
        return word

    def pulse_count(self):
        return self._pulses
