"""VIN-line recogniser at run time: ONNX CNN+CTC -> per-frame probabilities."""

from __future__ import annotations

import numpy as np

from vision.onnx_session import cpu_session
from vision.preprocess import prep_crop


class Recognizer:
    """Wraps the shipped ONNX model; `probs(crops)` returns (N, T, 34) CTC probabilities."""

    def __init__(self, model_path: str, threads: int = 1) -> None:
        self.sess = cpu_session(model_path, threads)
        inp = self.sess.get_inputs()[0]
        self.input = inp.name
        self.width = int(inp.shape[3])  # models differ in input width (160 or 256)

    def probs(self, crops: list[np.ndarray]) -> np.ndarray:
        x = np.stack([prep_crop(c, self.width) for c in crops]).astype(np.float32)
        return self.sess.run(None, {self.input: x})[0]
