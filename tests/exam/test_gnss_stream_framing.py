"""How the reader finds frames in one byte stream: sentence ends, checksums, comments in logs, RTCM3 frames skipped,
what is counted (bad checksum, truncated, garbage) and that no stream can make it hold more than MAX_BUFFERED bytes."""

from __future__ import annotations

import pytest
from gnss_helpers import nav_pvt, nmea, read_all, ubx

from exam_vehicle.gnss.framing import MAX_BUFFERED, MAX_SENTENCE, MAX_UBX_PAYLOAD
from exam_vehicle.gnss.reader import GnssReader

GGA = "GPGGA,092750.000,5321.6802,N,00630.3372,W,4,8,1.03,61.7,M,55.2,M,,"


def rtcm3(payload: bytes) -> bytes:
    """An RTCM3 frame with its CRC-24Q computed bit by bit."""
    frame = bytes([0xD3, len(payload) >> 8, len(payload) & 0xFF]) + payload
    crc = 0
    for byte in frame:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return frame + (crc & 0xFFFFFF).to_bytes(3, "big")


@pytest.mark.parametrize("end", [b"\r\n", b"\n", b"\r"])
def test_a_sentence_ends_at_cr_lf_or_either_alone(end):
    epochs, reader = read_all(nmea(GGA)[:-2] + end + nmea(GGA.replace("092750", "092751")))
    assert len(epochs) == 2 and reader.stats.framing.nmea["GGA"] == 2


def test_lowercase_checksum_digits_are_accepted():
    line = nmea(GGA)
    (e,), _ = read_all(line[:-4] + line[-4:-2].lower() + b"\r\n")
    assert e.lat is not None


def test_a_bad_checksum_is_counted_and_the_sentence_skipped():
    line = bytearray(nmea(GGA))
    line[10] ^= 0x01
    epochs, reader = read_all(bytes(line))
    assert epochs == [] and reader.stats.framing.bad_checksum == 1


def test_a_sentence_without_a_checksum_is_counted_truncated():
    epochs, reader = read_all(f"${GGA}\r\n".encode())
    assert epochs == [] and reader.stats.framing.truncated == 1


def test_a_sentence_cut_by_the_next_one_is_counted_truncated_and_the_next_read():
    epochs, reader = read_all(nmea(GGA)[:25] + nmea(GGA))
    assert len(epochs) == 1 and reader.stats.framing.truncated == 1


def test_a_log_whose_last_line_has_no_newline_still_gives_its_last_sentence():
    epochs, reader = read_all(nmea(GGA).rstrip())
    assert len(epochs) == 1 and reader.stats.framing.truncated == 0


def test_a_stream_cut_mid_sentence_counts_it_truncated_at_flush():
    epochs, reader = read_all(nmea(GGA) + nmea(GGA.replace("092750", "092751"))[:30])
    assert len(epochs) == 1 and reader.stats.framing.truncated == 1


def test_comment_lines_of_a_log_are_skipped_and_counted_only_at_a_line_start():
    data = b"# Name: test log $GPGGA,not a sentence\n" + nmea(GGA) + b"x# not a comment\n"
    (e,), reader = read_all(data, comments=True)
    assert e.time == "09:27:50.000" and reader.stats.framing.comment_lines == 1
    assert reader.stats.framing.garbage_bytes == len(b"x# not a comment")


def test_a_live_stream_has_no_comments_and_a_hash_is_garbage():
    _, reader = read_all(b"#\n" + nmea(GGA), comments=False)
    assert reader.stats.framing.comment_lines == 0 and reader.stats.framing.garbage_bytes == 1


def test_rtcm3_correction_frames_are_recognised_and_skipped_not_counted_as_garbage():
    data = rtcm3(bytes(range(200))) + nav_pvt() + rtcm3(b"\x43\x50\x00")
    (e,), reader = read_all(data)
    assert e.lat is not None and reader.stats.framing.rtcm3_frames == 2 and reader.stats.framing.garbage_bytes == 0


def test_an_rtcm3_frame_with_a_bad_crc_is_garbage_and_what_follows_is_still_read():
    frame = bytearray(rtcm3(bytes(50)))
    frame[10] ^= 0x40
    (e,), reader = read_all(bytes(frame) + nmea(GGA))
    assert (
        e.lat is not None
        and reader.stats.framing.rtcm3_frames == 0
        and reader.stats.framing.garbage_bytes == len(frame)
    )


def test_a_ubx_length_beyond_any_real_message_is_not_waited_for():
    fake = b"\xb5\x62\x01\x07" + (MAX_UBX_PAYLOAD + 1).to_bytes(2, "little")
    reader = GnssReader()
    assert reader.feed(fake + nmea(GGA)) == [] and reader.buffered == 0
    assert len(reader.flush()) == 1


def test_an_overlong_line_is_counted_truncated_and_not_held():
    reader = GnssReader()
    reader.feed(b"$GPGGA," + b"1" * (MAX_SENTENCE * 3))
    assert reader.stats.framing.truncated == 1 and reader.buffered < MAX_SENTENCE


@pytest.mark.parametrize(
    "start",
    [
        b"$",  # a sentence that never ends
        b"\xb5\x62\x01\x07\x00\x10",  # a UBX frame of the longest length accepted, never completed
        b"\xd3\x03\xff",  # an RTCM3 frame of the longest length
        b"\n#",  # a comment that never ends (comments on)
        b"",  # plain garbage
    ],
)
def test_no_stream_makes_the_reader_hold_more_than_max_buffered(start):
    reader = GnssReader(comments=True)
    reader.feed(start)
    for _ in range(300):  # 1.2 MB without a single newline or frame end
        reader.feed(b"ABCDEFGH" * 512)
        assert reader.buffered <= MAX_BUFFERED
    reader.flush()
    assert reader.buffered == 0


def test_frames_glued_to_garbage_on_both_sides_are_found():
    data = (
        b"\x00\xb5garbage\xd3"
        + nav_pvt()
        + b"\xb5\x61"
        + ubx(0x01, 0x35, bytes(8))
        + b"$$"
        + nmea(GGA.replace("092750", "030405"))
    )
    (e,), reader = read_all(data)  # NAV-PVT and GGA of 03:04:05: one epoch
    assert (
        e.time == "2024-05-20T03:04:05.000Z"
        and reader.stats.framing.ubx["NAV-PVT"] == 1
        and reader.stats.framing.ubx["NAV-SAT"] == 1
    )
    assert reader.stats.framing.nmea["GGA"] == 1
