"""VIN-line detector at run time: ONNX heat map -> rotated boxes (opencv + onnxruntime).

The network marks the shrunken core of each VIN line at 1/4 of its input
resolution; a line's rotated box is the minimum-area rectangle around a
connected blob, grown back by the shrink factors used in training. Cores
are shrunk so that neighbouring label lines never merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vision.onnx_session import cpu_session
from vision.preprocess import DET_LONG, prep_frame

STRIDE = 4
SHRINK_W, SHRINK_H = 0.92, 0.6  # training marks this fraction of the box
# Chosen on every 9th image of the *train* split (vision.evaluate.tune_detector),
# never on the valid split the figures are reported on.
THRESHOLD = 0.7
HEIGHT_SCALE = 0.7  # the heat map's soft edges make blobs thicker than the cores it was taught
MIN_SCORE = 0.9  # blobs whose mean probability is lower are not proposed
GEOMETRY_KEY = "passlane.detector"  # ONNX metadata entry that holds a model's `Geometry` as JSON


class Geometry(BaseModel):
    """How a detector's heat map maps back to boxes: fixed by its training targets (stride,
    shrink) and by the post-processing tuned for it. Stored in the model file, so a model
    and its geometry travel together; a file without it is the first detector (these defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stride: int = Field(STRIDE, description="input pixels per heat-map cell")
    shrink_w: float = Field(SHRINK_W, description="fraction of the line's length the training core marks")
    shrink_h: float = Field(SHRINK_H, description="fraction of the line's height the training core marks")
    threshold: float = Field(THRESHOLD, description="heat-map probability that belongs to a blob")
    height_scale: float = Field(HEIGHT_SCALE, description="correction of the blob thickness to the core's")
    min_score: float = Field(MIN_SCORE, description="blobs of lower mean probability are not proposed")


@dataclass(frozen=True)
class LineBox:
    """A rotated VIN-line box in frame pixels; `points` run TL, TR, BR, BL along the text."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float  # degrees, text direction, counter-clockwise positive in image coords
    score: float

    @property
    def points(self) -> np.ndarray:
        a = np.radians(self.angle)
        ux, uy = np.cos(a), np.sin(a)
        vx, vy = -uy, ux
        hw, hh = self.w / 2, self.h / 2
        c = np.array([self.cx, self.cy])
        u, v = np.array([ux, uy]), np.array([vx, vy])
        return np.stack([c - hw * u - hh * v, c + hw * u - hh * v, c + hw * u + hh * v, c - hw * u + hh * v]).astype(
            np.float32
        )

    def aabb(self) -> tuple[float, float, float, float]:
        p = self.points
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())


def boxes_from_heatmap(
    prob: np.ndarray,
    scale: float,
    thr: float | None = None,
    min_area: int = 3,
    height_scale: float | None = None,
    min_score: float | None = None,
    geometry: Geometry = Geometry(),
) -> list[LineBox]:
    """Connected blobs of `prob` (detector output grid) -> boxes in frame pixels, best first.
    `thr`, `height_scale` and `min_score` override the geometry's own values."""
    g = geometry
    m = (prob > (g.threshold if thr is None else thr)).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < min_area:
            continue
        sub = lab[y : y + h, x : x + w] == i
        ys, xs = np.nonzero(sub)
        pts = np.stack([xs + x, ys + y], 1).astype(np.float32)
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(pts)
        if rw < rh:
            rw, rh, ang = rh, rw, ang + 90.0
        ang = (ang + 90.0) % 180.0 - 90.0  # text reads left to right: angle in [-90, 90)
        score = float(prob[y : y + h, x : x + w][sub].mean())
        if score < (g.min_score if min_score is None else min_score):
            continue
        k = g.stride / scale
        # a thin blob's thickness is better measured as area / length than by its hull,
        # which the heat map's soft edges inflate
        length = rw + 1.0
        thick = min(rh + 1.0, area / length)
        hs = g.height_scale if height_scale is None else height_scale
        out.append(LineBox(cx * k, cy * k, length / g.shrink_w * k, thick / g.shrink_h * k * hs, float(ang), score))
    out.sort(key=lambda b: -b.score * np.sqrt(b.w * b.h))
    return out


def crop_line(
    frame: np.ndarray, box: LineBox, pad_h: float = 0.15, pad_w: float = 0.3, flip: bool = False
) -> np.ndarray:
    """Cut the box (with a margin like the recogniser's training crops) upright out of the frame."""
    h = box.h * (1 + 2 * pad_h)
    w = box.w + 2 * pad_w * box.h
    grown = LineBox(box.cx, box.cy, w, h, box.angle + (180.0 if flip else 0.0), box.score)
    p = grown.points
    ow, oh = max(4, min(1600, int(round(w)))), max(4, min(400, int(round(h))))
    M = cv2.getAffineTransform(p[:3], np.array([[0, 0], [ow, 0], [ow, oh]], np.float32))
    return cv2.warpAffine(frame, M, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Detector:
    """Finds VIN lines in a BGR frame with the shipped ONNX heat-map model."""

    def __init__(self, model_path: str, threads: int = 1) -> None:
        self.sess = cpu_session(model_path, threads)
        self.input = self.sess.get_inputs()[0].name
        meta = self.sess.get_modelmeta().custom_metadata_map.get(GEOMETRY_KEY)
        self.geometry = Geometry.model_validate_json(meta) if meta else Geometry()

    def heatmap(self, frame: np.ndarray) -> tuple[np.ndarray, float]:
        """The heat map cropped to the frame (the padding cut off) and the frame's scale."""
        x, f = prep_frame(frame)
        prob = self.sess.run(None, {self.input: x})[0][0, 0]
        h, w = frame.shape[:2]
        s = self.geometry.stride
        return prob[: int(np.ceil(h * f / s)), : int(np.ceil(w * f / s))], f

    def detect(
        self,
        frame: np.ndarray,
        thr: float | None = None,
        height_scale: float | None = None,
        min_score: float | None = None,
    ) -> list[LineBox]:
        """VIN-line boxes, best first. The reader passes a lower `min_score` than the
        default: it reads every candidate and lets the recogniser decide."""
        prob, f = self.heatmap(frame)
        return boxes_from_heatmap(prob, f, thr, height_scale=height_scale, min_score=min_score, geometry=self.geometry)

    def refine(self, frame: np.ndarray, box: LineBox, min_cells: float = 4.0) -> LineBox:
        """Re-detect a line seen small in the whole frame inside a zoomed window around it.

        On a 1280x960 frame one heat-map cell is 16 px, as tall as a small VIN
        line, so the coarse box can sit a few pixels off and the wrong height;
        in a window scaled to the detector's size the line spans several cells.
        Returns the original box when the window adds nothing.
        """
        scale = DET_LONG / max(frame.shape[:2])
        if box.h * scale / self.geometry.stride >= min_cells:
            return box
        x0, y0, x1, y1 = _zoom_window(frame.shape, box)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return box
        found = self.detect(frame[y0:y1, x0:x1], min_score=0.5)
        if not found:
            return box
        cx, cy = box.cx - x0, box.cy - y0
        near = min(found, key=lambda b: np.hypot(b.cx - cx, b.cy - cy))
        if np.hypot(near.cx - cx, near.cy - cy) > max(box.h, near.h) * 1.5 or near.w < 0.6 * box.w:
            return box
        # across the line trust the zoomed box; along it take the union of both, since
        # a line cut short loses a symbol while a little extra margin costs nothing
        a = np.radians(near.angle)
        u = np.array([np.cos(a), np.sin(a)])
        c = np.array([near.cx + x0, near.cy + y0])
        ends = [
            float((np.array([b.cx, b.cy]) - c) @ u) + sgn * b.w / 2
            for b in (box, LineBox(c[0], c[1], near.w, near.h, near.angle, 0.0))
            for sgn in (-1, 1)
        ]
        lo, hi = min(ends), max(ends)
        c = c + u * (lo + hi) / 2
        return LineBox(float(c[0]), float(c[1]), hi - lo, near.h, near.angle, box.score)


def _zoom_window(frame_shape: tuple[int, ...], box: LineBox) -> tuple[int, int, int, int]:
    """An axis-aligned window around `box`, wide enough for the whole line and a margin."""
    x0, y0, x1, y1 = box.aabb()
    w = (x1 - x0) * 1.3 + 2 * box.h
    h = max((y1 - y0) + 4 * box.h, w / 4)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    H, W = frame_shape[:2]
    return (
        max(0, int(cx - w / 2)),
        max(0, int(cy - h / 2)),
        min(W, int(np.ceil(cx + w / 2))),
        min(H, int(np.ceil(cy + h / 2))),
    )


def refine_band(crop: np.ndarray, text_h: float) -> np.ndarray | None:
    """The horizontal band of `crop` (an upright cut around a line) densest in vertical strokes.

    When the heat map merges a VIN line with a neighbouring line, its box
    sits between them; the band of about one text height with the most
    vertical-edge energy is the line itself. Returns None when the crop is
    not much taller than one line.
    """
    h = crop.shape[0]
    win = int(round(text_h * 1.35))
    if win < 6 or h < win * 1.3:
        return None
    g = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    e = np.abs(cv2.Sobel(g.astype(np.float32), cv2.CV_32F, 1, 0, ksize=3)).mean(1)
    c = np.convolve(e, np.ones(win, np.float32), mode="valid")
    y0 = int(np.argmax(c))
    return crop[y0 : y0 + win]
