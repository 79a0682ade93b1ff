"""Score a candidate recogniser on the sets that choose between training rounds.

Two sets, never the test sets (the bench's seeds and the hand-labelled valid split):
the hand-labelled **dev** lines of the train split (crops and whole photos,
vision/hand_labels.py) and fresh synthetic lines from seeds no training, bench or
calibration draws (`CHOOSE_SEED_BASE`). The rule that uses these scores is
written in vision/MODEL_CARD.md before a round is scored.

    python -m vision.candidates DIR                   # DIR holds vin_det.onnx + vin_rec.onnx
    python -m vision.candidates DIR --checkpoint rec_4000.pt --arch v3   # export first (torch)
    python -m vision.candidates DIR --scenes 100      # also whole synthetic frames (detector + reader)
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from vision.reader import MODEL_DIR, VinReader
from vision.synth import random_vin, render_line

CHOOSE_SEED_BASE = 990_000_000  # the "600 fresh synthetic lines" of the model card
CHOOSE_LINES = 600
CHOOSE_SCENE_BASE = 991_000_000  # the "100 fresh synthetic scenes" (model card, step 16)


def export_checkpoint(checkpoints: list[Path], arch: str, out: Path) -> Path:
    """A model folder for a training checkpoint (several: their average,
    `train_rec.average_checkpoints`): its recogniser exported, the shipped detector and
    calibration beside it."""
    import torch

    from vision.train_rec import ARCH_WIDTH, average_checkpoints, build_model, export_onnx

    out.mkdir(parents=True, exist_ok=True)
    model = build_model(arch)
    if len(checkpoints) == 1:
        model.load_state_dict(torch.load(checkpoints[0], map_location="cpu"))
    else:
        model.load_state_dict(average_checkpoints(checkpoints, arch))
    export_onnx(model, out / "vin_rec.onnx", ARCH_WIDTH[arch])
    for name in ("vin_det.onnx", "calibration.json"):
        if not (out / name).exists():
            shutil.copyfile(MODEL_DIR / name, out / name)
    return out


def synthetic_exact(model_dir: Path, n: int = CHOOSE_LINES) -> float:
    """Share of `n` fresh synthetic lines `read_crop` reads exactly."""
    reader = VinReader(model_dir)
    ok = 0
    for s in range(CHOOSE_SEED_BASE, CHOOSE_SEED_BASE + n):
        vin = random_vin(np.random.default_rng(s))
        ok += reader.read_crop(render_line(vin, s)).vin == vin
    return ok / n


def scene_exact(model_dir: Path, n: int) -> float:
    """Share of `n` fresh synthetic 1280x960 scenes `read` reads exactly."""
    from vision.synth import render_scene

    reader = VinReader(model_dir)
    ok = 0
    for s in range(CHOOSE_SCENE_BASE, CHOOSE_SCENE_BASE + n):
        vin = random_vin(np.random.default_rng(s))
        ok += reader.read(render_scene(vin, s)).vin == vin
    return ok / n


def main() -> None:
    from vision.hand_labels import cut, score_dev

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", type=Path)
    ap.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+",
        default=None,
        help="train_rec checkpoint(s) (.pt) to export into MODEL_DIR first; several are averaged",
    )
    ap.add_argument("--arch", default="v2")
    ap.add_argument(
        "--hand", type=Path, default=Path("var/vin-train/hand"), help="where the hand-labelled lines are cut"
    )
    ap.add_argument("--synthetic", type=int, default=CHOOSE_LINES)
    ap.add_argument("--scenes", type=int, default=0, help="also read this many fresh synthetic scenes")
    a = ap.parse_args()
    if a.checkpoint:
        export_checkpoint(a.checkpoint, a.arch, a.model_dir)
    if not (a.hand / "dev.csv").exists():
        cut(a.hand)
    crops, photos, n = score_dev(a.hand, a.model_dir)
    synth = synthetic_exact(a.model_dir, a.synthetic) if a.synthetic else float("nan")
    scenes = f", fresh scenes {scene_exact(a.model_dir, a.scenes):.1%} of {a.scenes}" if a.scenes else ""
    print(
        f"{a.model_dir}: dev crops {crops}/{n}, dev photos {photos}/{n}, fresh synthetic {synth:.1%} of {a.synthetic}{scenes}"
    )


if __name__ == "__main__":
    main()
