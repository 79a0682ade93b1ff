"""The case and the tablet with a VIN verified against the certificate (vision/verify.py at the lane)."""

from __future__ import annotations

import typing

import pytest

from edge.contract import EventKind
from lane_controller import case as C
from lane_controller.i18n import STRINGS
from vision.vin_read import CharCheck, VinRead, VinVerification

from .test_case_machine import HAPPY, RULES, VIN, run


def checked(decision: str, expected: str = VIN, read: str = VIN, score: float = 9.0, differs: tuple = ()) -> VinRead:
    chars = [
        CharCheck(position=k + 1, expected=ch, posterior=0.99, margin=score, x0=10.0 * k, x1=10.0 * k + 10)
        for k, ch in enumerate(expected)
    ]
    v = VinVerification(
        expected=expected,
        decision=decision,
        score=score,
        read=read,
        differs_at=list(differs),
        chars=chars,
        crop_width=170.0,
    )
    return VinRead(vin=read, decision="review", confidence=0.9, check_digit="valid", verification=v, frames=4)


def test_a_match_confirms_the_certificate_vin_without_the_inspector_even_when_the_free_read_differs():
    case, steps = run(HAPPY[:3] + [checked("match", read="LSVAU2180N21B3294")])
    assert case.stage == C.Stage.VIN_CONFIRMED and case.vin == VIN and not case.vin_needs_review
    events = {e.kind: e.data for e in steps[-1].events}
    assert events[EventKind.CASE_VIN_CONFIRMED] == {
        "vin": VIN,
        "by": "reader",
        "verification": {"decision": "match", "score": 9.0},
    }
    read_event = events[EventKind.CASE_VIN_READ]
    assert read_event["verification"]["decision"] == "match" and read_event["frames"] == 4
    assert read_event["certificate_vin"] == VIN and "vin" in read_event and "matches" in read_event  # old keys kept


@pytest.mark.parametrize("decision", ["mismatch", "review"])
def test_a_mismatch_or_review_goes_to_the_inspector_with_the_evidence(decision):
    case, _ = run(HAPPY[:3] + [checked(decision, read="LSVAU2180N2183295", score=-6.0, differs=(17,))])
    assert case.stage == C.Stage.ADMITTED and case.vin_needs_review
    assert case.vin_read.verification.differs_at == [17]
    s = C.step(case, C.VinConfirm(VIN, "checked on the car"), 10, RULES)
    assert s.case.stage == C.Stage.VIN_CONFIRMED


def test_a_match_of_another_vin_than_the_certificates_confirms_nothing():
    case, _ = run(HAPPY[:3] + [checked("match", expected="LSVAU2180N2183295", read="LSVAU2180N2183295")])
    assert case.stage == C.Stage.ADMITTED and case.vin_needs_review


def test_a_reshoot_asks_for_a_new_photo_and_confirms_nothing():
    case, steps = run(HAPPY[:3] + [VinRead(decision="none", reshoot="blur", frames=4)])
    assert case.stage == C.Stage.ADMITTED and case.vin_needs_review
    assert [e.data["reshoot"] for e in steps[-1].events if e.kind == EventKind.CASE_VIN_READ] == ["blur"]


def test_every_reshoot_reason_and_verdict_has_tablet_text_in_both_languages():
    reasons = typing.get_args(typing.get_args(VinRead.model_fields["reshoot"].annotation)[0])
    verdicts = typing.get_args(VinVerification.model_fields["decision"].annotation)
    assert reasons and verdicts
    for key in [f"reshoot_{r}" for r in reasons] + [f"verdict_{d}" for d in verdicts]:
        assert set(STRINGS[key]) == {"zh-CN", "en"}


def _worker(tmp_path):
    from lane_controller.vin_camera import VinCamera, VinReading
    from lane_controller.vin_capture import VisionWorker

    (tmp_path / "camera").mkdir()
    return VisionWorker(VinCamera(str(tmp_path / "camera")), VinReading(load=True), tmp_path, lambda: 1000.0)


def test_the_lane_verifies_the_certificate_vin_in_the_cameras_frame_and_keeps_the_verified_cut(tmp_path):
    import asyncio

    import cv2

    from lane_controller.vin_camera import upload_frame
    from vision.synth import render_scene

    worker = _worker(tmp_path)
    try:
        upload_frame(tmp_path / "camera", render_scene(VIN, 650_003))
        read = asyncio.run(worker.read_vin("c1", VIN))
        assert read.verification is not None and read.verification.expected == VIN
        assert read.frames == 1  # a snapshot folder's same newest file counts once
        assert read.reshoot is None
        kept = cv2.imread(str(tmp_path / read.image))
        assert kept is not None and kept.shape[1] == read.verification.crop_width  # the x-ranges fit the kept cut
        plain = asyncio.run(worker.read_vin("c2", None))  # no certificate VIN: read, not verified
        assert plain.verification is None and plain.vin is not None
    finally:
        worker.close()


def test_a_blurred_camera_frame_asks_for_a_reshoot_instead_of_a_verdict(tmp_path):
    import asyncio

    import cv2

    from lane_controller.vin_camera import upload_frame
    from vision.synth import render_scene

    worker = _worker(tmp_path)
    try:
        upload_frame(tmp_path / "camera", cv2.GaussianBlur(render_scene(VIN, 650_003), (0, 0), 4))
        read = asyncio.run(worker.read_vin("c1", VIN))
        assert read.reshoot == "blur" and read.decision == "none"
        assert read.verification is not None and read.verification.decision == "review"
        assert read.image is not None  # the inspector sees the frame that was refused
    finally:
        worker.close()
