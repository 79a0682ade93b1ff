"""Board link: at-most-once execution per sequence number, refusals for bad
input, handshake.  Runs under MicroPython and CPython."""

from firmware import lanebus as lb
from firmware.io_board import IoBoard

from fw_fakes import FakeHal, reply_to


def board():
    hal = FakeHal(now=100, inputs=lb.IN_LIMIT_CLOSED | (lb.IN_LIMIT_CLOSED << 8))
    b = IoBoard(hal)
    b.step()
    hal.received()
    return hal, b


def roundtrip(hal, b, seq, mtype, values=None, **kw):
    hal.send(seq, mtype, values, **kw)
    b.step()
    return reply_to(hal.received(), seq, mtype)


def test_hello_reports_kind_versions_and_board_id():
    hal, b = board()
    r = roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, lb.PROTOCOL_MINOR, 99])
    vals = lb.unpack_fields(lb.reply_fields(lb.HELLO), r.body, 1)
    assert r.body[0] == lb.OK
    assert vals[0] == lb.KIND_IO_BOARD and vals[1] == lb.PROTOCOL_MAJOR
    assert vals[7] == b"test-board"


def test_hello_with_another_major_version_is_refused():
    hal, b = board()
    r = roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR + 1, 0, 99])
    assert r.body[0] == lb.E_BAD_VERSION and r.body[1] == lb.PROTOCOL_MAJOR


def test_frame_with_another_major_version_gets_nak_bad_version():
    hal, b = board()
    r = roundtrip(hal, b, 5, lb.PING, version=(lb.PROTOCOL_MAJOR + 1) << 4)
    assert r.mtype == lb.NAK and r.body[0] == lb.E_BAD_VERSION


def test_retransmitted_command_is_executed_once_and_answered_with_the_original_result():
    hal, b = board()
    r1 = roundtrip(hal, b, 10, lb.BARRIER_OPEN, [0])
    r2 = roundtrip(hal, b, 10, lb.BARRIER_OPEN, [0])
    assert bytes(r1.body) == bytes(r2.body)
    assert b.link.executed[lb.BARRIER_OPEN] == 1
    assert b.link.duplicates == 1


def test_new_host_session_forgets_old_replies_but_same_session_keeps_them():
    hal, b = board()
    roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])
    roundtrip(hal, b, 10, lb.SET_LIGHT, [0, 2])
    roundtrip(hal, b, 2, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])  # reconnect, same session
    roundtrip(hal, b, 10, lb.SET_LIGHT, [0, 2])
    assert b.link.executed[lb.SET_LIGHT] == 1
    roundtrip(hal, b, 3, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 2])  # a new host process
    roundtrip(hal, b, 10, lb.SET_LIGHT, [0, 2])
    assert b.link.executed[lb.SET_LIGHT] == 2


def test_unknown_message_type_gets_nak_unknown_type_and_board_keeps_running():
    hal, b = board()
    r = roundtrip(hal, b, 3, 0x3E, body=b"")
    assert r.mtype == lb.NAK and r.body[0] == lb.E_UNKNOWN_TYPE and r.body[1] == 0x3E
    assert roundtrip(hal, b, 4, lb.PING).body[0] == lb.OK


def test_event_type_sent_by_host_is_unknown():
    hal, b = board()
    r = roundtrip(hal, b, 3, lb.EV_STATUS, body=b"")
    assert r.mtype == lb.NAK and r.body[0] == lb.E_UNKNOWN_TYPE


def test_body_of_wrong_length_gets_bad_length():
    hal, b = board()
    r = roundtrip(hal, b, 3, lb.BARRIER_OPEN, body=b"\x00\x00")
    assert r.mtype == lb.BARRIER_OPEN | lb.REPLY_FLAG and r.body[0] == lb.E_BAD_LENGTH


def test_out_of_range_barrier_and_light_get_bad_field():
    hal, b = board()
    assert roundtrip(hal, b, 3, lb.BARRIER_OPEN, [5]).body[0] == lb.E_BAD_FIELD
    assert roundtrip(hal, b, 4, lb.SET_LIGHT, [0, 9]).body[0] == lb.E_BAD_FIELD


def test_issuer_command_on_io_board_is_not_supported():
    hal, b = board()
    r = roundtrip(hal, b, 3, lb.JOB_STATUS, [b"x"])
    assert r.body[0] == lb.E_NOT_SUPPORTED


def test_oversize_frame_gets_nak_frame_too_long_with_seq_0():
    hal, b = board()
    hal.rx.extend(b"\x41" * 300 + b"\x00")
    b.step()
    pk = hal.received()
    naks = [p for p in pk if p.mtype == lb.NAK]
    assert naks and naks[0].seq == 0 and naks[0].body[0] == lb.E_FRAME_TOO_LONG
    assert roundtrip(hal, b, 4, lb.PING).body[0] == lb.OK


def test_corrupted_frame_is_ignored_silently():
    hal, b = board()
    f = bytearray(lb.encode_frame(9, lb.BARRIER_OPEN, b"\x00"))
    f[2] ^= 0x20
    hal.rx.extend(f)
    b.step()
    assert hal.received() == [] or all(p.seq != 9 for p in hal.received())
    assert b.link.decoder.crc_errors + b.link.decoder.frame_errors == 1
