"""Properties of the reader over any byte stream (hypothesis): the epochs and counts do not depend on how the bytes
were split, and no stream (random bytes, real logs mutated) makes it raise or hold more than MAX_BUFFERED bytes."""

from __future__ import annotations

import math

import pytest
from gnss_helpers import LOGS, log_bytes, nmea, read_all, ubx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exam_vehicle.gnss import Epoch, FixQuality
from exam_vehicle.gnss.framing import MAX_BUFFERED
from exam_vehicle.gnss.reader import GnssReader

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def sound(epoch: Epoch) -> bool:
    """What the judge may rely on in any epoch, whatever the stream held."""
    if epoch.quality is FixQuality.INVALID:
        return epoch.lat is None and epoch.lon is None and epoch.speed_mps is None
    return (
        epoch.lat is not None
        and epoch.lon is not None
        and -90 <= epoch.lat <= 90
        and -180 <= epoch.lon <= 180
        and all(x is None or math.isfinite(x) for x in (epoch.alt, epoch.hdop, epoch.speed_mps, epoch.course_deg))
        and all(x is None or 0 <= x < 360 for x in (epoch.course_deg, epoch.heading_deg))
    )


@pytest.mark.parametrize("name", LOGS)
def test_a_log_fed_one_byte_at_a_time_gives_the_same_epochs_and_counts_as_fed_whole(name):
    data = log_bytes(name)
    whole, r1 = read_all(data)
    bytewise, r2 = read_all(data[i : i + 1] for i in range(len(data)))
    assert bytewise == whole and r2.stats == r1.stats


@SETTINGS
@given(
    name=st.sampled_from(LOGS),
    window=st.tuples(st.integers(0, 200_000), st.integers(1, 30_000)),
    cuts=st.lists(st.integers(0, 200_000), max_size=40),
)
def test_epochs_and_counts_do_not_depend_on_how_the_stream_is_split(name, window, cuts):
    data = log_bytes(name)
    start = window[0] % len(data)
    data = data[start : start + window[1]]  # any window: frames cut at both edges too
    whole, r1 = read_all(data)
    pieces, r2 = read_all(split(data, cuts))
    assert pieces == whole and r2.stats == r1.stats


def _feed_checked(chunks: list[bytes], comments: bool) -> list[Epoch]:
    reader = GnssReader(comments=comments)
    epochs = []
    for chunk in chunks:
        epochs += reader.feed(chunk)
        assert reader.buffered <= MAX_BUFFERED
    epochs += reader.flush()
    assert reader.buffered == 0
    assert all(sound(e) for e in epochs)
    return epochs


@SETTINGS
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=20), comments=st.booleans())
def test_random_bytes_never_raise_and_stay_bounded(data, cuts, comments):
    _feed_checked(split(data, cuts), comments)


@st.composite
def mutated_log(draw: st.DrawFn) -> bytes:
    """A real log with bytes flipped, ranges deleted, duplicated or replaced by noise: what a bad cable does."""
    data = bytearray(log_bytes(draw(st.sampled_from(LOGS))))
    for _ in range(draw(st.integers(1, 25))):
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "duplicate", "noise", "sync"]))
        size = draw(st.integers(1, 300))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "delete":
            del data[at : at + size]
        elif kind == "duplicate":
            data[at:at] = data[at : at + size]
        elif kind == "noise":
            data[at : at + size] = draw(st.binary(min_size=1, max_size=size))
        else:  # a frame start where none is
            data[at:at] = draw(st.sampled_from([b"$", b"\xb5\x62", b"\xd3\x00", b"\n#", b"\xb5\x62\x01\x07\x5c\x00"]))
        if not data:
            data = bytearray(b"$")
    return bytes(data)


@SETTINGS
@given(data=mutated_log(), cuts=st.lists(st.integers(0, 200_000), max_size=20))
def test_mutated_real_logs_never_raise_stay_bounded_and_give_only_sound_epochs(data, cuts):
    _feed_checked(split(data, cuts), comments=True)


def _real_sentences() -> list[str]:
    bodies = []
    for name in LOGS:
        for line in log_bytes(name).split(b"\n"):
            line = line.strip()
            star = line.rfind(b"*")
            if line.startswith(b"$") and star > 0 and line[1:star].isascii():
                bodies.append(line[1:star].decode())
    return bodies


REAL_SENTENCES = _real_sentences()
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="$*")


@SETTINGS
@given(
    body=st.sampled_from(REAL_SENTENCES),
    edits=st.lists(st.tuples(st.integers(0, 120), PRINTABLE), max_size=6),
    drops=st.lists(st.integers(0, 120), max_size=4),
)
def test_checksum_good_sentences_with_any_fields_never_raise(body, edits, drops):
    """The checksum protects against noise, not against a receiver's own odd fields: the decoders face those."""
    text = list(body)
    for at, ch in edits:
        text[at % len(text)] = ch
    for at in drops:
        if len(text) > 1:
            del text[at % len(text)]
    _feed_checked([nmea("".join(text)), nmea("GPGGA,235959.999,,,,,0,,,,,,,,")], comments=False)


@SETTINGS
@given(
    kind=st.sampled_from(
        [(0x01, 0x07, 92), (0x01, 0x07, 84), (0x01, 0x3C, 64), (0x01, 0x3C, 40), (0x01, 0x04, 18), (0x01, 0x61, 4)]
    ),
    payload=st.binary(min_size=100, max_size=100),
    cut=st.integers(0, 100),
)
def test_checksum_good_ubx_messages_with_any_payload_never_raise(kind, payload, cut):
    cls, mid, size = kind
    frames = [ubx(cls, mid, payload[:size]), ubx(cls, mid, payload[:cut]), ubx(cls, mid, payload[:size]) * 2]
    _feed_checked(frames, comments=False)
