"""Property tests of the lane-bus codec (CPython, hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import lanebus as lb

seqs = st.integers(0, 0xFFFF)
types = st.integers(0, 0xFF)
bodies = st.binary(max_size=lb.MAX_BODY)


@given(seqs, types, bodies)
def test_frame_round_trip(seq, mtype, body):
    frame = lb.encode_frame(seq, mtype, body)
    assert len(frame) <= lb.MAX_FRAME
    assert frame.count(0) == 1 and frame[-1] == 0
    got = lb.FrameDecoder().feed(frame)
    assert got == [lb.Packet(lb.VERSION_BYTE, seq, mtype, body)]


@given(st.lists(st.tuples(seqs, types, bodies), max_size=8), st.integers(1, 64))
def test_stream_of_frames_round_trips_whatever_the_read_sizes(packets, chunk):
    stream = b"".join(lb.encode_frame(*p) for p in packets)
    d = lb.FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += d.feed(stream[i : i + chunk])
    assert [(p.seq, p.mtype, bytes(p.body)) for p in got] == packets


@settings(max_examples=500, deadline=1000)
@given(st.binary(max_size=600))
def test_decoding_arbitrary_bytes_raises_only_the_codec_error(data):
    try:
        lb.decode_packet(data)
    except lb.LaneBusError:
        pass


@settings(max_examples=500, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_stream_decoder_never_raises_or_hangs_on_noise(data):
    d = lb.FrameDecoder()
    out = d.feed(data)  # deadline=1 s per example bounds the time: no hang
    for p in out:
        assert len(p.body) <= lb.MAX_BODY
    # and it is back in sync for the next good frame
    assert d.feed(b"\x00" + lb.encode_frame(7, lb.PING))[-1].seq == 7


def _value(t):
    return {
        "u8": st.integers(0, 0xFF),
        "u16": st.integers(0, 0xFFFF),
        "u32": st.integers(0, 0xFFFFFFFF),
        "str": st.binary(max_size=24),
    }[t]


def _all_layouts():
    out = []
    for m in lb.MESSAGES:
        for kind in (lb.KIND_IO_BOARD, lb.KIND_PLATE_ISSUER):
            for f in (lb.request_fields(m[0], kind), lb.reply_fields(m[0], kind)):
                if f:
                    out.append(tuple(f))
    return sorted(set(out))


@given(
    st.sampled_from(_all_layouts()).flatmap(
        lambda fields: st.tuples(st.just(fields), st.tuples(*[_value(t) for _, t in fields]))
    )
)
def test_field_layouts_round_trip(case):
    fields, values = case
    body = lb.pack_fields(fields, list(values))
    assert lb.unpack_fields(fields, body) == list(values)


@given(st.sampled_from(_all_layouts()), st.binary(max_size=120))
def test_unpacking_arbitrary_bodies_raises_only_field_error(fields, body):
    try:
        lb.unpack_fields(fields, body)
    except lb.FieldError:
        pass
