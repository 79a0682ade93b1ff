"""What each NMEA sentence puts into an epoch (GGA, RMC, VTG, GNS, GST, HDT, THS, ZDA), any talker, and which
sentence wins when several of one fix time disagree."""

from __future__ import annotations

import pytest
from gnss_helpers import nmea, read_all

from exam_vehicle.gnss import FixQuality

Q = FixQuality
GGA = "GPGGA,092750.000,5321.6802,N,00630.3372,W,{q},8,1.03,61.7,M,55.2,M,,"
RMC = "GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,{mode}"


def one(*sentences: bytes) -> object:
    epochs, _ = read_all(b"".join(sentences))
    assert len(epochs) == 1, epochs
    return epochs[0]


@pytest.mark.parametrize(
    ("q", "quality"),
    [
        ("0", Q.INVALID),
        ("1", Q.GPS),
        ("2", Q.DGPS),
        ("3", Q.GPS),
        ("4", Q.RTK_FIXED),
        ("5", Q.RTK_FLOAT),
        ("6", Q.DEAD_RECKONING),
        ("7", Q.INVALID),
        ("8", Q.INVALID),
        ("9", Q.DGPS),
        ("", Q.INVALID),
        ("12", Q.INVALID),
    ],
)
def test_gga_quality_maps_to_the_exam_words_and_pps_counts_as_plain_gps(q, quality):
    e = one(nmea(GGA.format(q=q)))
    assert e.quality is quality


def test_gga_gives_signed_position_altitude_sats_and_hdop():
    e = one(nmea(GGA.format(q=4)))
    assert e.time == "09:27:50.000"  # no date in GGA: time of day only
    assert e.lat == pytest.approx(53 + 21.6802 / 60, abs=1e-9)
    assert e.lon == pytest.approx(-(6 + 30.3372 / 60), abs=1e-9)
    assert (e.alt, e.sats, e.hdop) == (61.7, 8, 1.03)


def test_an_invalid_fix_carries_no_position_even_when_the_receiver_repeats_an_old_one():
    e = one(nmea(GGA.format(q=0)))
    assert e.quality is Q.INVALID and e.lat is None and e.lon is None and e.alt is None


@pytest.mark.parametrize("talker", ["GP", "GN", "BD", "GB", "GA", "GL", "GQ", "GI"])
def test_every_talker_is_read_alike(talker):
    body = GGA.format(q=5).replace("GPGGA", f"{talker}GGA")
    e = one(nmea(body), nmea(RMC.format(mode="F").replace("GPRMC", f"{talker}RMC")))
    assert e.quality is Q.RTK_FLOAT and e.time == "2011-05-28T09:27:50.000Z"


@pytest.mark.parametrize(
    ("mode", "quality"),
    [
        ("A", Q.GPS),
        ("D", Q.DGPS),
        ("P", Q.GPS),
        ("R", Q.RTK_FIXED),
        ("F", Q.RTK_FLOAT),
        ("E", Q.DEAD_RECKONING),
        ("N", Q.INVALID),
        ("S", Q.INVALID),
        ("M", Q.INVALID),
    ],
)
def test_rmc_mode_indicator_gives_the_quality_when_no_gga_says_otherwise(mode, quality):
    e = one(nmea(RMC.format(mode=mode)))
    assert e.quality is quality
    assert (e.lat is None) == (quality is Q.INVALID)


def test_rmc_gives_the_date_speed_in_metres_per_second_and_course():
    e = one(nmea(RMC.format(mode="A")))
    assert e.time == "2011-05-28T09:27:50.000Z"
    assert e.t == pytest.approx(1306574870.0)  # offline: the fix time in unix seconds
    assert e.speed_mps == pytest.approx(0.02 * 1852 / 3600)
    assert e.course_deg == 31.66


def test_rmc_without_a_mode_field_nmea_2_0_reads_its_status_letter():
    e = one(nmea("GPRMC,092750.000,A,5321.6802,N,00630.3372,W,0.02,31.66,280511,,"))
    assert e.quality is Q.GPS


def test_rmc_status_v_is_invalid_whatever_its_mode_and_its_date_is_not_trusted():
    e = one(nmea("GPRMC,092750.000,V,5321.6802,N,00630.3372,W,0.02,31.66,280511,,,A"))
    assert e.quality is Q.INVALID and e.lat is None and e.speed_mps is None
    assert e.time == "09:27:50.000"


def test_vtg_joins_the_open_epoch_with_speed_and_course():
    e = one(nmea(GGA.format(q=1)), nmea("GPVTG,54.7,T,34.4,M,5.5,N,10.2,K,A"))
    assert e.course_deg == 54.7 and e.speed_mps == pytest.approx(5.5 * 1852 / 3600)


def test_vtg_with_mode_n_says_nothing_and_a_vtg_before_any_fix_is_unplaced():
    data = nmea("GPVTG,54.7,T,34.4,M,5.5,N,10.2,K,A") + nmea(GGA.format(q=1)) + nmea("GPVTG,54.7,T,,M,5.5,N,10.2,K,N")
    epochs, reader = read_all(data)
    assert epochs[0].speed_mps is None and epochs[0].course_deg is None
    assert reader.stats.unplaced == 1


def test_vtg_speed_falls_back_to_kilometres_per_hour():
    e = one(nmea(GGA.format(q=1)), nmea("GNVTG,,T,,M,,N,36.0,K,D"))
    assert e.speed_mps == pytest.approx(10.0) and e.course_deg is None


@pytest.mark.parametrize(
    ("modes", "quality"),
    [
        ("ANNA", Q.GPS),
        ("NRNN", Q.RTK_FIXED),
        ("FDAN", Q.RTK_FLOAT),
        ("DA", Q.DGPS),
        ("NNNN", Q.INVALID),
        ("E", Q.DEAD_RECKONING),
    ],
)
def test_gns_takes_the_best_constellation_mode(modes, quality):
    e = one(nmea(f"GNGNS,074157.799,3114.8902,N,12135.2443,E,{modes},07,1.1,192.9,8.3,,0000"))
    assert e.quality is quality
    if quality is not Q.INVALID:
        assert e.lat == pytest.approx(31 + 14.8902 / 60) and (e.sats, e.hdop, e.alt) == (7, 1.1, 192.9)


def test_gns_navigation_status_unsafe_or_not_valid_makes_the_fix_invalid():
    e = one(nmea("GNGNS,074157.799,3114.8902,N,12135.2443,E,RR,07,1.1,192.9,8.3,,0000,V"))
    assert e.quality is Q.INVALID


def test_gst_gives_horizontal_accuracy_as_the_root_sum_square_of_lat_and_lon_deviations():
    e = one(nmea(GGA.format(q=4)), nmea("GNGST,092750.000,32,0.19,0.12,97,0.03,0.04,0.088"))
    assert e.h_acc_m == pytest.approx(0.05)


def test_a_gst_of_another_time_does_not_join_and_is_counted_unplaced():
    epochs, reader = read_all(nmea(GGA.format(q=4)) + nmea("GNGST,092749.000,32,0.19,0.12,97,0.03,0.04,0.088"))
    assert epochs[0].h_acc_m is None and reader.stats.unplaced == 1


def test_a_gst_ahead_of_its_gga_waits_for_it_and_one_behind_is_dropped_when_the_next_epoch_opens():
    data = (
        nmea(GGA.format(q=4))
        + nmea("GNGST,092751.000,32,0.19,0.12,97,0.03,0.04,0.088")
        + nmea("GNGST,092749.000,32,0.19,0.12,97,0.3,0.4,0.088")
        + nmea(GGA.format(q=4).replace("092750", "092751"))
    )
    epochs, reader = read_all(data)
    assert [e.h_acc_m for e in epochs] == [None, pytest.approx(0.05)]
    assert reader.stats.unplaced == 1


def test_hdt_and_ths_give_the_dual_antenna_heading():
    assert one(nmea(GGA.format(q=4)), nmea("GNHDT,244.28,T")).heading_deg == 244.28
    assert one(nmea(GGA.format(q=4)), nmea("GNTHS,12.5,A")).heading_deg == 12.5


def test_ths_not_autonomous_is_no_heading_and_ths_wins_over_hdt():
    assert one(nmea(GGA.format(q=4)), nmea("GNTHS,12.5,V")).heading_deg is None
    assert one(nmea(GGA.format(q=4)), nmea("GNHDT,10.0,T"), nmea("GNTHS,12.5,A")).heading_deg == 12.5


def test_zda_dates_later_gga_only_epochs_and_the_date_rolls_over_midnight():
    data = (
        nmea("GPZDA,235959.000,31,12,2023,00,00")
        + nmea("GPGGA,235959.500,5321.6802,N,00630.3372,W,1,8,1.0,61.7,M,55.2,M,,")
        + nmea("GPGGA,000000.500,5321.6802,N,00630.3372,W,1,8,1.0,61.7,M,55.2,M,,")
    )
    epochs, _ = read_all(data)
    assert [e.time for e in epochs] == ["2023-12-31T23:59:59.500Z", "2024-01-01T00:00:00.500Z"]


def test_gga_wins_the_quality_over_rmc_and_its_position_comes_with_it():
    e = one(nmea(RMC.format(mode="F")), nmea(GGA.format(q=4)))
    assert e.quality is Q.RTK_FIXED
    assert e.time == "2011-05-28T09:27:50.000Z"  # the date still comes from RMC


def test_when_gga_says_invalid_a_valid_rmc_does_not_make_a_fix():
    e = one(nmea(GGA.format(q=0)), nmea(RMC.format(mode="A")))
    assert e.quality is Q.INVALID and e.lat is None and e.speed_mps is None


def test_an_epoch_is_emitted_when_the_next_fix_time_begins_and_the_last_on_flush():
    from exam_vehicle.gnss.reader import GnssReader

    reader = GnssReader()
    assert reader.feed(nmea(GGA.format(q=4))) == []
    assert reader.feed(nmea(RMC.format(mode="R"))) == []  # same time: same epoch
    first = reader.feed(nmea(GGA.format(q=4).replace("092750.000", "092750.100")))
    assert [e.time for e in first] == ["2011-05-28T09:27:50.000Z"]
    last = reader.flush()
    assert [e.time for e in last] == ["2011-05-28T09:27:50.100Z"]  # the date carried from the epoch before


def test_a_sentence_for_the_epoch_just_completed_is_counted_late_and_dropped():
    data = (
        nmea(GGA.format(q=4)) + nmea(GGA.format(q=4).replace("092750.000", "092751.000")) + nmea(RMC.format(mode="N"))
    )
    epochs, reader = read_all(data)
    assert [e.quality for e in epochs] == [Q.RTK_FIXED, Q.RTK_FIXED] and reader.stats.late == 1


def test_the_live_clock_stamps_t_at_completion():
    from exam_vehicle.gnss.reader import GnssReader

    now = iter([1000.5, 1001.5])
    reader = GnssReader(clock=lambda: next(now))
    reader.feed(nmea(GGA.format(q=4)))
    (e,) = reader.feed(nmea(GGA.format(q=4).replace("092750.000", "092751.000")))
    assert e.t == 1000.5 and e.time == "09:27:50.000"


@pytest.mark.parametrize(
    "body",
    [
        "GPGGA,092750.000,53X1.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # letter in the latitude
        "GPGGA,092750.000,5361.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # 61 minutes
        "GPGGA,092750.000,5321.6802,Q,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # no such hemisphere
        "GPGGA,092750.000,,,,,4,8,1.03,61.7,M,55.2,M,,",  # a fix without a position
        "GPGGA,256050.000,5321.6802,N,00630.3372,W,1,8,1.03,61.7,M,55.2,M,,",  # hour 25
        "GPGGA,092750.000,5321.6802,N,00630.3372,W,1,8,nan,61.7,M,55.2,M,,",  # not a finite number
        "GPRMC,092750.000,A,5321.6802,N",  # short
        "GPHDT,inf,T",
    ],
)
def test_checksum_good_but_unusable_sentences_are_counted_malformed_not_raised(body):
    epochs, reader = read_all(nmea(body))
    assert epochs == [] and sum(reader.stats.malformed.values()) == 1


def test_proprietary_and_unread_sentences_are_counted_and_ignored():
    epochs, reader = read_all(nmea("PSTI,030,003832.000,A") + nmea("GPGSA,A,3,05,12,,,,,,,,,,,1.7,0.8,1.6"))
    assert epochs == [] and reader.stats.framing.nmea == {"PSTI": 1, "GSA": 1}
