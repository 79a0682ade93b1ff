"""Choosing among camera frames and asking for a re-shoot (vision/capture.py)."""

from __future__ import annotations

import cv2
import numpy as np

from vision.capture import combine, order, quality, reshoot, unusable_reason
from vision.synth import render_scene
from vision.vin_read import VinRead, VinVerification

VIN = "LSVAU218XN2183294"


def scene() -> np.ndarray:
    return render_scene(VIN, 650_001)


def test_a_sharp_frame_is_usable_and_the_same_frame_blurred_is_not() -> None:
    sharp = quality(scene())
    blurred = quality(cv2.GaussianBlur(scene(), (0, 0), 3))
    assert sharp.usable and not sharp.blurred
    assert blurred.blurred and not blurred.usable
    assert sharp.sharpness > 3 * blurred.sharpness


def test_glare_over_the_vin_line_makes_a_frame_unusable() -> None:
    img = scene()
    box = [[100.0, 100.0], [700.0, 100.0], [700.0, 160.0], [100.0, 160.0]]
    assert not quality(img, box).glared
    img[100:160, 100:500] = 255
    q = quality(img, box)
    assert q.glared and not q.usable


def test_frames_are_ranked_sharpest_first_and_unusable_ones_left_out() -> None:
    img = scene()
    qs = [quality(cv2.GaussianBlur(img, (0, 0), s)) if s else quality(img) for s in (1.0, 0, 4.0, 0.6)]
    assert order(qs) == [1, 3, 0]


def test_the_reason_for_a_reshoot_is_the_commoner_fault() -> None:
    img = scene()
    blurred = quality(cv2.GaussianBlur(img, (0, 0), 4))
    white = img.copy()
    white[: img.shape[0] // 3] = 255  # a reflection over the top third, the rest sharp
    glared = quality(white)
    assert glared.glared and not glared.blurred
    assert unusable_reason([blurred, blurred, glared]) == "blur"
    assert unusable_reason([blurred, glared, glared]) == "glare"
    r = reshoot("no_vin", 4, VIN)
    assert r.decision == "none" and r.reshoot == "no_vin" and r.frames == 4
    assert r.verification is not None and r.verification.decision == "review"


def verified(decision: str, score: float) -> VinRead:
    return VinRead(
        vin=VIN, decision="review", verification=VinVerification(expected=VIN, decision=decision, score=score)
    )


def test_a_later_frame_that_matches_wins_else_the_best_scoring_frame() -> None:
    assert combine([verified("review", 1.0), verified("match", 9.0)]).verification.score == 9.0
    assert (
        combine([verified("review", 1.0), verified("review", 2.5), verified("mismatch", -8.0)]).verification.score
        == 2.5
    )


def test_reading_prefers_a_vin_two_frames_agree_on() -> None:
    a = VinRead(vin="X" * 17, decision="review", confidence=0.99)
    b = VinRead(vin=VIN, decision="review", confidence=0.8)
    c = VinRead(vin=VIN, decision="review", confidence=0.9)
    assert combine([a, b, c]) is c
    assert combine([a, b]) is a
