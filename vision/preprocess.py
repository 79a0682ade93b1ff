"""Image normalisation shared by training and run time (numpy + opencv only).

The recogniser sees exactly what training fed it: a grey, contrast-normalised
crop stretched to REC_H x REC_W. Any input depth or channel count is accepted.
"""

from __future__ import annotations

import cv2
import numpy as np

REC_H, REC_W = 32, 160
DET_LONG = 320  # the detector works on frames scaled so the long side is this
MAX_SIDE = 8192  # larger inputs are scaled down before anything else


def to_bgr8(img: np.ndarray) -> np.ndarray:
    """Any image array (grey, BGR, BGRA, 16-bit, float) -> 3-channel uint8 BGR."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        f = a.astype(np.float32)
        if f.size and float(np.nanmax(f)) <= 1.0:
            f = f * 255.0
        a = np.clip(np.nan_to_num(f), 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR)
    elif a.shape[2] == 4:
        a = cv2.cvtColor(a, cv2.COLOR_BGRA2BGR)
    elif a.shape[2] != 3:
        raise ValueError(f"unsupported image shape {a.shape}")
    h, w = a.shape[:2]
    if max(h, w) > MAX_SIDE:
        f = MAX_SIDE / max(h, w)
        a = cv2.resize(a, (max(1, int(w * f)), max(1, int(h * f))), interpolation=cv2.INTER_AREA)
    return a


def prep_crop(crop: np.ndarray, width: int = REC_W) -> np.ndarray:
    """A VIN-line crop -> float32 (1, REC_H, width), zero mean, unit contrast.

    `width` is the recogniser's input width (read from the ONNX model at run time).
    """
    g = crop if crop.ndim == 2 else cv2.cvtColor(to_bgr8(crop), cv2.COLOR_BGR2GRAY)
    g = to_bgr8(g)[..., 0] if g.dtype != np.uint8 else g
    h, w = g.shape[:2]
    interp = cv2.INTER_AREA if (w > width and h > REC_H) else cv2.INTER_LINEAR
    r = cv2.resize(g, (width, REC_H), interpolation=interp).astype(np.float32)
    m, s = float(r.mean()), float(r.std())
    return ((r - m) / (s + 8.0))[None]


def prep_frame(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """A BGR frame -> detector input (1, 3, H, W) padded to /32, and the scale applied."""
    h, w = frame.shape[:2]
    f = DET_LONG / max(h, w)
    nw, nh = max(1, int(round(w * f))), max(1, int(round(h * f)))
    r = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    ph, pw = (nh + 31) // 32 * 32, (nw + 31) // 32 * 32
    pad = np.zeros((ph, pw, 3), np.float32)
    pad[:nh, :nw] = (r.astype(np.float32) - 128.0) / 64.0
    return pad.transpose(2, 0, 1)[None], f
