"""The reader completes an epoch on the sentence that ends the receiver's cycle, once it has seen the cycle, not a cycle later."""

from __future__ import annotations

import datetime as dt

from exam_vehicle.gnss import Epoch, FixQuality, GnssReader
from site_sim.exam_car import nmea_sentences


def _epoch(i: int) -> Epoch:
    when = dt.datetime(2026, 12, 6, 8, 0, 0, tzinfo=dt.UTC) + dt.timedelta(milliseconds=100 * i)
    return Epoch(
        t=0.0,
        time=when.isoformat().replace("+00:00", "Z"),
        lat=31.9 + i * 1e-7,
        lon=118.8,
        alt=12.0,
        quality=FixQuality.RTK_FIXED,
        sats=24,
        hdop=0.6,
        speed_mps=1.0,
        course_deg=90.0,
        heading_deg=90.5,
    )


def test_once_the_cycle_is_learnt_an_epoch_is_complete_at_its_last_sentence() -> None:
    reader = GnssReader()
    got_at_own_sentences = []
    for i in range(12):
        got_at_own_sentences.append(len(reader.feed(b"".join(nmea_sentences(_epoch(i))))))
    assert reader.cycle_end is not None and reader.cycle_end.endswith("HDT")
    assert got_at_own_sentences[-3:] == [1, 1, 1], "each epoch out at its own HDT, not when the next GGA arrives"


def test_a_sentence_after_the_learnt_end_unlearns_it_and_nothing_is_lost() -> None:
    reader = GnssReader()
    for i in range(8):
        reader.feed(b"".join(nmea_sentences(_epoch(i))))
    assert reader.cycle_end is not None
    gga, rmc, hdt = nmea_sentences(_epoch(8))
    out = reader.feed(gga + hdt)  # the receiver changed its order: HDT, then RMC
    out += reader.feed(rmc)
    assert reader.cycle_end is None, "back to completing on the next fix"
    out += reader.feed(b"".join(nmea_sentences(_epoch(9)))) + reader.flush()
    assert [e.time[-13:] for e in out] == ["08:00:00.800Z", "08:00:00.900Z"], "every fix is one epoch"
