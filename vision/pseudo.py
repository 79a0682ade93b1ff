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

from vision.det_data import DATASET, cut_box, line_file, load_split
from vision.reader import VinReader


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
            reads = [reader.read_crop(cut_box(img, b, mx, my)) for mx, my in ((0.03, 0.1), (0.0, 0.0), (0.08, 0.25))]
            vins = {r.vin for r in reads}
            if vins & held_vins:
                dropped += 1
                continue
            if len(vins) == 1 and None not in vins and min(r.confidence for r in reads) >= min_conf:
                name = line_file(p.stem, j)
                cv2.imwrite(str(out / name), cut_box(img, b))
                rows.append([name, reads[0].vin, round(min(r.confidence for r in reads), 4)])
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "vin", "confidence"])
        w.writerows(rows)
    print(
        f"pseudo-labelled {len(rows)} of {seen} train-split VIN lines (min confidence {min_conf}); "
        f"{dropped} skipped because their VIN is in the held-out real set"
    )
    return len(rows)


if __name__ == "__main__":
    import sys

    make(
        Path(sys.argv[1]),
        float(sys.argv[2]) if len(sys.argv) > 2 else 0.9,
        model_dir=Path(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
