"""Static int8 quantisation of the recogniser (training time only; needs the `train` extra's onnx).

Why: int8 weights are a quarter of the size and onnxruntime's int8 convolutions are faster
on one CPU thread (x86 and the Pi's ARM cores alike), which lets a deeper recogniser ship
inside the 3 MB model budget and the 2 ms per-crop target (vision/MODEL_CARD.md).

Activation ranges are calibrated on what the recogniser meets at run time: synthetic lines
from seeds no training or bench uses, plus the hand-labelled real crops of the train split
(never the dev lines, never the valid split). The run is deterministic for given inputs.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vision.preprocess import prep_crop
from vision.synth import random_vin, render_line

CALIBRATION_SEED_BASE = 970_000_000  # synthetic calibration lines; no training, bench or dev set uses them
CALIBRATION_SYNTHETIC = 300


def calibration_crops(real_csv: Path | None, n_synthetic: int = CALIBRATION_SYNTHETIC) -> Iterator[np.ndarray]:
    """Crops in run-time form: fresh synthetic lines, then every crop listed in `real_csv` (file, vin)."""
    for k in range(n_synthetic):
        s = CALIBRATION_SEED_BASE + k
        yield render_line(random_vin(np.random.default_rng(s)), s)
    if real_csv is not None:
        base = real_csv.parent
        for row in csv.DictReader(real_csv.open()):
            img = cv2.imread(str(base / row["file"]))
            if img is not None:
                yield img


CHECK_SEED_BASE = CALIBRATION_SEED_BASE + 100_000  # lines that check the int8 model against its float source
CHECK_LINES = 40
MIN_AGREEMENT = 0.97  # share of CTC frames whose best symbol int8 and float agree on


def quantize(
    src: Path,
    dst: Path,
    real_csv: Path | None = None,
    n_synthetic: int = CALIBRATION_SYNTHETIC,
    seven_bit: bool = False,
) -> Path:
    """Write `dst`: `src` with int8 weights (per channel) and uint8 activations in QDQ form.

    x86 CPUs without VNNI (AVX2 only, like this project's build machine) multiply uint8 by
    int8 with an instruction that saturates: with large enough weights the int8 model then
    reads quite differently from the float one (a test model agreed on 79% of frames).
    So the result is checked against `src` on fresh lines, and if it disagrees the
    weights are quantised again with 7-bit range, which cannot saturate. The check runs on
    the machine that quantises; `seven_bit` goes straight to the 7-bit range, for a model
    that must read the same on CPUs the check never ran on.
    """
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from vision.recognizer import Recognizer

    inp = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0]
    width = int(inp.shape[3])

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = (
                {inp.name: prep_crop(c, width)[None].astype(np.float32)}
                for c in calibration_crops(real_csv, n_synthetic)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    check = [
        render_line(random_vin(np.random.default_rng(s)), s)
        for s in range(CHECK_SEED_BASE, CHECK_SEED_BASE + CHECK_LINES)
    ]
    want = Recognizer(str(src)).probs(check).argmax(-1)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # ONNX shape inference and graph clean-up, as the quantiser expects; the symbolic pass (sympy) is for
        # transformer shapes, which a CNN has none of
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        best: tuple[float, Path] | None = None
        for reduce_range in (True,) if seven_bit else (False, True):
            out = Path(tmp) / f"int8_{reduce_range}.onnx"
            quantize_static(
                str(pre),
                str(out),
                Crops(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=reduce_range,
            )
            agree = float(np.mean(Recognizer(str(out)).probs(check).argmax(-1) == want))
            if best is None or agree > best[0]:
                best = (agree, out)
            if agree >= MIN_AGREEMENT:
                break
        assert best is not None
        shutil.copyfile(best[1], dst)
    float_softmax(dst, dst)
    return dst


def float_softmax(src: Path, dst: Path) -> Path:
    """`src` without the Quantize/Dequantize pair after its Softmax: the probabilities in float.

    The quantiser rounds the output probabilities to multiples of 1/255 with 0 as the
    floor, which caps a symbol's evidence against its runner-up at ln 255 = 5.5 nats and
    makes every unlikely symbol equally impossible. The verifier (vision/verify.py) weighs
    exactly that evidence; the logits before the Softmax keep their int8 step (0.34 nats
    for the shipped model), so the argmax and every read stay the same (MODEL_CARD, step 22)."""
    import onnx

    model = onnx.load(str(src))
    g = model.graph
    softmax = [n for n in g.node if n.op_type == "Softmax"]
    q = [n for n in g.node if n.op_type == "QuantizeLinear" and softmax and n.input[0] == softmax[-1].output[0]]
    dq = [n for n in g.node if n.op_type == "DequantizeLinear" and q and n.input[0] == q[0].output[0]]
    if q and dq:
        g.node.remove(q[0])
        g.node.remove(dq[0])
        softmax[-1].output[0] = dq[0].output[0]
        used = {name for n in g.node for name in n.input}
        for init in [i for i in g.initializer if i.name not in used]:
            g.initializer.remove(init)
        onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="float recogniser (vin_rec.onnx from vision.train_rec)")
    ap.add_argument("dst", type=Path)
    ap.add_argument(
        "--real",
        type=Path,
        default=None,
        help="train.csv written by `python -m vision.hand_labels DIR` (real crops for calibration)",
    )
    ap.add_argument(
        "--seven-bit",
        action="store_true",
        help="7-bit weights only: no saturation on x86 CPUs without VNNI, whichever CPU quantises",
    )
    ap.add_argument(
        "--float-softmax-only",
        action="store_true",
        help="only take the quantisation off the output probabilities of an int8 SRC (MODEL_CARD, step 22)",
    )
    a = ap.parse_args()
    if a.float_softmax_only:
        out = float_softmax(a.src, a.dst)
    else:
        out = quantize(a.src, a.dst, a.real, seven_bit=a.seven_bit)
    print(f"{a.src} ({a.src.stat().st_size / 1e6:.2f} MB) -> {out} ({out.stat().st_size / 1e6:.2f} MB)")
