"""Lane-bus codec: the one definition of the serial protocol between a
Raspberry Pi (host) and an RP2040 board.

Written in the subset of Python that both MicroPython (on the board) and
CPython (the host driver, the simulator, the tests) run.  Pure: bytes in,
packets out; no I/O, no clock.  hardware_specs/lane-bus.md is the human
version of this module and a test checks that the two agree.

Packet (before COBS):  version u8 | seq u16 | type u8 | body ... | crc u16
All multi-byte integers are big-endian.  The CRC is CRC-16/CCITT-FALSE over
version..body.  On the wire the packet is COBS-encoded and followed by one
0x00 byte.
"""

PROTOCOL_MAJOR = 1
PROTOCOL_MINOR = 0
VERSION_BYTE = (PROTOCOL_MAJOR << 4) | PROTOCOL_MINOR

HEADER_LEN = 4  # version, seq (2), type
CRC_LEN = 2
MAX_BODY = 96
MAX_PACKET = HEADER_LEN + MAX_BODY + CRC_LEN  # 102
# COBS adds one byte per started block of 254 bytes, plus the 0x00 delimiter.
MAX_FRAME = MAX_PACKET + 1 + 1  # 104 bytes on the wire, delimiter included
MIN_PACKET = HEADER_LEN + CRC_LEN

# ---------------------------------------------------------------- timing (ms)
HEARTBEAT_MS = 1000  # board sends a STATUS event at least this often
HOST_REPLY_TIMEOUT_MS = 250  # host retransmits a command after this silence
HOST_MAX_ATTEMPTS = 12  # host gives up (BoardOffline) after this many sends
BOARD_REPLY_MS = 50  # board answers a command within this time
OFFLINE_AFTER_MS = 3500  # host declares the board offline after this silence
HOST_PING_IDLE_MS = 1000  # host sends PING when it has sent nothing for this long
HOST_SILENCE_MS = 5000  # board reports host_link=0 after this silence
DEDUP_DEPTH = 8  # replies the board remembers for retransmitted commands
EVENT_WINDOW = 16  # events the board keeps until the host acknowledges them
EVENT_RETRY_MS = 300  # board re-sends unacknowledged events after this long
EVENT_GIVE_UP_MS = 2000  # host skips a missing event after waiting this long for it

# ---------------------------------------------------------------- board kinds
KIND_IO_BOARD = 1
KIND_PLATE_ISSUER = 2
KIND_VEHICLE_BOARD = 3
KIND_NAMES = {KIND_IO_BOARD: "io-board", KIND_PLATE_ISSUER: "plate-issuer", KIND_VEHICLE_BOARD: "vehicle-board"}

# ---------------------------------------------------------------- message types
HELLO = 0x01
PING = 0x02
GET_STATUS = 0x03
EVENT_ACK = 0x04
BARRIER_OPEN = 0x10
BARRIER_CLOSE = 0x11
BARRIER_STOP = 0x12
SET_LIGHT = 0x13
ISSUE = 0x20
JOB_STATUS = 0x21
CLEAR_FAULT = 0x22
SET_TACH = 0x30
EV_STATUS = 0x40
EV_BARRIER = 0x41
EV_INPUT = 0x42
EV_ESTOP = 0x43
EV_HOST_LINK = 0x44
EV_JOB_PROGRESS = 0x50
EV_JOB_DONE = 0x51
EV_FAULT = 0x52
EV_SIGNAL = 0x60
NAK = 0xFF
REPLY_FLAG = 0x80  # the reply to command T has type T | 0x80

# Status records (the body of the GET_STATUS reply and of the STATUS event).
IO_STATUS = (
    ("uptime_ms", "u32"),
    ("estop", "u8"),
    ("host_link", "u8"),
    ("entry_arm", "u8"),
    ("entry_inputs", "u8"),
    ("entry_light", "u8"),
    ("entry_fault", "u8"),
    ("exit_arm", "u8"),
    ("exit_inputs", "u8"),
    ("exit_light", "u8"),
    ("exit_fault", "u8"),
)
ISSUER_STATUS = (
    ("uptime_ms", "u32"),
    ("state", "u8"),
    ("fault", "u8"),
    ("sensors", "u8"),
    ("magazines_empty", "u8"),
    ("job_id", "str"),
    ("job_state", "u8"),
    ("plates_done", "u8"),
)
JOB_RECORD = (
    ("job_id", "str"),
    ("plate_type", "u8"),
    ("state", "u8"),
    ("plates_done", "u8"),
    ("fault", "u8"),
)
# signals: bit n set = on/off signal n (VEHICLE_SIGNAL_NAMES) is true
VEHICLE_STATUS = (
    ("uptime_ms", "u32"),
    ("host_link", "u8"),
    ("signals", "u16"),
    ("engine_rpm", "u16"),
    ("pulses_per_rev_x10", "u8"),
)

# code, name, direction, request/event fields, reply fields (after the result byte)
# A field list given as a string names a record above.
MESSAGES = (
    (
        HELLO,
        "HELLO",
        "host->board",
        (("proto_major", "u8"), ("proto_minor", "u8"), ("session", "u32")),
        (
            ("kind", "u8"),
            ("proto_major", "u8"),
            ("proto_minor", "u8"),
            ("fw_major", "u8"),
            ("fw_minor", "u8"),
            ("fw_patch", "u8"),
            ("boot_id", "u32"),
            ("event_seq", "u16"),
            ("board_id", "str"),
        ),
    ),
    (PING, "PING", "host->board", (), (("uptime_ms", "u32"),)),
    (GET_STATUS, "GET_STATUS", "host->board", (), "STATUS"),
    (EVENT_ACK, "EVENT_ACK", "host->board", (("seq", "u16"),), None),
    (BARRIER_OPEN, "BARRIER_OPEN", "host->board", (("barrier", "u8"),), (("arm", "u8"),)),
    (BARRIER_CLOSE, "BARRIER_CLOSE", "host->board", (("barrier", "u8"),), (("arm", "u8"),)),
    (BARRIER_STOP, "BARRIER_STOP", "host->board", (("barrier", "u8"),), (("arm", "u8"),)),
    (SET_LIGHT, "SET_LIGHT", "host->board", (("barrier", "u8"), ("light", "u8")), (("light", "u8"),)),
    (ISSUE, "ISSUE", "host->board", (("job_id", "str"), ("plate_type", "u8"), ("text", "str")), "JOB_RECORD"),
    (JOB_STATUS, "JOB_STATUS", "host->board", (("job_id", "str"),), "JOB_RECORD"),
    (CLEAR_FAULT, "CLEAR_FAULT", "host->board", (), (("state", "u8"), ("fault", "u8"))),
    (SET_TACH, "SET_TACH", "host->board", (("pulses_per_rev_x10", "u8"),), (("pulses_per_rev_x10", "u8"),)),
    (EV_STATUS, "STATUS", "board->host", "STATUS", None),
    (
        EV_BARRIER,
        "BARRIER_EVENT",
        "board->host",
        (("barrier", "u8"), ("event", "u8"), ("arm", "u8"), ("detail", "u8")),
        None,
    ),
    (EV_INPUT, "INPUT_CHANGED", "board->host", (("barrier", "u8"), ("input", "u8"), ("state", "u8")), None),
    (EV_ESTOP, "ESTOP_CHANGED", "board->host", (("state", "u8"),), None),
    (EV_HOST_LINK, "HOST_LINK", "board->host", (("state", "u8"),), None),
    (EV_JOB_PROGRESS, "JOB_PROGRESS", "board->host", "JOB_RECORD", None),
    (EV_JOB_DONE, "JOB_DONE", "board->host", "JOB_RECORD", None),
    (EV_FAULT, "FAULT", "board->host", (("fault", "u8"), ("state", "u8"), ("job_id", "str")), None),
    (EV_SIGNAL, "SIGNAL_CHANGED", "board->host", (("signal", "u8"), ("value", "u16")), None),
    (NAK, "NAK", "board->host", (("code", "u8"), ("detail", "u8")), None),
)

# ---------------------------------------------------------------- result / refusal codes
OK = 0
E_BAD_VERSION = 1
E_UNKNOWN_TYPE = 2
E_BAD_LENGTH = 3
E_BAD_FIELD = 4
E_FRAME_TOO_LONG = 5
E_NOT_SUPPORTED = 6
E_OCCUPIED = 16
E_ESTOP = 17
E_BARRIER_FAULT = 18
E_BUSY = 32
E_MAGAZINE_EMPTY = 33
E_COVER_OPEN = 34
E_FAULTED = 35
E_UNKNOWN_JOB = 36
E_JOB_CONFLICT = 37

# code, name, meaning, what the one detail byte after a refused result carries
RESULTS = (
    (OK, "OK", "command accepted / executed", "none: the reply fields follow"),
    (E_BAD_VERSION, "BAD_VERSION", "protocol major version differs", "the board's protocol major"),
    (E_UNKNOWN_TYPE, "UNKNOWN_TYPE", "message type not in the table, or not a command", "the type"),
    (E_BAD_LENGTH, "BAD_LENGTH", "body shorter or longer than the type's layout", "0"),
    (E_BAD_FIELD, "BAD_FIELD", "a field is out of range, or a str field is not UTF-8", "0-based index of the field"),
    (E_FRAME_TOO_LONG, "FRAME_TOO_LONG", "frame longer than MAX_FRAME; sent as NAK with seq 0", "0"),
    (E_NOT_SUPPORTED, "NOT_SUPPORTED", "known type, but not for this kind of board", "the type"),
    (E_OCCUPIED, "OCCUPIED", "close refused: loop, photo-eye or edge reports presence", "the presence input bits"),
    (E_ESTOP, "ESTOP", "motion refused: emergency stop is pressed", "0"),
    (E_BARRIER_FAULT, "BARRIER_FAULT", "reserved: barrier controller fault", "0"),
    (E_BUSY, "BUSY", "issuer is working on another job", "0"),
    (E_MAGAZINE_EMPTY, "MAGAZINE_EMPTY", "no blank plates of that type", "the plate type"),
    (E_COVER_OPEN, "COVER_OPEN", "issuer cover is open", "0"),
    (E_FAULTED, "FAULTED", "issuer has an uncleared fault", "the fault code"),
    (E_UNKNOWN_JOB, "UNKNOWN_JOB", "no job with that id in the journal", "0"),
    (E_JOB_CONFLICT, "JOB_CONFLICT", "job id already used with another plate type or text", "0"),
)


# ---------------------------------------------------------------- enumerations
BARRIERS = ("entry", "exit")
ARM_UNKNOWN = 0
ARM_CLOSED = 1
ARM_OPENING = 2
ARM_OPEN = 3
ARM_CLOSING = 4
ARM_STOPPED = 5
ARM_FAULT = 6
ARM_NAMES = ("unknown", "closed", "opening", "open", "closing", "stopped", "fault")

LIGHT_OFF = 0
LIGHT_RED = 1
LIGHT_GREEN = 2
LIGHT_NAMES = ("off", "red", "green")

# bits of the *_inputs status fields (debounced)
IN_LOOP = 1
IN_BEAM = 2
IN_EDGE = 4
IN_LIMIT_OPEN = 8
IN_LIMIT_CLOSED = 16
PRESENCE_MASK = IN_LOOP | IN_BEAM | IN_EDGE
INPUT_NAMES = (
    (IN_LOOP, "loop"),
    (IN_BEAM, "beam"),
    (IN_EDGE, "edge"),
    (IN_LIMIT_OPEN, "limit_open"),
    (IN_LIMIT_CLOSED, "limit_closed"),
)

BEV_OPENING = 1
BEV_OPENED = 2
BEV_CLOSING = 3
BEV_CLOSED = 4
BEV_REVERSED = 5
BEV_STOPPED = 6
BEV_REFUSED = 7
BEV_FAULT = 8
BARRIER_EVENT_NAMES = ("", "opening", "opened", "closing", "closed", "reversed", "stopped", "refused", "fault")

# Plate issuer
PLATE_TYPES = ("blue", "green", "yellow")  # ordinary small car, new-energy small car, large vehicle
ISSUER_IDLE = 0
ISSUER_FEEDING = 1
ISSUER_PRINTING = 2
ISSUER_EJECTING = 3
ISSUER_FAULT = 4
ISSUER_STATE_NAMES = ("idle", "feeding", "printing", "ejecting", "fault")

JOB_NONE = 0
JOB_ACCEPTED = 1
JOB_FEEDING = 2
JOB_PRINTING = 3
JOB_EJECTING = 4
JOB_DONE = 5
JOB_PAUSED = 6
JOB_INTERRUPTED = 7
JOB_STATE_NAMES = ("none", "accepted", "feeding", "printing", "ejecting", "done", "paused", "interrupted")

FAULT_NONE = 0
FAULT_JAM = 1
FAULT_MAGAZINE_EMPTY = 2
FAULT_COVER_OPEN = 3
FAULT_PRINT_FAILURE = 4
FAULT_RESET_DURING_JOB = 5
FAULT_ARM_TRAVEL = 6
FAULT_NAMES = ("none", "jam", "magazine_empty", "cover_open", "print_failure", "reset_during_job", "arm_travel")

# issuer sensor bits (ISSUER_STATUS.sensors)
S_COVER_OPEN = 1
S_TRAY_OCCUPIED = 2
S_PLATE_AT_PRINTER = 4
S_EXIT_BEAM = 8

# Vehicle board: the test car's signals, by id (SIGNAL_CHANGED.signal, bit n of
# VEHICLE_STATUS.signals).  The names are exam_vehicle.signals.Signal's values.
SIG_SEAT_BELT = 0
SIG_DOOR_OPEN = 1
SIG_HANDBRAKE = 2
SIG_GEAR_NEUTRAL = 3
SIG_GEAR_REVERSE = 4
SIG_CLUTCH = 5
SIG_BRAKE = 6
SIG_TURN_LEFT = 7
SIG_TURN_RIGHT = 8
SIG_IGNITION = 9
SIG_ENGINE_RUNNING = 10
SIG_ENGINE_RPM = 11  # the one signal that is a number (rpm), not on/off
VEHICLE_SIGNAL_NAMES = (
    "seat_belt",
    "door_open",
    "handbrake",
    "gear_neutral",
    "gear_reverse",
    "clutch",
    "brake",
    "turn_left",
    "turn_right",
    "ignition",
    "engine_running",
    "engine_rpm",
)
MIN_PULSES_PER_REV_X10 = 5  # 0.5 pulses per revolution (one-cylinder four-stroke)
MAX_PULSES_PER_REV_X10 = 120  # 12 pulses per revolution

MAX_JOB_ID = 32  # bytes
MAX_TEXT = 24  # bytes of UTF-8 (a province character takes 3)


class LaneBusError(Exception):
    """Anything wrong with bytes received from the line."""


class CrcError(LaneBusError):
    pass


class FrameError(LaneBusError):
    pass


class FieldError(LaneBusError):
    """A body does not match its message's field layout."""

    def __init__(self, msg, index=0):
        super().__init__(msg)
        self.index = index


# ---------------------------------------------------------------- CRC, COBS
def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def cobs_encode(data):
    out = bytearray()
    code_pos = 0
    out.append(0)
    code = 1
    for b in data:
        if b == 0:
            out[code_pos] = code
            code_pos = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos = len(out)
                out.append(0)
                code = 1
    out[code_pos] = code
    return bytes(out)


def cobs_decode(data):
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError("zero byte inside COBS frame")
        i += 1
        end = i + code - 1
        if end > n:
            raise FrameError("COBS block runs past end of frame")
        for j in range(i, end):
            b = data[j]
            if b == 0:
                raise FrameError("zero byte inside COBS frame")
            out.append(b)
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# ---------------------------------------------------------------- packets
class Packet:
    def __init__(self, version, seq, mtype, body):
        self.version = version
        self.seq = seq
        self.mtype = mtype
        self.body = body

    def __eq__(self, other):
        return (
            isinstance(other, Packet)
            and self.version == other.version
            and self.seq == other.seq
            and self.mtype == other.mtype
            and bytes(self.body) == bytes(other.body)
        )

    def __repr__(self):
        return "Packet(v=%d, seq=%d, type=0x%02x, body=%r)" % (self.version, self.seq, self.mtype, bytes(self.body))


def encode_packet(seq, mtype, body=b"", version=VERSION_BYTE):
    """Packet bytes (not yet COBS-framed)."""
    if len(body) > MAX_BODY:
        raise FieldError("body longer than MAX_BODY")
    if not (0 <= seq <= 0xFFFF and 0 <= mtype <= 0xFF and 0 <= version <= 0xFF):
        raise FieldError("header field out of range")
    p = bytearray()
    p.append(version)
    p.append(seq >> 8)
    p.append(seq & 0xFF)
    p.append(mtype)
    p.extend(body)
    c = crc16(p)
    p.append(c >> 8)
    p.append(c & 0xFF)
    return bytes(p)


def encode_frame(seq, mtype, body=b"", version=VERSION_BYTE):
    """The bytes to write to the line: COBS(packet) + 0x00."""
    return cobs_encode(encode_packet(seq, mtype, body, version)) + b"\x00"


def decode_packet(frame):
    """Decode one frame (without its 0x00 delimiter). Raises LaneBusError."""
    if len(frame) > MAX_FRAME - 1:
        raise FrameError("frame too long")
    p = cobs_decode(frame)
    if len(p) < MIN_PACKET:
        raise FrameError("packet too short")
    if len(p) > MAX_PACKET:
        raise FrameError("packet too long")
    c = crc16(p[:-2])
    if c != (p[-2] << 8) | p[-1]:
        raise CrcError("CRC mismatch")
    return Packet(p[0], (p[1] << 8) | p[2], p[3], p[4:-2])


class FrameDecoder:
    """Stream decoder: feed it whatever the serial port returned.

    Never raises on line noise: bad frames are counted and skipped.  A frame
    longer than MAX_FRAME is discarded up to the next 0x00 and reported once
    through `oversize`.
    """

    def __init__(self):
        self._buf = bytearray(MAX_FRAME)
        self._n = 0
        self._overflow = False
        self.crc_errors = 0
        self.frame_errors = 0
        self.oversize = 0
        self.frames = 0

    def feed(self, data):
        """Return the list of good Packets completed by `data`."""
        out = []
        buf = self._buf
        for b in data:
            if b != 0:
                if self._n < MAX_FRAME - 1:
                    buf[self._n] = b
                    self._n += 1
                else:
                    self._overflow = True
                continue
            n = self._n
            self._n = 0
            if self._overflow:
                self._overflow = False
                self.oversize += 1
                continue
            if n == 0:
                continue  # idle delimiters are allowed between frames
            try:
                out.append(decode_packet(bytes(buf[:n])))
                self.frames += 1
            except CrcError:
                self.crc_errors += 1
            except LaneBusError:
                self.frame_errors += 1
        return out


# ---------------------------------------------------------------- field layouts
_MESSAGE_INDEX = {}
for _m in MESSAGES:
    _MESSAGE_INDEX[_m[0]] = _m


def _resolve(fields):
    if fields == "STATUS":
        return None  # depends on the board kind, see status_fields()
    if fields == "JOB_RECORD":
        return JOB_RECORD
    return fields


def status_fields(kind):
    if kind == KIND_VEHICLE_BOARD:
        return VEHICLE_STATUS
    return IO_STATUS if kind == KIND_IO_BOARD else ISSUER_STATUS


def message(mtype):
    """(code, name, direction, fields, reply_fields) or None."""
    return _MESSAGE_INDEX.get(mtype)


def message_name(mtype):
    if mtype & REPLY_FLAG and mtype != NAK:
        m = _MESSAGE_INDEX.get(mtype & 0x7F)
        return (m[1] + "_REPLY") if m else "0x%02x" % mtype
    m = _MESSAGE_INDEX.get(mtype)
    return m[1] if m else "0x%02x" % mtype


def request_fields(mtype, kind=KIND_IO_BOARD):
    m = _MESSAGE_INDEX.get(mtype)
    if m is None:
        return None
    f = m[3]
    if f == "STATUS":
        return status_fields(kind)
    return _resolve(f)


def reply_fields(mtype, kind=KIND_IO_BOARD):
    m = _MESSAGE_INDEX.get(mtype)
    if m is None or m[4] is None:
        return None
    f = m[4]
    if f == "STATUS":
        return status_fields(kind)
    return _resolve(f)


def pack_fields(fields, values):
    """Pack values (a list/tuple in field order) into a body."""
    out = bytearray()
    if len(values) != len(fields):
        raise FieldError("wrong number of values")
    i = 0
    for f in fields:
        v = values[i]
        t = f[1]
        if t == "u8":
            if not 0 <= v <= 0xFF:
                raise FieldError("u8 out of range", i)
            out.append(v)
        elif t == "u16":
            if not 0 <= v <= 0xFFFF:
                raise FieldError("u16 out of range", i)
            out.append(v >> 8)
            out.append(v & 0xFF)
        elif t == "u32":
            if not 0 <= v <= 0xFFFFFFFF:
                raise FieldError("u32 out of range", i)
            out.append((v >> 24) & 0xFF)
            out.append((v >> 16) & 0xFF)
            out.append((v >> 8) & 0xFF)
            out.append(v & 0xFF)
        else:  # str: u8 length + UTF-8 bytes
            if isinstance(v, str):
                v = v.encode("utf-8")
            if len(v) > 0xFF:
                raise FieldError("string too long", i)
            out.append(len(v))
            out.extend(v)
        i += 1
    if len(out) > MAX_BODY:
        raise FieldError("body longer than MAX_BODY")
    return bytes(out)


def unpack_fields(fields, body, start=0):
    """Values in field order; str fields come back as bytes. Raises FieldError."""
    vals = []
    pos = start
    n = len(body)
    i = 0
    for f in fields:
        t = f[1]
        if t == "u8":
            if pos + 1 > n:
                raise FieldError("body too short", i)
            vals.append(body[pos])
            pos += 1
        elif t == "u16":
            if pos + 2 > n:
                raise FieldError("body too short", i)
            vals.append((body[pos] << 8) | body[pos + 1])
            pos += 2
        elif t == "u32":
            if pos + 4 > n:
                raise FieldError("body too short", i)
            vals.append((body[pos] << 24) | (body[pos + 1] << 16) | (body[pos + 2] << 8) | body[pos + 3])
            pos += 4
        else:
            if pos + 1 > n:
                raise FieldError("body too short", i)
            ln = body[pos]
            pos += 1
            if pos + ln > n:
                raise FieldError("string runs past body", i)
            vals.append(bytes(body[pos : pos + ln]))
            pos += ln
        i += 1
    if pos != n:
        raise FieldError("body too long", len(fields))
    return vals


def encode_reply(seq, mtype, result, fields=None, values=None, detail=0):
    """Reply frame to command `mtype`: result u8, then the reply fields if OK,
    or one detail byte if refused."""
    if result == OK and fields is not None:
        body = bytes([result]) + pack_fields(fields, values)
    elif result == OK:
        body = bytes([result])
    else:
        body = bytes([result, detail & 0xFF])
    return encode_frame(seq, mtype | REPLY_FLAG, body)


def utf8_valid(data):
    """Whether `data` is well-formed UTF-8 (RFC 3629: no overlong forms, no
    surrogates, nothing above U+10FFFF).  Written out because MicroPython's
    decoder lets some malformed sequences through."""
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= b <= 0xDF:
            need = 1
        elif 0xE0 <= b <= 0xEF:
            need = 2
            if b == 0xE0:
                lo = 0xA0
            elif b == 0xED:
                hi = 0x9F
        elif 0xF0 <= b <= 0xF4:
            need = 3
            if b == 0xF0:
                lo = 0x90
            elif b == 0xF4:
                hi = 0x8F
        else:
            return False
        if i + need >= n:
            return False  # the sequence runs past the end
        if not lo <= data[i + 1] <= hi:
            return False
        for k in range(i + 2, i + need + 1):
            if not 0x80 <= data[k] <= 0xBF:
                return False
        i += need + 1
    return True


def bad_str_field(fields, values):
    """Index of the first str field whose bytes are not UTF-8, else -1."""
    i = 0
    for f in fields:
        if f[1] == "str" and not utf8_valid(values[i]):
            return i
        i += 1
    return -1


def seq_diff(a, b):
    """a - b for event sequence numbers 1..65535 (0 is not used), in -32767..32767."""
    d = (a - b) % 0xFFFF
    return d - 0xFFFF if d > 0x7FFF else d


def seq_next(s):
    return s % 0xFFFF + 1


def major_of(version_byte):
    return version_byte >> 4
