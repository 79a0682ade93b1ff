"""Accuracy regression with the shipped models on fixed fixtures (fast, deterministic)."""

from __future__ import annotations

import numpy as np

from vision.synth import render_line, render_scene


def test_shipped_recogniser_reads_the_fixed_synthetic_crops(reader, synth_crops):
    reads = [reader.read_crop(img) for _, img in synth_crops]
    exact = np.mean([r.vin == vin for r, (vin, _) in zip(reads, synth_crops)])
    assert exact >= 0.96, (
        exact
    )  # measured 1.00 with the 32x256 recogniser, rounds 9, 14, 19 and 21, 0.99 with v3 in int8 (0.91 with the 32x160 one)


def test_reads_are_deterministic(reader, synth_crops):
    vin, img = synth_crops[0]
    a, b = reader.read_crop(img), reader.read_crop(img)
    assert a.vin == b.vin and a.char_confidences == b.char_confidences


def test_no_wrong_vin_is_accepted_on_the_fixed_crops(reader, synth_crops):
    wrong_accepts = [
        vin for vin, img in synth_crops if (r := reader.read_crop(img)).decision == "accept" and r.vin != vin
    ]
    assert wrong_accepts == []


def test_demo_camera_scenes_are_found_and_read(reader):
    vins = ["LSVAU218XN2183294", "1M8GDM9AXKP042788", "XTAGAB110L1243238", "WVWZZZ1KZ5B159201"]
    reads = [reader.read(render_scene(v, 700_900 + i)) for i, v in enumerate(vins)]
    assert (
        sum(r.vin == v for r, v in zip(reads, vins)) >= 3
    )  # measured 3 of 4 (2 before the half-cell box fix); bench: 50 scenes
    assert all(r.box is not None for r in reads if r.vin)


def test_render_line_and_scene_are_pure_functions_of_vin_and_seed():
    assert np.array_equal(render_line("LSVAU218XN2183294", 3), render_line("LSVAU218XN2183294", 3))
    s = render_scene("LSVAU218XN2183294", 4, width=640, height=480)
    assert s.shape == (480, 640, 3) and s.dtype == np.uint8


def test_valid_check_digit_reads_with_high_confidence_are_accepted(reader, synth_crops):
    from vision.rules import check_digit_required, check_digit_valid

    reads = [
        (vin, reader.read_crop(img)) for vin, img in synth_crops if check_digit_valid(vin) and check_digit_required(vin)
    ]
    accepted = sum(r.decision == "accept" for _, r in reads)
    assert len(reads) >= 10 and accepted / len(reads) >= 0.8, (
        accepted,
        len(reads),
    )  # the shipped models' figures are in vision/MODEL_CARD.md


def test_vins_of_regions_without_a_mandatory_check_digit_always_go_to_review(reader, synth_crops):
    from vision.rules import check_digit_required, check_digit_valid

    reads = [
        reader.read_crop(img) for vin, img in synth_crops if check_digit_valid(vin) and not check_digit_required(vin)
    ]
    clear = [r for r in reads if r.vin and r.confidence >= reader.accept_threshold and r.check_digit == "valid"]
    assert clear and all(r.decision == "review" for r in clear)
    # the region is the reason unless the read already failed an earlier test (e.g. its raw length was not 17)
    assert all(r.review_reason in ("check_digit_not_required", "low_confidence") for r in clear)
    assert sum(r.review_reason == "check_digit_not_required" for r in clear) >= 0.9 * len(clear)


def test_dot_peen_face_covers_the_vin_alphabet_with_distinct_5x7_glyphs():
    from vision.rules import ALPHABET
    from vision.synth import _DOT5X7

    assert set(ALPHABET) | {"*"} <= set(_DOT5X7)
    for ch, rows in _DOT5X7.items():
        cells = rows.split()
        assert len(cells) == 7 and all(len(r) == 5 and set(r) <= {"0", "1"} for r in cells), ch
    patterns = [_DOT5X7[c] for c in ALPHABET]
    assert len(set(patterns)) == len(patterns)  # no two VIN symbols punch the same dots


def test_a_read_found_only_by_searching_nearby_cuts_is_never_accepted(reader, synth_crops):
    from vision.decode import decode

    vin, img = next((v, i) for v, i in synth_crops if v.startswith("L") and reader.read_crop(i).decision == "accept")
    d = decode(reader.recognizer.probs([img])[0])
    assert reader.decide(d) == "accept"
    assert reader.decide(d, searched=True) == "review" and reader.review_reason(d, searched=True) == "found_by_search"
