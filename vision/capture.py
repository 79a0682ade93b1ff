"""Several camera frames in, the frame to read or verify out, or a re-shoot with its reason.

Pure over numpy frames (the lane grabs them: lane_controller/vin_capture.py).
One frame caught mid-focus, mid-movement or in a reflection sends a car to the
inspector for nothing; `FRAMES` frames within `WINDOW_S` seconds cost a fraction
of a second. Frames are ranked by sharpness (variance of the Laplacian of the
grey frame at 640 px) and those blurred or washed out by glare (share of
saturated pixels) are left out. When no frame is usable, or no frame shows a
VIN line, the lane asks for a new photo with the reason instead of sending a
bad frame to review.

Thresholds from synthetic 1280x960 scenes and the real 256x256 plate photos:
sharp frames measure 36-2300, the same frames blurred by a Gaussian of sigma 2-3
measure 3-10.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vision.vin_read import VinRead

FRAMES = 4  # frames grabbed per VIN check
WINDOW_S = 0.5  # ... within this many seconds
BLUR_BELOW = 15.0  # variance of the Laplacian of the grey frame scaled to 640 px
GLARE_ABOVE = 0.08  # share of saturated pixels (>= 250) in the VIN line's box, or the frame without one
ANALYSIS_SIDE = 640

Reshoot = Literal["blur", "glare", "no_vin"]


@dataclass(frozen=True)
class FrameQuality:
    """How fit one frame is to read."""

    sharpness: float
    glare: float

    @property
    def blurred(self) -> bool:
        return self.sharpness < BLUR_BELOW

    @property
    def glared(self) -> bool:
        return self.glare > GLARE_ABOVE

    @property
    def usable(self) -> bool:
        return not (self.blurred or self.glared)


def _grey(frame: np.ndarray) -> np.ndarray:
    g = frame if frame.ndim == 2 else cv2.cvtColor(frame[..., :3], cv2.COLOR_BGR2GRAY)
    if g.dtype != np.uint8:
        g = cv2.normalize(g, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    f = ANALYSIS_SIDE / max(g.shape[:2])
    return cv2.resize(g, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else g


def quality(frame: np.ndarray, box: list[list[float]] | None = None) -> FrameQuality:
    """Sharpness of the frame; glare inside the VIN line's box (corners in frame pixels) when known."""
    g = _grey(frame)
    sharp = float(cv2.Laplacian(g, cv2.CV_64F).var())
    region = frame
    if box is not None:
        pts = np.asarray(box, float).reshape(-1, 2)
        x0, y0 = np.maximum(pts.min(0).astype(int), 0)
        x1, y1 = pts.max(0).astype(int)
        if x1 > x0 and y1 > y0:
            region = frame[y0:y1, x0:x1]
    rg = region if region.ndim == 2 else cv2.cvtColor(region[..., :3], cv2.COLOR_BGR2GRAY)
    glare = float((rg >= 250).mean()) if rg.size else 0.0
    return FrameQuality(round(sharp, 2), round(glare, 4))


def order(qualities: list[FrameQuality]) -> list[int]:
    """The usable frames, sharpest first."""
    return sorted((i for i, q in enumerate(qualities) if q.usable), key=lambda i: -qualities[i].sharpness)


def unusable_reason(qualities: list[FrameQuality]) -> Reshoot:
    """Why none of the frames can be read: the commoner of blur and glare (glare wins a tie: blur
    is more often the car still moving, glare needs the lamp or the angle changed)."""
    blurred = sum(q.blurred for q in qualities)
    glared = sum(q.glared for q in qualities)
    return "blur" if blurred > glared else "glare"


def combine(reads: list[VinRead]) -> VinRead:
    """The one answer from the reads of several frames (sharpest first).

    Verifying: the first `match` wins; otherwise the best-scoring frame, whose decision stands.
    Reading: a VIN that two frames read alike wins (the more confident read of it);
    otherwise the sharpest frame's read."""
    checked = [r for r in reads if r.verification is not None]
    if checked:
        for r in checked:
            if r.verification is not None and r.verification.decision == "match":
                return r
        return max(checked, key=lambda r: r.verification.score if r.verification else float("-inf"))
    found = [r for r in reads if r.vin]
    for r in sorted(found, key=lambda r: -r.confidence):
        if sum(o.vin == r.vin for o in found) >= 2:
            return r
    return found[0] if found else reads[0]


def reshoot(reason: Reshoot, frames: int, expected: str | None) -> VinRead:
    """No answer from these frames: a new photo is needed, and why. Nothing is decided on them
    (decision `none`; a verification, when one was asked for, stays `review`)."""
    from vision.vin_read import VinVerification

    v = VinVerification(expected=expected, decision="review", score=-1e6) if expected else None
    return VinRead(decision="none", reshoot=reason, frames=frames, verification=v)
