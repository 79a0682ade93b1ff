"""`VinVerifier`: a frame (or a VIN-line crop) and the certificate's VIN in, a verified `VinRead` out.

The image side of vision/verify.py. Each detected line box is cut the way
`VinReader` cuts it (vision/reader.py), and the line is read in three views: the
cut as detected, 12% tighter and contrast-equalised (`line_views`). The expected
VIN is scored on all views at once: every candidate string's log-likelihood is its mean over the
views, so a symbol one view barely separates from a look-alike gets the evidence
of the others (`verify` with (V, T, 34) probabilities). The pooling is the same
for the expected string and for every impostor: the expected VIN chooses no
view. It does choose the line: the best-scoring box (each box's views pooled),
and, only when no box matches, the boxes turned 180 degrees. The thresholds were
calibrated with exactly this procedure (vision/calibrate_verify.py), so that
choice is paid for there.

Until 2026-12-07 the verifier took the best single cut (the expected VIN chose
between the detected and the tighter cut) and, with no match, the cut the reader
chose among all its search cuts; pooling the views matched more genuine pairs
at a lower threshold with fewer impostors, and needs no search cuts
(vision/verify_calibration.md, vision/MODEL_CARD.md step 23).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from vision.decode import Decoded, decode
from vision.detector import LineBox, crop_line
from vision.preprocess import to_bgr8
from vision.reader import CANDIDATE_MIN_SCORE, FLIP_BELOW, PAD_W, VinReader, _tighter
from vision.rules import is_well_formed
from vision.verify import Thresholds, Verification, verify
from vision.vin_read import CharCheck, VinRead, VinVerification


@dataclass
class Cut:
    """One view of a line the recogniser reads: the upright crop, the box it came from, its line."""

    crop: np.ndarray
    box: LineBox | None
    stage: int  # 1: upright; 2: turned 180 degrees (scored only when no upright line matches)
    line: int = 0  # the views of one line (same box, same turn) are pooled


@dataclass
class Verified:
    """The verified read and the cut it came from (the tablet shows that cut, so x-ranges fit it)."""

    read: VinRead
    crop: np.ndarray | None
    probs: np.ndarray | None = None


def line_views(crop: np.ndarray) -> list[np.ndarray]:
    """The views of one line that are pooled: the cut as it is, 12% tighter (when tall enough), and
    the cut with its contrast equalised locally (CLAHE), which separates strokes a glare or a
    shadow runs together. Chosen on the calibration data (vision/verify_calibration.md): adding
    views shifted up or down, taller, shorter or narrower let more calibration impostors score
    higher than genuine pairs gained."""
    return [crop] + [t for t in [_tighter(crop)] if t is not None] + [equalised(crop)]


def equalised(crop: np.ndarray) -> np.ndarray:
    """The crop in grey with contrast-limited adaptive histogram equalisation (clip 2, 4x4 tiles)."""
    g = cv2.cvtColor(to_bgr8(crop), cv2.COLOR_BGR2GRAY)
    return cv2.createCLAHE(2.0, (4, 4)).apply(g)


def _line(crop: np.ndarray, box: LineBox | None, stage: int, line: int) -> list[Cut]:
    return [Cut(v, box, stage, line) for v in line_views(crop)]


def photo_cuts(reader: VinReader, img: np.ndarray) -> list[Cut]:
    """Every view the verifier may read in a whole frame: each detected box's views upright, then turned."""
    boxes = [reader.detector.refine(img, b) for b in reader.detector.detect(img, min_score=CANDIDATE_MIN_SCORE)]
    boxes = boxes[: reader.max_lines]
    h, w = img.shape[:2]
    if not boxes and w >= 3 * h:  # looks like a crop already
        return crop_cuts(img)
    crops = [crop_line(img, box, pad_w=PAD_W) for box in boxes]
    n = len(boxes)
    upright = [c for i, (crop, box) in enumerate(zip(crops, boxes)) for c in _line(crop, box, 1, i)]
    turned = [c for i, (crop, box) in enumerate(zip(crops, boxes)) for c in _line(crop[::-1, ::-1], box, 2, n + i)]
    return upright + turned


def crop_cuts(img: np.ndarray) -> list[Cut]:
    """An image that is already the line: its views as it is, then turned 180 degrees."""
    return _line(img, None, 1, 0) + _line(img[::-1, ::-1], None, 2, 1)


def lines_of(cuts: list[Cut]) -> list[list[int]]:
    """The indices of each line's views, in order of the lines."""
    out: dict[int, list[int]] = {}
    for i, c in enumerate(cuts):
        out.setdefault(c.line, []).append(i)
    return list(out.values())


def best_line(
    probs: list[np.ndarray], decs: list[Decoded | None], cuts: list[Cut], expected: str, th: Thresholds
) -> tuple[Verification, int] | None:
    """The line whose pooled verification scores best: (verification, index of its first view).
    `decs`: each view's `decode`, made once for every use."""
    best: tuple[Verification, int] | None = None
    for idx in lines_of(cuts):
        views = np.stack([probs[i] for i in idx])
        v = verify(views, expected, th, float(cuts[idx[0]].crop.shape[1]), [decs[i] for i in idx])
        if best is None or v.score > best[0].score:
            best = (v, idx[0])
    return best


def reader_choice(decoded: list[Decoded | None], stages: list[int]) -> int | None:
    """The view the reader would take, whatever VIN is expected: the most probable read, a clear
    upright read first (as `VinReader._read_box` does)."""
    ranks = [VinReader._rank(d) if d is not None else -np.inf for d in decoded]
    if not any(np.isfinite(r) for r in ranks):
        return None
    first = [i for i, s in enumerate(stages) if s == 1 and np.isfinite(ranks[i])]
    if first:
        i = max(first, key=lambda k: ranks[k])
        d = decoded[i]
        if d is not None and d.length_ok and d.confidence >= FLIP_BELOW:
            return i
    return max(range(len(ranks)), key=lambda k: ranks[k])


def reader_line(
    probs: list[np.ndarray], decs: list[Decoded | None], cuts: list[Cut], expected: str, th: Thresholds
) -> tuple[Verification, int] | None:
    """The line the reader itself would read, verified with the reader's view drawn first.

    With no match, this is what the inspector is shown: what the camera reads and where it
    differs from the certificate. The best-scoring line for the expected VIN may be another
    text line of the frame (a label, a distractor), whose read says nothing about the car."""
    r = reader_choice(decs, [c.stage for c in cuts])
    if r is None:
        return None
    idx = [r] + [i for i, c in enumerate(cuts) if c.line == cuts[r].line and i != r]
    views = np.stack([probs[i] for i in idx])
    return verify(views, expected, th, float(cuts[r].crop.shape[1]), [decs[i] for i in idx]), r


class VinVerifier:
    """Verifies the certificate's VIN against a frame with the shipped models and thresholds."""

    def __init__(self, reader: VinReader | None = None, thresholds: Thresholds | None = None) -> None:
        self.reader = reader or VinReader()
        self.thresholds = thresholds or Thresholds.load()

    def verify(self, frame: np.ndarray, expected: str, crop: bool = False) -> Verified:
        """Verify `expected` (a well-formed VIN; ValueError otherwise) in a frame, or in a crop with `crop`.

        The upright lines are read first; the turned ones only when no upright line matches
        (which matches exactly the pairs the best of all lines would). With no match, the read
        and the character evidence reported are those of the line the reader itself chooses."""
        if not is_well_formed(expected):
            raise ValueError(f"not a VIN (17 symbols, no I, O or Q): {expected!r}")
        t0 = time.perf_counter()
        img = to_bgr8(frame)
        cuts = crop_cuts(img) if crop else photo_cuts(self.reader, img)
        first = [c for c in cuts if c.stage == 1]
        probs = list(self.reader.recognizer.probs([c.crop for c in first])) if first else []
        decs = [decode(p) for p in probs]  # once each: the lines' scores, the reader's choice and the read share them
        best = best_line(probs, decs, first, expected, self.thresholds) if first else None
        rest = [c for c in cuts if c.stage != 1]
        if rest and (best is None or best[0].decision != "match"):
            more = list(self.reader.recognizer.probs([c.crop for c in rest]))
            more_decs = [decode(p) for p in more]
            turned = best_line(more, more_decs, rest, expected, self.thresholds)
            if turned is not None and (best is None or turned[0].score > best[0].score):
                best = (turned[0], len(first) + turned[1])
            probs += more
            decs += more_decs
            cuts = first + rest
        else:
            cuts = first
        if best is None:  # no line found: nothing to compare
            return Verified(self._read(None, None, Verification(expected, "review", -1e6, None), t0, img.shape), None)
        if best[0].decision != "match":  # no line matched, so neither does the reader's own: show that one
            best = reader_line(probs, decs, cuts, expected, self.thresholds) or best
        v, i = best
        return Verified(self._read(decs[i], cuts[i], v, t0, img.shape), cuts[i].crop, probs[i])

    def _read(self, d: Decoded | None, cut: Cut | None, v: Verification, t0: float, shape: tuple[int, ...]) -> VinRead:
        whole = shape if cut is not None and cut.box is None else None
        read = self.reader._result(d, cut.box if cut else None, t0, whole=whole, searched=bool(cut and cut.stage == 2))
        ms = round((time.perf_counter() - t0) * 1000.0, 2)
        check = to_model(v, float(cut.crop.shape[1]) if cut else 0.0, self.thresholds.version, ms)
        return read.model_copy(update={"verification": check, "ms": ms})


def to_model(v: Verification, crop_width: float, version: str, ms: float) -> VinVerification:
    """The JSON shape of a verification (vision/vin_read.py)."""
    return VinVerification(
        expected=v.expected,
        decision=v.decision,
        score=v.score,
        read=v.read,
        differs_at=v.differs_at,
        chars=[
            CharCheck(
                position=c.position,
                expected=c.expected,
                posterior=c.posterior,
                best_other=c.best_other,
                best_other_posterior=c.best_other_posterior,
                margin=c.margin,
                x0=c.x[0],
                x1=c.x[1],
            )
            for c in v.chars
        ],
        crop_width=crop_width,
        thresholds=version,
        ms=ms,
    )
