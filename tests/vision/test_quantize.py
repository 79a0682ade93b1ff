"""The int8 quantiser (vision/quantize.py) on a small float recogniser-shaped model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx  # training-time code: onnx comes with the dev extra, so CI runs these
from onnx import TensorProto, helper, numpy_helper

from vision.quantize import quantize
from vision.synth import random_vin, render_line


def tiny_recogniser(path: Path) -> Path:
    """crop (N,1,32,256) -> Conv 3x3 (8) -> Relu -> Conv 32x1 (34, frames) -> Softmax: the shape of the real one."""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.2, (34, 8, 32, 4)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["crop", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], strides=[1, 4]),  # (N,34,1,64)
        helper.make_node("Squeeze", ["c2", "axes"], ["logits"]),
        helper.make_node("Transpose", ["logits"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Softmax", ["t"], ["probs"], axis=-1),
    ]
    axes = numpy_helper.from_array(np.array([2], np.int64), "axes")
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("crop", TensorProto.FLOAT, ["n", 1, 32, 256])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 64, 34])], [w1, w2, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


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
