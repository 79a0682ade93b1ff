"""A stand-in for MicroPython's `machine` module, for the RP2040 HAL tests (test_fw_*hal_rp2.py).

It records what the HAL does to pins, the UART and the watchdog, and lets a test drive
them (pin levels, received bytes, a falling edge on an interrupt pin). Plain Python that
runs under MicroPython and CPython alike."""


class Pin:
    OUT = 1
    IN = 0
    PULL_UP = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    pins = {}

    def __init__(self, gpio, mode=-1, pull=-1, value=None):
        self.gpio = gpio
        self.mode = mode
        self.v = value if value is not None else 1  # pull-up: high while no current flows in the opto (no 24 V)
        self.handler = None
        self.trigger = 0
        self.hard = False
        Pin.pins[gpio] = self

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v

    def toggle(self):
        self.v = 1 - self.v

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.trigger = trigger
        self.hard = hard

    def falling_edge(self):
        """The optocoupler pulls the pin low: what the hardware would interrupt on."""
        if self.handler is not None and self.trigger & Pin.IRQ_FALLING:
            self.handler(self)


class UART:
    last = None  # the lane-bus UART (id 0) most recently opened

    def __init__(self, uid, baudrate=115200, **kw):
        self.uid = uid
        self.rx = bytearray()
        self.tx = bytearray()
        if uid == 0:
            UART.last = self

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        if not n:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n

    def write(self, data):
        self.tx.extend(data)


class WDT:
    def __init__(self, timeout=0):
        self.timeout = timeout
        self.fed = 0

    def feed(self):
        self.fed += 1


UNIQUE_ID = b"\xe6\x61\x41\x04\x03\x2b\x5c\x2f"
UNIQUE_ID_HEX = b"e6614104032b5c2f"


class Machine:
    Pin = Pin
    UART = UART
    WDT = WDT

    @staticmethod
    def unique_id():
        return UNIQUE_ID
