"""Seed ranges, so that no held-out image is ever a training image.

Training lines use seeds >= 10,000,000 (train_rec.TRAIN_SEED_BASE) and
training scenes >= 20,000,000 (det_data.SCENE_SEED_BASE); everything below
1,000,000 is held out and split here by purpose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vision.synth import random_vin

TRAIN_EVAL = 500_000  # the training loop's own progress check
BENCH_CROPS = 600_000
BENCH_FRAMES = 650_000
FIXTURES = 700_000  # tests/vision/data regression set
CALIBRATION = 800_000


def heldout_vins(base: int, n: int) -> list[tuple[str, int]]:
    """(vin, seed) pairs for a held-out range; the VIN itself comes from the seed."""
    return [(random_vin(np.random.default_rng(base + k)), base + k) for k in range(n)]


def write_fixture_crops(folder: Path, n: int = 100) -> None:
    """Re-render the regression fixtures of tests/vision/data/synth_crops (JPEG q92 + labels.csv)."""
    import cv2

    from vision.synth import render_line

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file,vin,seed"]
    for k, (vin, seed) in enumerate(heldout_vins(FIXTURES, n)):
        name = f"{k:03d}.jpg"
        cv2.imwrite(str(folder / name), render_line(vin, seed), [cv2.IMWRITE_JPEG_QUALITY, 92])
        rows.append(f"{name},{vin},{seed}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    import sys

    write_fixture_crops(Path(sys.argv[1]))
