"""Lane-bus bytes from the line, into the codec and both ends that parse them.

tests/lanebus/test_lanebus_codec_properties.py already feeds uniformly random bytes to `decode_packet` and
`FrameDecoder`; here the inputs have structure, which is what reaches the parsers past the COBS and CRC
checks: valid frames mutated, COBS-valid frames of any length and content, and CRC-valid packets of any
version, type and body. The codec raises only its declared errors (`LaneBusError`), the stream decoder never
raises and is back in step at the next delimiter, the boards' firmware (on the test HAL) survives whatever
frames the host side of the cable sends and still answers, and the host's public decode functions
(`describe_event`, the status and job decoders) take whatever the codec lets through.
"""

from __future__ import annotations

import pytest
from fuzz_helpers import budget, count, mutated
from fw_fakes import FakeHal
from hypothesis import given
from hypothesis import strategies as st

from edge.lanebus.boards import io_status_from, issuer_status_from, job_from
from edge.lanebus.session import describe_event
from firmware import lanebus as lb
from firmware.io_board import IoBoard
from firmware.plate_issuer import PlateIssuer, decode_journal

pytestmark = pytest.mark.fuzz

KINDS = (lb.KIND_IO_BOARD, lb.KIND_PLATE_ISSUER)
KNOWN_TYPES = sorted({m[0] for m in lb.MESSAGES} | {m[0] | lb.REPLY_FLAG for m in lb.MESSAGES if m[0] != lb.NAK})
mtypes = st.one_of(st.sampled_from(KNOWN_TYPES), st.integers(0, 0xFF))
versions = st.one_of(st.just(lb.VERSION_BYTE), st.integers(0, 0xFF))
seqs = st.integers(0, 0xFFFF)


def _value(t: str) -> st.SearchStrategy:
    return {
        "u8": st.integers(0, 0xFF),
        "u16": st.integers(0, 0xFFFF),
        "u32": st.integers(0, 0xFFFFFFFF),
        "str": st.one_of(
            st.binary(max_size=40),
            st.text(max_size=12).map(str.encode),
            st.sampled_from([b"", b"J-1", b"\xe8\x8b\x8fA12345", b"\xff\xfe", b"\x00" * 5, b"x" * 33]),
        ),
    }[t]


@st.composite
def bodies_for(draw: st.DrawFn, mtype: int, kind: int) -> bytes:
    """A body for `mtype`: laid out as its fields (any values, the NAK / reply result byte first when it has one), or any bytes."""
    base = mtype & 0x7F if (mtype & lb.REPLY_FLAG and mtype != lb.NAK) else mtype
    fields = (lb.reply_fields(base, kind) if base != mtype else lb.request_fields(mtype, kind)) or ()
    if draw(st.integers(0, 3)) == 0 or not fields:
        return draw(st.binary(max_size=lb.MAX_BODY))
    values = [draw(_value(f[1])) for f in fields]
    try:
        body = lb.pack_fields(fields, values)
    except lb.FieldError:  # a string too long for the body: send what does fit
        body = draw(st.binary(max_size=lb.MAX_BODY))
    if base != mtype:
        body = bytes([draw(st.one_of(st.just(lb.OK), st.integers(0, 0xFF)))]) + body
    return body[: lb.MAX_BODY]


@st.composite
def packets(draw: st.DrawFn, kind: int | None = None) -> tuple[int, int, int, bytes]:
    """(version, seq, type, body) of a CRC-valid packet as a peer could send it."""
    k = kind if kind is not None else draw(st.sampled_from(KINDS))
    mtype = draw(mtypes)
    return draw(versions), draw(seqs), mtype, draw(bodies_for(mtype, k))


def frame_of(p: tuple[int, int, int, bytes]) -> bytes:
    version, seq, mtype, body = p
    return lb.encode_frame(seq, mtype, body, version)


# ---------------------------------------------------------------- the codec
@budget(ci=150, long=8_000)
@given(
    st.lists(packets(), min_size=1, max_size=6).flatmap(lambda ps: mutated(b"".join(frame_of(p) for p in ps))),
    st.integers(1, 64),
)
def test_the_stream_decoder_takes_mutated_frames_in_any_chunks_and_resyncs(stream, chunk):
    count()
    d = lb.FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += d.feed(stream[i : i + chunk])
    for p in got:  # whatever it lets through is a whole, CRC-checked packet
        assert len(p.body) <= lb.MAX_BODY
        assert lb.decode_packet(lb.encode_frame(p.seq, p.mtype, bytes(p.body), p.version)[:-1]) == p
    assert d.feed(b"\x00" + lb.encode_frame(4242, lb.PING))[-1].seq == 4242


@budget(ci=150, long=8_000)
@given(
    st.one_of(
        st.binary(min_size=0, max_size=lb.MAX_PACKET + 8),
        packets().map(lambda p: lb.encode_packet(p[1], p[2], p[3], p[0])).flatmap(mutated),
    )
)
def test_decode_packet_of_cobs_valid_frames_raises_only_the_codecs_errors(packet):
    count()
    frame = lb.cobs_encode(packet)
    assert lb.cobs_decode(frame) == packet
    try:
        p = lb.decode_packet(frame)
    except lb.LaneBusError:
        return
    assert bytes(p.body) == packet[4:-2] and lb.crc16(packet[:-2]) == (packet[-2] << 8) | packet[-1]


@budget(ci=150, long=8_000)
@given(st.sampled_from(KINDS), mtypes, st.integers(-1, 4), st.binary(max_size=lb.MAX_BODY + 4))
def test_unpacking_any_body_for_any_type_raises_only_field_error(kind, mtype, start, body):
    count()
    for fields in (lb.request_fields(mtype, kind), lb.reply_fields(mtype & 0x7F, kind)):
        if fields:
            try:
                lb.unpack_fields(fields, body, max(start, 0))
            except lb.FieldError:
                pass
    assert lb.message_name(mtype)


# ---------------------------------------------------------------- the host's public decode functions
def host_decode(p: lb.Packet, kind: int) -> None:
    """What the host does with a packet from the board, through the public functions only (as edge/lanebus does)."""
    body = bytes(p.body)
    if p.mtype == lb.NAK:
        return
    if p.mtype & lb.REPLY_FLAG:
        cmd = p.mtype & 0x7F
        if not body or body[0] != lb.OK:
            return
        fields = lb.reply_fields(cmd, kind)
        try:
            values = lb.unpack_fields(fields, body, 1) if fields else []
        except lb.FieldError:
            return
        if cmd == lb.GET_STATUS:
            (io_status_from if kind == lb.KIND_IO_BOARD else issuer_status_from)(values)
        elif cmd in (lb.ISSUE, lb.JOB_STATUS):
            job_from(values)
        return
    fields = lb.request_fields(p.mtype, kind)
    if fields is None:
        return
    try:
        values = lb.unpack_fields(fields, body)
    except lb.FieldError:
        return
    name, data = describe_event(p.mtype, values)
    assert name and isinstance(data, dict)
    if p.mtype == lb.EV_STATUS:
        (io_status_from if kind == lb.KIND_IO_BOARD else issuer_status_from)(values)


@pytest.mark.parametrize("kind", KINDS, ids=["io-board", "plate-issuer"])
def test_the_hosts_decode_functions_take_any_packet_the_codec_lets_through(kind):
    @budget(ci=150, long=8_000)
    @given(st.lists(packets(kind), min_size=1, max_size=8))
    def decode(ps):
        count()
        for p in lb.FrameDecoder().feed(b"".join(frame_of(p) for p in ps)):
            host_decode(p, kind)

    decode()


# ---------------------------------------------------------------- the boards' firmware
def _board(kind: int, journal: bytes | None = None):
    hal = FakeHal(now=1000)
    hal.journal = journal
    return hal, (IoBoard(hal) if kind == lb.KIND_IO_BOARD else PlateIssuer(hal))


def _answers_ping(hal: FakeHal, board, seq: int) -> bool:
    hal.received()
    hal.rx.extend(b"\x00")  # ends whatever partial frame the noise left, as a host does after line noise
    hal.send(seq, lb.PING)
    for _ in range(5):
        board.step()
        hal.now += 5
    return any(
        p.seq == seq and p.mtype == lb.PING | lb.REPLY_FLAG and bytes(p.body[:1]) == bytes([lb.OK])
        for p in hal.received()
    )


@pytest.mark.parametrize("kind", KINDS, ids=["io-board", "plate-issuer"])
def test_a_board_survives_any_frames_from_the_line_and_still_answers(kind):
    hello = lb.encode_frame(1, lb.HELLO, lb.pack_fields(lb.request_fields(lb.HELLO), [lb.PROTOCOL_MAJOR, 0, 7]))
    chunk = st.one_of(
        packets(kind).map(frame_of),
        packets(kind).map(frame_of).flatmap(mutated),
        st.binary(max_size=64),
        st.just(hello),
        st.just(b"\x7e" * (lb.MAX_FRAME + 10) + b"\x00"),
    )

    @budget(ci=50, long=3_000)
    @given(st.lists(st.tuples(chunk, st.integers(0, 3000), st.integers(0, 0xFFFF)), min_size=1, max_size=12))
    def run(script):
        count()
        hal, board = _board(kind)
        for data, after_ms, inputs in script:
            hal.rx.extend(data)
            hal.inputs = hal.sensors = inputs  # the world changes too (loops, beams, the issuer's sensors)
            board.step()
            hal.now += after_ms
            board.step()
        hal.inputs = hal.sensors = 0
        assert _answers_ping(hal, board, 0xBEEF), "the board stopped answering"

    run()


@budget(ci=100, long=10_000)
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"PLJ1" + b)))
def test_the_plate_issuer_starts_from_any_journal_flash_contents(flash):
    count()
    decode_journal(flash)
    hal, board = _board(lb.KIND_PLATE_ISSUER, flash)
    assert _answers_ping(hal, board, 7)
