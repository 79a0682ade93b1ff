"""Lane-bus codec tests.  Plain asserts only: this file runs under the real
MicroPython interpreter (tests/firmware/run_micropython.mjs) and under
CPython (pytest collects it too), so both sides are checked with the same
cases."""

from firmware import lanebus as lb


def test_crc16_ccitt_false_check_value_is_0x29b1():
    assert lb.crc16(b"123456789") == 0x29B1


def test_cobs_round_trips_zero_runs_and_long_blocks():
    cases = [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x11\x22\x00\x33",
        bytes(range(1, 256)),
        bytes(range(256)),
        b"\x01" * 254,
        b"\x01" * 255,
        bytes(10),
    ]
    for data in cases:
        enc = lb.cobs_encode(data)
        assert 0 not in enc
        assert lb.cobs_decode(enc) == data


def test_cobs_known_vector():
    assert lb.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"


def test_frame_round_trip_and_layout():
    f = lb.encode_frame(0x1234, lb.BARRIER_OPEN, b"\x01")
    assert f[-1] == 0 and 0 not in f[:-1]
    p = lb.decode_packet(f[:-1])
    assert p.version == lb.VERSION_BYTE
    assert p.seq == 0x1234
    assert p.mtype == lb.BARRIER_OPEN
    assert bytes(p.body) == b"\x01"
    raw = lb.cobs_decode(f[:-1])
    assert raw[1] == 0x12 and raw[2] == 0x34  # big-endian sequence number


def test_max_body_frame_fits_max_frame():
    f = lb.encode_frame(0xFFFF, 0x7E, b"\xaa" * lb.MAX_BODY)
    assert len(f) <= lb.MAX_FRAME


def test_body_longer_than_max_is_rejected_by_encoder():
    try:
        lb.encode_frame(1, 1, b"x" * (lb.MAX_BODY + 1))
    except lb.FieldError:
        return
    assert False, "expected FieldError"


def test_corrupted_byte_is_a_crc_error():
    pkt = bytearray(lb.encode_packet(7, lb.PING))
    pkt[3] ^= 0x01
    try:
        lb.decode_packet(lb.cobs_encode(bytes(pkt)))
    except lb.CrcError:
        return
    assert False, "expected CrcError"


def test_stream_decoder_resynchronises_after_noise():
    d = lb.FrameDecoder()
    good = lb.encode_frame(1, lb.PING)
    stream = b"\x05\x07garbage\x00" + good[:3] + good + b"\x00\x00" + lb.encode_frame(2, lb.PING)
    # the partial frame glued to a whole one is one bad frame; then both good ones
    got = d.feed(stream)
    assert [p.seq for p in got] == [2]
    assert d.frame_errors + d.crc_errors == 2
    got = d.feed(good)
    assert [p.seq for p in got] == [1]


def test_stream_decoder_accepts_byte_by_byte_input():
    d = lb.FrameDecoder()
    out = []
    for b in lb.encode_frame(9, lb.GET_STATUS) + lb.encode_frame(10, lb.PING):
        out.extend(d.feed(bytes([b])))
    assert [p.seq for p in out] == [9, 10]


def test_oversize_frame_is_counted_and_skipped():
    d = lb.FrameDecoder()
    got = d.feed(b"\x01" * 500 + b"\x00" + lb.encode_frame(3, lb.PING))
    assert d.oversize == 1
    assert [p.seq for p in got] == [3]


def test_fields_pack_and_unpack():
    fields = lb.request_fields(lb.ISSUE)
    body = lb.pack_fields(fields, ["J-0001", 1, "京AD12345"])
    vals = lb.unpack_fields(fields, body)
    assert vals[0] == b"J-0001" and vals[1] == 1 and vals[2].decode("utf-8") == "京AD12345"


def test_unpack_rejects_short_and_long_bodies():
    fields = lb.request_fields(lb.SET_LIGHT)
    for body in (b"", b"\x00", b"\x00\x01\x02"):
        try:
            lb.unpack_fields(fields, body)
        except lb.FieldError:
            continue
        assert False, body


def test_pack_rejects_out_of_range_values():
    try:
        lb.pack_fields((("x", "u8"),), [256])
    except lb.FieldError:
        return
    assert False


def test_reply_types_set_the_reply_flag_and_names_resolve():
    assert lb.message_name(lb.BARRIER_CLOSE | lb.REPLY_FLAG) == "BARRIER_CLOSE_REPLY"
    assert lb.message_name(lb.NAK) == "NAK"
    codes = [m[0] for m in lb.MESSAGES]
    assert len(codes) == len(set(codes))
    for m in lb.MESSAGES:
        if m[2] == "host->board":
            assert m[0] < 0x40
        else:
            assert m[0] >= 0x40


def test_status_records_fit_in_a_body():
    vals = [0xFFFFFFFF] + [255] * (len(lb.IO_STATUS) - 1)
    assert len(lb.pack_fields(lb.IO_STATUS, vals)) < lb.MAX_BODY
    vals = [0xFFFFFFFF, 255, 255, 255, 255, b"x" * lb.MAX_JOB_ID, 255, 255]
    assert len(lb.pack_fields(lb.ISSUER_STATUS, vals)) < lb.MAX_BODY
