"""Classical OpenCV VIN-line proposals: the baseline the learned detector is measured against.

Text lines are rows of strong vertical strokes: a black-hat/top-hat picks out
thin dark-on-light and light-on-dark marks, a horizontal Sobel keeps the
vertical strokes, a wide closing joins the symbols of a line, and every
long, thin blob becomes a rotated box. No training; used only by
`passlane bench vin` to show whether the learned detector earns its place.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.detector import LineBox

MIN_ASPECT = 5.0  # a 17-symbol line is 10-19 text heights long
# Scale and kernel sizes: the best of 10 settings on every 9th image of the train split
# (recall 47%, precision 23% there); the valid-split figures are in the bench.
LONG_SIDE = 640
MARK_KERNEL = (11, 5)
JOIN_KERNEL = (13, 3)


def propose_lines(frame: np.ndarray, max_lines: int = 3) -> list[LineBox]:
    """Up to `max_lines` line boxes in frame pixels, longest strong lines first."""
    g = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = g.shape
    f = LONG_SIDE / max(h, w)
    small = cv2.resize(
        g, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    )
    k = cv2.getStructuringElement(cv2.MORPH_RECT, MARK_KERNEL)
    marks = np.maximum(cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, k), cv2.morphologyEx(small, cv2.MORPH_TOPHAT, k))
    gx = np.abs(cv2.Sobel(marks, cv2.CV_32F, 1, 0, ksize=3))
    gx = cv2.normalize(gx, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    joined = cv2.morphologyEx(gx, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, JOIN_KERNEL))
    _, bw = cv2.threshold(joined, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bw = cv2.morphologyEx(bw, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3)))
    contours, _ = cv2.findContours(bw, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(c)
        if rw < rh:
            rw, rh, ang = rh, rw, ang + 90.0
        ang = (ang + 90.0) % 180.0 - 90.0
        if rh < 3 or rw / max(rh, 1e-6) < MIN_ASPECT or abs(ang) > 30:
            continue
        fill = cv2.contourArea(c) / max(rw * rh, 1e-6)
        out.append(LineBox(cx / f, cy / f, rw / f, rh / f, float(ang), float(fill * rw / f)))
    out.sort(key=lambda b: -b.score)
    return out[:max_lines]
