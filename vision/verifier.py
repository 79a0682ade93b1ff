"""`VinVerifier`: a frame (or a VIN-line crop) and the certificate's VIN in, a verified `VinRead` out.

The image side of vision/verify.py. The line is cut out the way `VinReader`
cuts it (vision/reader.py): first each detected box with its margin and 12%
tighter, and the expected VIN is scored on each; when none gives a `match`, the
nearby cuts (shifted, taller, level, trimmed, the densest band, turned 180
degrees) are read too, and the cut the reader itself would choose among all of
them is scored as well. The best score decides. Choosing the best of several cuts
favours the expected string, impostors included: the thresholds were calibrated
with exactly this procedure (vision/calibrate_verify.py), so the choice is paid
for there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from vision.decode import decode
from vision.detector import LineBox, crop_line
from vision.preprocess import to_bgr8
from vision.reader import CANDIDATE_MIN_SCORE, FLIP_BELOW, PAD_W, VinReader, _tighter
from vision.rules import is_well_formed
from vision.verify import Thresholds, Verification, verify
from vision.vin_read import CharCheck, VinRead, VinVerification


@dataclass
class Cut:
    """One cut of the line the recogniser reads: the upright crop, the box it came from, its stage."""

    crop: np.ndarray
    box: LineBox | None
    stage: int  # 1: the box as detected (and tighter); 2: the search around it


@dataclass
class Verified:
    """The verified read and the cut it came from (the tablet shows that cut, so x-ranges fit it)."""

    read: VinRead
    crop: np.ndarray | None
    probs: np.ndarray | None = None


def photo_cuts(reader: VinReader, img: np.ndarray) -> list[Cut]:
    """Every cut the verifier may read in a whole frame, stage 1 first."""
    boxes = [reader.detector.refine(img, b) for b in reader.detector.detect(img, min_score=CANDIDATE_MIN_SCORE)]
    boxes = boxes[: reader.max_lines]
    h, w = img.shape[:2]
    if not boxes and w >= 3 * h:  # looks like a crop already
        return crop_cuts(img)
    first, search = [], []
    for box in boxes:
        c = crop_line(img, box, pad_w=PAD_W)
        first += [Cut(c, box, 1)] + [Cut(t, box, 1) for t in [_tighter(c)] if t is not None]
        near = list(reader._nearby_cuts(img, box))
        near += [t for t in map(_tighter, near) if t is not None]
        search += [Cut(n, box, 2) for n in near] + [Cut(c[::-1, ::-1], box, 2)]
    return first + search


def crop_cuts(img: np.ndarray) -> list[Cut]:
    """An image that is already the line: as it is, 12% tighter, and turned 180 degrees."""
    return (
        [Cut(img, None, 1)]
        + [Cut(t, None, 1) for t in [_tighter(img)] if t is not None]
        + [Cut(img[::-1, ::-1], None, 2)]
    )


def best_of(probs: list[np.ndarray], widths: list[float], expected: str, th: Thresholds) -> tuple[Verification, int]:
    """The cut whose verification scores best: (verification, index)."""
    vs = [verify(p, expected, th, w) for p, w in zip(probs, widths)]
    i = max(range(len(vs)), key=lambda k: vs[k].score)
    return vs[i], i


def reader_choice(probs: list[np.ndarray], stages: list[int]) -> int | None:
    """The cut the reader would take, whatever VIN is expected: the jointly most probable read, a
    clear stage-1 read first (as `VinReader._read_box` does)."""
    decoded = [decode(p) for p in probs]
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


def candidate_cuts(probs: list[np.ndarray], stages: list[int]) -> list[int]:
    """The cuts the expected VIN is scored on: every stage-1 cut (the boxes as detected, and tighter)
    and the reader's own choice among all cuts. Choosing the best of the search cuts by the
    expected VIN would let one odd cut match an impostor (calibration: worst impostor 5.4
    nats against 3.7 on the train photos), so the search cuts count only through the reader."""
    chosen = [i for i, s in enumerate(stages) if s == 1]
    r = reader_choice(probs, stages)
    return chosen + ([r] if r is not None and r not in chosen else [])


class VinVerifier:
    """Verifies the certificate's VIN against a frame with the shipped models and thresholds."""

    def __init__(self, reader: VinReader | None = None, thresholds: Thresholds | None = None) -> None:
        self.reader = reader or VinReader()
        self.thresholds = thresholds or Thresholds.load()

    def verify(self, frame: np.ndarray, expected: str, crop: bool = False) -> Verified:
        """Verify `expected` (a well-formed VIN; ValueError otherwise) in a frame, or in a crop with `crop`.

        Stage 1 (the box as detected) is read first; the search cuts only when it has no match."""
        if not is_well_formed(expected):
            raise ValueError(f"not a VIN (17 symbols, no I, O or Q): {expected!r}")
        t0 = time.perf_counter()
        img = to_bgr8(frame)
        cuts = crop_cuts(img) if crop else photo_cuts(self.reader, img)
        first = [c for c in cuts if c.stage == 1]
        probs = list(self.reader.recognizer.probs([c.crop for c in first])) if first else []
        best: tuple[Verification, int] | None = None
        if first:
            best = best_of(probs, [float(c.crop.shape[1]) for c in first], expected, self.thresholds)
        rest = [c for c in cuts if c.stage != 1]
        if rest and (best is None or best[0].decision != "match"):
            probs += list(self.reader.recognizer.probs([c.crop for c in rest]))
            order = first + rest
            r = reader_choice(probs, [c.stage for c in order])
            if r is not None and r >= len(first):
                v = verify(probs[r], expected, self.thresholds, float(order[r].crop.shape[1]))
                if best is None or v.score > best[0].score:
                    best = (v, r)
            cuts = order
        else:
            cuts = first
        if best is None:  # no line found: nothing to compare
            return Verified(self._read(None, None, Verification(expected, "review", -1e6, None), t0, img.shape), None)
        v, i = best
        return Verified(self._read(probs[i], cuts[i], v, t0, img.shape), cuts[i].crop, probs[i])

    def _read(
        self, probs: np.ndarray | None, cut: Cut | None, v: Verification, t0: float, shape: tuple[int, ...]
    ) -> VinRead:
        d = decode(probs) if probs is not None else None
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
