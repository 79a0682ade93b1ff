"""Pseudo-labels from the real train-split photos (training only, never the valid split).

Each labelled VIN-line box of the train split is cut out with three different
margins and read; a crop becomes a training label only when all three reads
agree, give 17 symbols, and every symbol is confident. This closes part of
the synthetic-to-real gap without a human transcribing the train split.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from vision.det_data import DATASET, load_split
from vision.reader import VinReader


def _cut(img: np.ndarray, box: np.ndarray, mx: float, my: float) -> np.ndarray:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    X0, Y0 = int(max(0, x0 - mx * w)), int(max(0, y0 - my * h))
    X1, Y1 = int(min(img.shape[1], x1 + mx * w)), int(min(img.shape[0], y1 + my * h))
    return img[Y0:Y1, X0:X1]


def make(out: Path, min_conf: float = 0.9, limit: int | None = None, model_dir: Path | None = None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    reader = VinReader(model_dir)
    # the same car may be photographed in both splits: never learn a VIN of our real test set
    held = Path(__file__).resolve().parents[1] / "tests" / "vision" / "data" / "real_valid_labels.csv"
    held_vins = {r["vin"] for r in csv.DictReader(held.open())} if held.exists() else set()
    dropped = 0
    rows = []
    seen = 0
    for p, img, boxes in load_split(DATASET, "train")[:limit]:
        for j, b in enumerate(boxes):
            seen += 1
            reads = [reader.read_crop(_cut(img, b, mx, my)) for mx, my in ((0.03, 0.1), (0.0, 0.0), (0.08, 0.25))]
            vins = {r.vin for r in reads}
            if vins & held_vins:
                dropped += 1
                continue
            if len(vins) == 1 and None not in vins and min(r.confidence for r in reads) >= min_conf:
                name = f"{p.stem}_{j}.png"
                cv2.imwrite(str(out / name), _cut(img, b, 0.03, 0.12))
                rows.append([name, reads[0].vin, round(min(r.confidence for r in reads), 4)])
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "vin", "confidence"])
        w.writerows(rows)
    print(f"pseudo-labelled {len(rows)} of {seen} train-split VIN lines (min confidence {min_conf}); "
          f"{dropped} skipped because their VIN is in the held-out real set")
    return len(rows)


if __name__ == "__main__":
    import sys

    make(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.9,
         model_dir=Path(sys.argv[3]) if len(sys.argv) > 3 else None)
