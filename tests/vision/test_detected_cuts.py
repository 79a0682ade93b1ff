"""Training crops cut the reader's way from real train-split photos."""

from __future__ import annotations

import csv

import cv2

from vision import detected_cuts, hand_labels


def test_labelled_lines_are_cut_from_their_photos_as_the_reader_cuts_them(tmp_path):
    lines = [r for r in hand_labels.load() if r["split"] == "train"][:4]
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "vin"])
        w.writerows([r["file"], r["vin"]] for r in lines)
        w.writerow(["already_a_cut_0_det.png", "XTA21099043000001"])  # not a photo line: ignored

    n = detected_cuts.make(tmp_path / "cuts", labels)

    rows = list(csv.DictReader((tmp_path / "cuts" / "labels.csv").open()))
    assert n == len(rows) >= 3
    by_line = {r["file"].removesuffix(".png"): r["vin"] for r in lines}
    for r in rows:
        assert r["file"].endswith("_det.png") and by_line[r["file"].removesuffix("_det.png")] == r["vin"]
        img = cv2.imread(str(tmp_path / "cuts" / r["file"]))
        assert img is not None and img.shape[1] > 2 * img.shape[0]  # one text line, wider than tall
