"""Board link: at-most-once execution per sequence number, refusals for bad
input, handshake.  Runs under MicroPython and CPython."""

from fw_fakes import FakeHal, reply_to

from firmware import lanebus as lb
from firmware.io_board import IoBoard
from firmware.ticks import TICKS_MAX, ticks_add


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
    assert vals[8] == b"test-board"


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


def _events(pk):
    return [p for p in pk if 0x40 <= p.mtype < 0x80 and p.mtype != lb.EV_STATUS]


def _ack(hal, seq, cmd_seq=900):
    hal.send(cmd_seq, lb.EVENT_ACK, [seq])


def test_events_are_resent_until_acknowledged_and_ack_gets_no_reply():
    hal, b = board()
    roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])  # host link up -> HOST_LINK event
    roundtrip(hal, b, 2, lb.BARRIER_OPEN, [0])  # BARRIER_EVENT opening
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    resent = _events(hal.received())
    assert [p.seq for p in resent] == [1, 2]  # go-back-N: all of the window, in order
    _ack(hal, 2)
    b.step()
    assert hal.received() == []  # EVENT_ACK has no reply
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    assert _events(hal.received()) == []  # nothing left to resend


def test_ack_is_cumulative():
    hal, b = board()
    roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])
    roundtrip(hal, b, 2, lb.BARRIER_OPEN, [0])
    roundtrip(hal, b, 3, lb.BARRIER_OPEN, [1])
    _ack(hal, 2)
    b.step()
    hal.received()
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    assert [p.seq for p in _events(hal.received())] == [3]


def test_hello_reports_the_oldest_unacknowledged_event():
    hal, b = board()
    roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])
    roundtrip(hal, b, 2, lb.BARRIER_OPEN, [0])
    _ack(hal, 1)
    b.step()
    r = roundtrip(hal, b, 3, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])
    vals = lb.unpack_fields(lb.reply_fields(lb.HELLO), r.body, 1)
    assert vals[7] == 2


def test_full_event_window_forgets_the_oldest():
    hal, b = board()
    for i in range(lb.EVENT_WINDOW + 4):
        roundtrip(hal, b, 10 + i, lb.BARRIER_OPEN if i % 2 == 0 else lb.BARRIER_CLOSE, [0])
        hal.now += 1
    assert b.link.events_dropped > 0
    assert b.link._ev_len == lb.EVENT_WINDOW


def test_status_heartbeat_uses_seq_0_and_is_not_kept():
    hal, b = board()
    for _ in range(int(1.2 * lb.HEARTBEAT_MS / 5)):
        b.step()
        hal.idle(5)
    st = [p for p in hal.received() if p.mtype == lb.EV_STATUS]
    assert st and all(p.seq == 0 for p in st)


def test_an_ack_for_an_event_never_sent_acknowledges_nothing():
    """A host that restarted with a stale ACK (or acknowledges what a board sent before its reset) must
    not clear the window: the board's first events after a reset (reset_during_job) would be lost."""
    hal, b = board()
    roundtrip(hal, b, 1, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])  # HOST_LINK up: event 1
    roundtrip(hal, b, 2, lb.BARRIER_OPEN, [0])  # BARRIER_EVENT opening: event 2
    _ack(hal, 57)  # newer than anything the board sent
    b.step()
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    assert [p.seq for p in _events(hal.received())] == [1, 2]  # both still kept and re-sent
    r = roundtrip(hal, b, 3, lb.HELLO, [lb.PROTOCOL_MAJOR, 0, 1])
    assert lb.unpack_fields(lb.reply_fields(lb.HELLO), r.body, 1)[7] == 1
    _ack(hal, 2)  # a real ACK still works
    b.step()
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    assert _events(hal.received()) == []


def test_an_ack_before_the_board_sent_any_event_is_ignored():
    hal = FakeHal(now=100, inputs=lb.IN_LIMIT_CLOSED | (lb.IN_LIMIT_CLOSED << 8))
    b = IoBoard(hal)
    _ack(hal, 3)
    b.step()  # HOST_LINK up is event 1, sent after the ACK
    hal.received()
    hal.idle(lb.EVENT_RETRY_MS + 10)
    b.step()
    assert [p.seq for p in _events(hal.received())] == [1]


def _uptime(hal, b, seq):
    r = roundtrip(hal, b, seq, lb.PING)
    return lb.unpack_fields(lb.reply_fields(lb.PING), r.body, 1)[0]


def test_uptime_counts_milliseconds_since_boot_across_tick_wraps_and_wraps_at_2_to_the_32():
    hal = FakeHal(now=TICKS_MAX - 1000, inputs=lb.IN_LIMIT_CLOSED | (lb.IN_LIMIT_CLOSED << 8))
    b = IoBoard(hal)
    assert _uptime(hal, b, 1) == 0
    elapsed = 0
    for k in range(9):  # 9 x 2**29 ms: the 2**30 tick counter wraps 4 times, 2**32 once
        hal.now = ticks_add(hal.now, 1 << 29)
        elapsed += 1 << 29
        b.step()
        assert _uptime(hal, b, 10 + k) == elapsed % (1 << 32)
    assert elapsed > 1 << 32


def test_uptime_ms_in_status_is_the_same_clock():
    hal, b = board()
    hal.idle(1234)
    r = roundtrip(hal, b, 7, lb.GET_STATUS)
    assert lb.unpack_fields(lb.reply_fields(lb.GET_STATUS), r.body, 1)[0] == 1234
