"""The VIN crop travels to the bridge in the case.vin_read event, small and bounded, and the ops case page shows it;
the lane's own case (journaled at every step) keeps only the photo's path."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from cloud_bridge.case_view import vin_evidence
from edge.contract import MAX_PAYLOAD_BYTES, EventEnvelope, EventKind
from lane_controller import case as C
from lane_controller.vin_camera import THUMBNAIL_MAX_BYTES, thumbnail_b64, vin_cut
from vision.synth import render_scene

VIN = "LSVAU2180N2183294"
RULES = C.Rules(items={"passenger_car": ("vin",)}, required_photos=("0113",))
RECORDS = {
    "owner": {"name": "张三", "id_number": "110101199003071234"},
    "vehicle": {
        "certificate": {"vin": VIN, "vehicle_type": "passenger_car", "brand_model": "Lavida"},
        "purchase_tax": {"status": "paid"},
        "insurance": {"valid": True},
    },
}


def _jpeg(b64: str) -> np.ndarray:
    raw = base64.b64decode(b64)
    assert raw[:2] == b"\xff\xd8" and len(raw) <= THUMBNAIL_MAX_BYTES
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_camera_frame_becomes_a_jpeg_of_at_most_16_kib_and_640_px(seed: int) -> None:
    frame = render_scene(VIN, seed)
    img = _jpeg(thumbnail_b64(frame))
    assert img.shape[1] <= 640


def test_even_pure_noise_is_squeezed_under_the_bound() -> None:
    noise = np.random.default_rng(1).integers(0, 256, (960, 1280, 3), dtype=np.uint8)
    img = _jpeg(thumbnail_b64(noise))
    assert img.shape[1] < 640  # quality alone could not do it: the picture got smaller


def test_the_cut_keeps_a_third_of_the_lines_height_around_it() -> None:
    frame = np.zeros((400, 800, 3), np.uint8)
    box = [[100, 200], [700, 200], [700, 260], [100, 260]]  # a 60 px high line
    assert vin_cut(frame, box).shape[:2] == (60 + 2 * 20, 600 + 2 * 20)
    assert vin_cut(frame, None).shape == frame.shape and vin_cut(frame, "garbage").shape == frame.shape


def test_the_vin_read_event_carries_the_crop_and_the_case_keeps_only_its_path() -> None:
    case = C.open_case({}, C.Open("lane-01-c1", "A", id_number="110101199003071234"), 0.0).case
    for i, inp in enumerate([C.PartnerRecords(RECORDS), C.Admit(), C.VehiclePassed("entry")]):
        case = C.step(case, inp, 1.0 + i, RULES).case
    small = thumbnail_b64(render_scene(VIN, 0))
    read = C.VinRead(
        vin=VIN, decision="accept", confidence=0.99, check_digit="valid", image="vin/c1.jpg", image_b64=small
    )
    step = C.step(case, read, 10.0, RULES)
    event = next(e for e in step.events if e.kind == EventKind.CASE_VIN_READ)
    assert event.data["image_b64"] == small and event.data["image"] == "vin/c1.jpg"
    assert step.case.vin_read is not None and step.case.vin_read.image_b64 is None
    assert step.case.vin_read.image == "vin/c1.jpg"
    envelope = EventEnvelope(unit="lane-01", seq=9, ts=10.0, kind=event.kind, case_id="lane-01-c1", data=event.data)
    assert len(envelope.to_bytes()) < MAX_PAYLOAD_BYTES / 2
    shown = vin_evidence({"timeline": [{"ts": 10.0, "kind": event.kind.value, "data": event.data, "seq": 9}]})
    assert shown is not None and shown.photo == "data:image/jpeg;base64," + small
