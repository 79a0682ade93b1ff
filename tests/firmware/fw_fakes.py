"""Test doubles shared by the firmware tests (MicroPython-compatible)."""

from firmware import lanebus as lb


class FakeHal:
    """Records what the firmware writes; time and inputs are set by the test."""

    def __init__(self, now=0, inputs=0, sensors=0):
        self.now = now
        self.inputs = inputs
        self.sensors = sensors
        self.outputs = 0
        self.rx = bytearray()
        self.tx = bytearray()
        self.journal = None
        self.mech = []
        self.fed = 0

    def ticks_ms(self):
        return self.now

    def serial_read(self, buf):
        n = min(len(buf), len(self.rx))
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n

    def serial_write(self, data):
        self.tx.extend(data)

    def feed_watchdog(self):
        self.fed += 1

    def idle(self, ms):
        self.now += ms

    def board_id(self):
        return "test-board"

    def boot_id(self):
        return 42

    def read_inputs(self):
        return self.inputs

    def write_outputs(self, word):
        self.outputs = word

    def read_sensors(self):
        return self.sensors

    def start_feed(self, plate_type):
        self.mech.append(("feed", plate_type))

    def start_print(self, text):
        self.mech.append(("print", bytes(text)))

    def start_eject(self):
        self.mech.append(("eject",))

    def stop_mechanism(self):
        self.mech.append(("stop",))

    def journal_read(self):
        return self.journal

    def journal_write(self, data):
        self.journal = bytes(data)

    # helpers
    def send(self, seq, mtype, values=None, kind=lb.KIND_IO_BOARD, version=lb.VERSION_BYTE, body=None):
        if body is None:
            fields = lb.request_fields(mtype, kind) or ()
            body = lb.pack_fields(fields, values or [])
        self.rx.extend(lb.encode_frame(seq, mtype, body, version))

    def received(self):
        """Packets the firmware wrote since the last call."""
        d = lb.FrameDecoder()
        out = d.feed(bytes(self.tx))
        self.tx = bytearray()
        return out


def reply_to(packets, seq, mtype):
    for p in packets:
        if p.seq == seq and (p.mtype == mtype | lb.REPLY_FLAG or p.mtype == lb.NAK):
            return p
    return None


def events_of(packets, mtype):
    return [p for p in packets if p.mtype == mtype]
