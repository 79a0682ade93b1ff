"""vision/ensemble.py: several recognisers as one ONNX file averaging their probabilities."""

from __future__ import annotations

import json

import numpy as np
import onnx  # training-time code: onnx comes with the dev extra, so CI runs these
import pytest
from tiny_models import tiny_recogniser

from vision.ensemble import METADATA_KEY, merge
from vision.reader import MODEL_DIR, VinReader
from vision.recognizer import Recognizer
from vision.synth import random_vin, render_line

SHIPPED = MODEL_DIR / "vin_rec.onnx"


def lines(n: int = 6) -> list[np.ndarray]:
    return [render_line(random_vin(np.random.default_rng(s)), s) for s in range(980_500_000, 980_500_000 + n)]


def test_the_merged_file_outputs_the_mean_of_its_members_probabilities(tmp_path):
    one, other = tiny_recogniser(tmp_path / "one.onnx", seed=0), tiny_recogniser(tmp_path / "other.onnx", seed=1)
    merged = merge([one, other], tmp_path / "pair.onnx")
    crops = lines()
    a, b = Recognizer(str(one)).probs(crops), Recognizer(str(other)).probs(crops)
    assert np.abs(a - b).max() > 0.1  # the members really differ
    m = Recognizer(str(merged)).probs(crops)
    assert m.shape == a.shape
    assert np.allclose(m, (a + b) / 2, atol=1e-5)
    assert np.allclose(m.sum(-1), 1.0, atol=1e-4)  # still a distribution per frame: the decoder reads it as it is
    props = {p.key: p.value for p in onnx.load(str(merged)).metadata_props}
    assert json.loads(props[METADATA_KEY]) == ["one.onnx", "other.onnx"]


def test_a_reader_reads_with_a_merged_recogniser(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("vin_det.onnx", "calibration.json"):
        (folder / name).write_bytes((MODEL_DIR / name).read_bytes())
    merge([SHIPPED, SHIPPED], folder / "vin_rec.onnx")
    ours, shipped = VinReader(folder), VinReader()
    # the shipped int8 (QDQ) graph, merged with itself, wires and runs in the reader and reads as itself;
    # the averaging weight is pinned by the test above (the decoder's per-position normalising would hide it here)
    for crop in lines(4):
        a, b = ours.read_crop(crop), shipped.read_crop(crop)
        assert a.vin == b.vin and np.allclose(a.char_confidences, b.char_confidences, atol=1e-3)


def test_members_must_read_crops_of_one_width_and_be_at_least_two(tmp_path):
    narrow = onnx.load(str(SHIPPED))
    narrow.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 160
    onnx.save(narrow, str(tmp_path / "narrow.onnx"))
    with pytest.raises(ValueError, match="widths"):
        merge([SHIPPED, tmp_path / "narrow.onnx"], tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="at least two"):
        merge([SHIPPED], tmp_path / "y.onnx")
