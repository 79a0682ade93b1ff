"""Small float recognisers with the real one's input and output shapes, built with onnx (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_recogniser(path: Path, seed: int = 0) -> Path:
    """crop (N,1,32,256) -> Conv 3x3 (8) -> Relu -> Conv 32x1 (34, frames) -> Softmax: the shape of the real one."""
    rng = np.random.default_rng(seed)
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
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("crop", TensorProto.FLOAT, ["n", 1, 32, 256])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 64, 34])],
        [w1, w2, axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path
