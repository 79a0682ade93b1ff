"""What each UBX message puts into an epoch (NAV-PVT, NAV-RELPOSNED, NAV-DOP, NAV-EOE), and UBX mixed with NMEA in
one stream as u-blox receivers send it. Frames are built in the tests with their own checksums."""

from __future__ import annotations

import pytest
from gnss_helpers import itow_of, nav_pvt, nav_relposned, nmea, read_all, ubx

from exam_vehicle.gnss import FixQuality
from exam_vehicle.gnss.reader import GnssReader

Q = FixQuality
FIX_OK, DIFF = 0x01, 0x02
FLOAT, FIXED = 1 << 6, 2 << 6


@pytest.mark.parametrize(
    ("fix_type", "flags", "flags3", "quality"),
    [
        (3, FIX_OK, 0, Q.GPS),
        (3, FIX_OK | DIFF, 0, Q.DGPS),
        (3, FIX_OK | DIFF | FLOAT, 0, Q.RTK_FLOAT),
        (3, FIX_OK | DIFF | FIXED, 0, Q.RTK_FIXED),
        (4, FIX_OK | DIFF | FIXED, 0, Q.RTK_FIXED),  # GNSS + dead reckoning with a fixed carrier solution
        (2, FIX_OK, 0, Q.GPS),
        (1, FIX_OK, 0, Q.DEAD_RECKONING),
        (3, DIFF | FIXED, 0, Q.INVALID),  # no gnssFixOK: the receiver itself does not trust it
        (0, FIX_OK, 0, Q.INVALID),
        (5, FIX_OK, 0, Q.INVALID),  # time only
        (3, FIX_OK | DIFF | FIXED, 0x01, Q.INVALID),  # invalidLlh
    ],
)
def test_nav_pvt_fix_type_and_carrier_solution_map_to_the_exam_words(fix_type, flags, flags3, quality):
    (e,), _ = read_all(nav_pvt(fix_type=fix_type, flags=flags, flags3=flags3))
    assert e.quality is quality
    assert (e.lat is None) == (quality is Q.INVALID)


def test_nav_pvt_gives_date_time_position_speed_course_sats_and_accuracy():
    (e,), _ = read_all(nav_pvt(flags=FIX_OK | DIFF | FIXED, hms=(3, 4, 5), nano=250_000_000))
    assert e.time == "2024-05-20T03:04:05.250Z"
    assert e.lat == pytest.approx(31.2304, abs=1e-7) and e.lon == pytest.approx(121.4737, abs=1e-7)
    assert (e.alt, e.sats, e.h_acc_m, e.speed_mps, e.course_deg) == (12.345, 20, 0.014, 1.5, 90.0)


def test_nav_pvt_negative_nanoseconds_round_to_the_whole_second_and_across_midnight():
    (e,), _ = read_all(nav_pvt(hms=(8, 50, 1), nano=-100_231))
    assert e.time == "2024-05-20T08:50:01.000Z"
    (e,), _ = read_all(nav_pvt(hms=(0, 0, 0), nano=-600_000))
    assert e.time == "2024-05-19T23:59:59.999Z"


def test_nav_pvt_without_valid_time_cannot_be_placed_and_is_counted():
    epochs, reader = read_all(nav_pvt(valid=0x00))
    assert epochs == [] and reader.stats.no_time == 1


def test_nav_pvt_wins_over_gga_of_the_same_time_and_both_make_one_epoch():
    gga = nmea("GNGGA,030405.00,3113.82400,N,12128.42200,E,5,12,0.82,10.0,M,8.0,M,1.0,0041")
    (e,), _ = read_all(nav_pvt(flags=FIX_OK | DIFF | FIXED) + gga)
    assert e.quality is Q.RTK_FIXED and e.sats == 20 and e.hdop == 0.82  # hdop only GGA gives


def test_relposned_heading_joins_its_epoch_by_time_of_week():
    itow = itow_of((3, 4, 5))
    (e,), _ = read_all(nav_pvt(itow=itow, flags=FIX_OK | DIFF | FIXED) + nav_relposned(itow=itow, heading=271.5))
    assert e.heading_deg == 271.5


def test_relposned_ahead_of_its_nav_pvt_waits_for_it():
    itow = itow_of((3, 4, 5))
    data = nav_pvt(itow=itow - 1000, hms=(3, 4, 4)) + nav_relposned(itow=itow, heading=10.0) + nav_pvt(itow=itow)
    epochs, _ = read_all(data)
    assert [e.heading_deg for e in epochs] == [None, 10.0]


def test_relposned_with_nmea_only_is_placed_with_the_current_leap_seconds():
    gga = nmea("GNGGA,030405.00,3113.82400,N,12128.42200,E,4,12,0.82,10.0,M,8.0,M,1.0,0041")
    (e,), _ = read_all(gga + nav_relposned(itow=itow_of((3, 4, 5)), heading=45.0))
    assert e.heading_deg == 45.0


@pytest.mark.parametrize("flags", [0x005, 0x104, 0x101])  # each lacks one of gnssFixOK, relPosValid, relPosHeadingValid
def test_relposned_heading_without_its_validity_flags_is_not_taken(flags):
    itow = itow_of((3, 4, 5))
    (e,), _ = read_all(nav_pvt(itow=itow) + nav_relposned(itow=itow, heading=45.0, flags=flags))
    assert e.heading_deg is None


def test_nav_dop_gives_hdop_and_nav_eoe_completes_the_epoch_at_once():
    itow = itow_of((3, 4, 5))
    dop = ubx(0x01, 0x04, itow.to_bytes(4, "little") + bytes(8) + (73).to_bytes(2, "little") + bytes(4))
    eoe = ubx(0x01, 0x61, itow.to_bytes(4, "little"))
    reader = GnssReader()
    assert reader.feed(nav_pvt(itow=itow) + dop) == []
    (e,) = reader.feed(eoe)  # no need to wait for the next fix
    assert e.hdop == 0.73
    late = nmea("GNGGA,030405.00,3113.82400,N,12128.42200,E,4,12,0.82,10.0,M,8.0,M,1.0,0041")
    assert reader.feed(late) == [] and reader.flush() == [] and reader.stats.late == 1


def test_ubx_and_nmea_interleaved_without_separators_are_all_read():
    itow = itow_of((3, 4, 5))
    data = (
        b"\x00\xff"
        + nav_pvt(itow=itow)
        + nmea("GNVTG,,T,,M,0.025,N,0.045,K,A")
        + nav_relposned(itow=itow, heading=5.0)
        + nmea("GNGST,030405.00,32,0.19,0.12,97,0.03,0.04,0.088")
    )
    (e,), reader = read_all(data)
    assert e.heading_deg == 5.0 and e.h_acc_m == 0.014  # NAV-PVT's hAcc wins over GST's
    assert reader.stats.framing.ubx == {"NAV-PVT": 1, "NAV-RELPOSNED": 1}
    assert reader.stats.framing.nmea == {"VTG": 1, "GST": 1}
    assert reader.stats.framing.garbage_bytes == 2


def test_a_sentence_cut_short_by_a_ubx_frame_is_counted_truncated_and_the_frame_read():
    cut = nmea("GNGGA,030405.00,3113.82400,N,12128.42200,E,4,12,0.82,10.0,M,8.0,M,1.0,0041")[:30]
    (e,), reader = read_all(cut + nav_pvt())
    assert e.quality is Q.GPS and reader.stats.framing.truncated == 1


def test_a_ubx_frame_with_a_bad_checksum_is_counted_and_the_next_frame_still_read():
    bad = bytearray(nav_pvt(hms=(3, 4, 4)))
    bad[-1] ^= 0xFF
    epochs, reader = read_all(bytes(bad) + nav_pvt())
    assert [e.time for e in epochs] == ["2024-05-20T03:04:05.000Z"]
    assert reader.stats.framing.bad_checksum == 1


def test_short_nav_messages_are_malformed_and_unknown_ones_ignored():
    epochs, reader = read_all(ubx(0x01, 0x07, bytes(40)) + ubx(0x01, 0x35, bytes(8)) + ubx(0x06, 0x8A, bytes(4)))
    assert epochs == []
    assert sum(reader.stats.malformed.values()) == 1
    assert reader.stats.framing.ubx == {"NAV-PVT": 1, "NAV-SAT": 1, "0x06-0x8a": 1}
