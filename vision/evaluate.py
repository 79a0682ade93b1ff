"""Detection metrics on the real valid split (precision/recall at IoU >= 0.5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """IoU of two axis-aligned boxes x0 y0 x1 y1."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def match(preds: list[tuple[float, float, float, float]], gts: np.ndarray, thr: float = 0.5) -> tuple[int, int, int]:
    """Greedy one-to-one matching -> (true positives, false positives, false negatives)."""
    used = set()
    tp = 0
    for p in preds:
        best, bj = 0.0, -1
        for j, g in enumerate(gts):
            if j in used:
                continue
            v = iou(p, tuple(g))
            if v > best:
                best, bj = v, j
        if best >= thr:
            used.add(bj)
            tp += 1
    return tp, len(preds) - tp, len(gts) - tp


def detection_pr(
    model_path: str, root: Path, split: str = "valid", thr: float | None = None, max_boxes: int = 3
) -> dict:
    """Run the detector over a split; a prediction is its rotated box's axis-aligned hull."""
    from vision.det_data import load_split
    from vision.detector import Detector

    det = Detector(model_path)
    tp = fp = fn = 0
    for _, img, gts in load_split(root, split):
        boxes = det.detect(img, thr)[:max_boxes]
        a, b, c = match([bx.aabb() for bx in boxes], gts)
        tp, fp, fn = tp + a, fp + b, fn + c
    return {"recall": tp / max(1, tp + fn), "precision": tp / max(1, tp + fp), "tp": tp, "fp": fp, "fn": fn}


def tune_detector(
    model_path: str, root: Path, every: int = 9, exclude: frozenset[str] | set[str] = frozenset()
) -> list[tuple[float, float, float, float, float]]:
    """Grid of (threshold, height scale, min score) -> recall/precision (up to 3 boxes) on every n-th TRAIN image
    (photos whose stem is in `exclude` left out)."""
    from vision.det_data import load_split
    from vision.detector import Detector, boxes_from_heatmap

    det = Detector(model_path)
    maps = [(*det.heatmap(img), gts) for p, img, gts in load_split(root, "train")[::every] if p.stem not in exclude]
    out = []
    for thr in (0.4, 0.5, 0.6, 0.7, 0.8):
        for hs in (0.6, 0.7, 0.8, 0.9, 1.0):
            for ms in (0.0, 0.7, 0.8, 0.85, 0.9):
                tp = fp = fn = 0
                for prob, f, gts in maps:
                    boxes = boxes_from_heatmap(prob, f, thr, height_scale=hs, min_score=ms, geometry=det.geometry)[:3]
                    a, b, c = match([bx.aabb() for bx in boxes], gts)
                    tp, fp, fn = tp + a, fp + b, fn + c
                out.append((thr, hs, ms, tp / max(1, tp + fn), tp / max(1, tp + fp)))
    return out
