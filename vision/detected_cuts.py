"""Training crops cut the way the reader cuts a photo: detector box, refined, padded.

Labelled real lines (pseudo and hand labels) are cut from their labelled box with
a fixed margin, but `VinReader.read` feeds the recogniser the detector's refined
box with `PAD_W` of margin, which often holds a neighbouring line, a label word or
a line end cut short. Cutting the same labelled lines the reader's way teaches the
recogniser the crops it is actually fed. Lines whose box the detector misses
(IoU < 0.3) are skipped.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2

from vision.det_data import DATASET, load_photo, photo_of_line
from vision.detector import crop_line
from vision.evaluate import iou
from vision.reader import CANDIDATE_MIN_SCORE, PAD_W, VinReader

MIN_IOU = 0.3


def make(out: Path, labels_csv: Path, model_dir: Path | None = None, dataset: Path = DATASET) -> int:
    """Cut every line named in `labels_csv` (files `{photo stem}_{box}.png`, any folder)
    from its train-split photo as the reader would; write OUT/labels.csv."""
    wanted: dict[str, dict[int, str]] = defaultdict(dict)
    for r in csv.DictReader(labels_csv.open()):
        if line := photo_of_line(r["file"]):  # other rows (e.g. earlier detected cuts) are not lines of a photo
            wanted[line[0]][line[1]] = r["vin"]
    reader = VinReader(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for stem in sorted(wanted):
        if (photo := load_photo(dataset, "train", stem)) is None:
            continue
        img, gts = photo
        boxes = reader.detector.detect(img, min_score=CANDIDATE_MIN_SCORE)[: reader.max_lines]
        for j, vin in wanted[stem].items():
            if j >= len(gts) or not boxes:
                continue
            best = max(boxes, key=lambda b: iou(b.aabb(), tuple(gts[j])))
            if iou(best.aabb(), tuple(gts[j])) < MIN_IOU:
                continue
            name = f"{stem}_{j}_det.png"
            cv2.imwrite(str(out / name), crop_line(img, reader.detector.refine(img, best), pad_w=PAD_W))
            rows.append([name, vin])
    with (out / "labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "vin"])
        w.writerows(rows)
    n = sum(len(v) for v in wanted.values())
    print(f"cut {len(rows)} of {n} labelled lines the reader's way ({n - len(rows)} missed by the detector)")
    return len(rows)


if __name__ == "__main__":
    import sys

    make(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]) if len(sys.argv) > 3 else None)
