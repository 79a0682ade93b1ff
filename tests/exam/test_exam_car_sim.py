"""The simulated exam car (harness): its receiver's epochs and NMEA, its board's signals, and near misses that are as near as stated."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest
from judge_helpers import car, course, simulated

from exam_vehicle.courses.make_example import layout
from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.signals import Signal, SignalChange
from site_sim.exam_car import (
    PROFILES,
    calibrate,
    nmea_sentences,
    ra_balanced_turn,
    ra_clearance,
    s_clearance,
)


def _nmea_degrees(value: str, hemi: str, deg_digits: int) -> float:
    d = int(value[:deg_digits]) + float(value[deg_digits:]) / 60.0
    return -d if hemi in "SW" else d


def test_nmea_sentences_have_good_checksums_and_carry_the_epoch() -> None:
    epochs = [i for i in simulated("rtk-lost-5s")[1] if isinstance(i, Epoch)]
    floats = [e for e in epochs if e.quality is FixQuality.RTK_FLOAT]
    assert floats and not any(e.heading_deg is not None for e in floats)
    for ep in (epochs[0], epochs[1234], floats[0]):
        sentences = nmea_sentences(ep)
        for raw in sentences:
            text = raw.decode("ascii")
            assert text.startswith("$") and text.endswith("\r\n")
            body, check = text[1:-2].split("*")
            x = 0
            for ch in body.encode():
                x ^= ch
            assert f"{x:02X}" == check
        gga = sentences[0].decode().split(",")
        assert gga[0] == "$GNGGA" and gga[6] == ("4" if ep.quality is FixQuality.RTK_FIXED else "5")
        assert _nmea_degrees(gga[2], gga[3], 2) == pytest.approx(ep.lat, abs=1e-9)
        assert _nmea_degrees(gga[4], gga[5], 3) == pytest.approx(ep.lon, abs=1e-9)
        rmc = sentences[1].decode().split(",")
        assert rmc[0] == "$GNRMC" and rmc[12] == ("R" if ep.quality is FixQuality.RTK_FIXED else "F")
        assert (len(sentences) == 3) == (ep.heading_deg is not None)


def test_the_track_is_10_hz_epochs_and_the_boards_signals_on_one_clock() -> None:
    header, inputs = simulated("clean")
    assert header.rules_version == "c1-2022.1" and header.car == car().name
    epochs = [i for i in inputs if isinstance(i, Epoch)]
    gaps = {round(b.t - a.t, 3) for a, b in itertools.pairwise(epochs)}
    assert gaps == {0.1}
    assert [i.t for i in inputs] == sorted(i.t for i in inputs)
    first = [i for i in inputs if isinstance(i, SignalChange) and i.t == inputs[0].t]
    assert {s.signal for s in first} == set(Signal)  # every signal's value at power-up
    assert {s.signal for s in inputs if isinstance(s, SignalChange)} >= {
        Signal.SEAT_BELT,
        Signal.GEAR_REVERSE,
        Signal.HANDBRAKE,
        Signal.CLUTCH,
        Signal.BRAKE,
        Signal.TURN_LEFT,
        Signal.ENGINE_RPM,
    }


def test_the_receiver_reports_the_antenna_with_rtk_fixed_noise() -> None:
    epochs = [i for i in simulated("clean")[1] if isinstance(i, Epoch)][:20]  # standing at the start
    pts = [course().enu(e.lat, e.lon, e.alt) for e in epochs]
    a = car().position_antenna
    assert statistics.mean(p[0] for p in pts) == pytest.approx(
        4.0 + a.x, abs=0.03
    )  # rear axle at e = 4 m, heading east
    assert statistics.pstdev(p[0] for p in pts) < 0.02 and statistics.pstdev(p[1] for p in pts) < 0.02
    assert statistics.pstdev(e.heading_deg for e in epochs) < 0.3


def test_the_same_seed_gives_the_same_track() -> None:
    from site_sim.exam_car import drive_exam

    p = PROFILES["s-stop-1.5s"][0]
    assert drive_exam(p)[1] == list(simulated("s-stop-1.5s")[1])


@pytest.mark.parametrize("target", [0.03, -0.03])
def test_calibrated_near_misses_are_as_near_as_stated(target: float) -> None:
    lay, c = layout(), car()
    p = calibrate(PROFILES["s-wheel-near-edge"][0].__class__(targets=(("s_wheel", target),)), c, lay)
    assert p.s_offset is not None
    if target > 0:
        assert s_clearance(c, lay, p.s_offset) == pytest.approx(target, abs=0.004)
    q = calibrate(PROFILES["ra-wheel-near-edge"][0].__class__(targets=(("ra_wheel", target),)), c, lay)
    if target > 0:
        assert ra_clearance(c, lay, ra_balanced_turn(c, lay) + (q.ra_turn_shift or 0.0), "right") == pytest.approx(
            target, abs=0.004
        )
    assert not math.isnan(q.ra_turn_shift or 0.0)
