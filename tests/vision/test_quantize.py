"""The int8 quantiser (vision/quantize.py) on a small float recogniser-shaped model built here."""

from __future__ import annotations

import numpy as np
import onnx  # training-time code: onnx comes with the dev extra, so CI runs these
from onnx import TensorProto
from tiny_models import tiny_recogniser

from vision.quantize import quantize
from vision.synth import random_vin, render_line


def test_quantised_model_is_int8_smaller_and_reads_like_the_float_one(tmp_path):
    from vision.recognizer import Recognizer

    src = tiny_recogniser(tmp_path / "f32.onnx")
    dst = quantize(src, tmp_path / "i8.onnx", n_synthetic=40)
    ops = {n.op_type for n in onnx.load(str(dst)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    weights = [i for i in onnx.load(str(dst)).graph.initializer if i.name.startswith("w2")]
    assert any(i.data_type == TensorProto.INT8 for i in weights)  # the big weight is stored as int8
    assert dst.stat().st_size < src.stat().st_size / 2
    crops = [render_line(random_vin(np.random.default_rng(s)), s) for s in range(980_000_000, 980_000_020)]
    a, b = Recognizer(str(src)).probs(crops), Recognizer(str(dst)).probs(crops)
    assert a.shape == b.shape == (20, 64, 34)
    agree = float(np.mean(a.argmax(-1) == b.argmax(-1)))
    assert agree >= 0.95, agree  # frame-wise best symbol mostly unchanged by int8
    assert float(np.abs(a - b).max()) < 0.25


def test_calibration_uses_real_crops_when_given(tmp_path):
    import cv2

    from vision.quantize import calibration_crops

    img = np.full((20, 200, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    (tmp_path / "train.csv").write_text("file,vin\na.png,LSVAU218XN2183294\nmissing.png,LSVAU218XN2183294\n")
    crops = list(calibration_crops(tmp_path / "train.csv", n_synthetic=3))
    assert len(crops) == 4 and crops[-1].shape == (20, 200, 3)  # 3 synthetic, 1 real, the missing file skipped


def test_seven_bit_weights_stay_in_the_range_that_cannot_saturate(tmp_path):
    from onnx import numpy_helper

    src = tiny_recogniser(tmp_path / "f32.onnx")
    dst = quantize(src, tmp_path / "i7.onnx", n_synthetic=20, seven_bit=True)
    weights = [
        numpy_helper.to_array(i) for i in onnx.load(str(dst)).graph.initializer if i.data_type == TensorProto.INT8
    ]
    # |a*w + a2*w2| <= 2*255*64 = 32640 < 2**15. (Without seven_bit a VNNI CPU keeps the full range, up
    # to 127; an AVX2-only one may fall back to 7 bits itself, so the default's range is not asserted.)
    assert weights and all(abs(w).max() <= 64 for w in weights)
