"""`VinReader`: frame in, `VinRead` out. The one entry point the lane uses.

Detection proposes up to a few line boxes; each is cut out upright (and, when
the read is weak, also turned 180 degrees), recognised, decoded to 17 VIN
symbols, and the best-supported read wins. The decision rule is small and
explicit so it can be calibrated and audited:

- `none`: no line gave a 17-symbol read;
- `accept`: the check digit validates, the VIN comes from a region where the
  check digit is mandatory (China, North America), and every symbol's
  confidence reaches the calibrated threshold (stored next to the models in
  calibration.json);
- `review`: anything else, including a clear read whose check digit fails
  (an inspector confirms it and the lane records the override) and any VIN
  from a maker region where a passing check digit may be a coincidence;
  `review_reason` says which.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vision.decode import Decoded, decode
from vision.detector import Detector, LineBox, crop_line, refine_band
from vision.preprocess import to_bgr8
from vision.recognizer import Recognizer
from vision.rules import ALPHABET, check_digit_required, model_years, wmi_region
from vision.vin_read import Alternative, VinRead

MODEL_DIR = Path(__file__).parent / "models"
DEFAULT_ACCEPT = 0.9
PAD_W = 0.3  # margin left and right of a detected line, in box heights
CANDIDATE_MIN_SCORE = 0.5  # the reader tries weaker detector blobs too; the recogniser decides
FLIP_BELOW = 0.9  # a read this clear is final
FLIP_TRY_BELOW = 0.3  # reads weaker than this are retried turned 180 degrees
FORCED_LENGTH_ODDS = 0.2  # a read whose best path was not 17 symbols long counts this much less


def _load_threshold(model_dir: Path) -> float:
    p = model_dir / "calibration.json"
    if p.exists():
        return float(json.loads(p.read_text()).get("accept_threshold", DEFAULT_ACCEPT))
    return DEFAULT_ACCEPT


def _tighter(crop: np.ndarray) -> np.ndarray | None:
    """The crop 12% tighter across the line (detector boxes and hand crops are often
    loose), or None when that would leave too few rows."""
    h, w = crop.shape[:2]
    dy, dx = round(h * 0.12), round(w * 0.02)
    return crop[dy : h - dy, dx : w - dx] if h - 2 * dy >= 6 else None


class VinReader:
    """Loads the shipped detector and recogniser; `read(frame)` and `read_crop(crop)`."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        threads: int = 1,
        accept_threshold: float | None = None,
        max_lines: int = 3,
    ) -> None:
        d = Path(model_dir) if model_dir else MODEL_DIR
        self.detector = Detector(str(d / "vin_det.onnx"), threads)
        self.recognizer = Recognizer(str(d / "vin_rec.onnx"), threads)
        self.accept_threshold = accept_threshold if accept_threshold is not None else _load_threshold(d)
        self.max_lines = max_lines

    # ------------------------------------------------------------------ reading
    def read(self, frame: np.ndarray) -> VinRead:
        """Find and read the VIN in a whole camera frame (any depth/channels/size)."""
        t0 = time.perf_counter()
        img = to_bgr8(frame)
        boxes = self.detector.detect(img, min_score=CANDIDATE_MIN_SCORE)[: self.max_lines]
        best: tuple[float, Decoded, LineBox | None, bool] | None = None
        h, w = img.shape[:2]
        if not boxes and w >= 3 * h:  # looks like a crop already: read it whole
            d = self._best_orientation(img)
            return self._result(d, None, t0, whole=img.shape)
        for box in boxes:
            box = self.detector.refine(img, box)
            d, searched = self._read_box(img, box)
            if d is None:
                continue
            rank = self._rank(d)
            if best is None or rank > best[0]:
                best = (rank, d, box, searched)
            if d.length_ok and d.confidence >= FLIP_BELOW:
                break  # boxes come strongest first; a clear read is not bettered by a weaker box
        if best is None:
            return self._result(None, None, t0)
        return self._result(best[1], best[2], t0, searched=best[3])

    def _read_box(self, img: np.ndarray, box: LineBox) -> tuple[Decoded | None, bool]:
        """Read one detected line: the box with a margin, then, if that read is weak, nearby
        cuts. Returns the best read and whether it came from a nearby cut."""
        d = self._best_orientation(crop_line(img, box, pad_w=PAD_W))
        if d is not None and d.length_ok and d.confidence >= FLIP_BELOW:
            return d, False
        # every nearby cut and its tighter version in one batch: a batched call costs far
        # less per crop than one call each, and the reads are ranked, not searched in order
        cuts = list(self._nearby_cuts(img, box))
        cuts += [t for t in map(_tighter, cuts) if t is not None]
        searched = False
        best = self._rank(d) if d is not None else float("-inf")
        for t in map(decode, self.recognizer.probs(cuts)):
            if t is not None and (rank := self._rank(t)) > best:
                d, searched, best = t, True, rank
        return d, searched

    @staticmethod
    def _nearby_cuts(img: np.ndarray, box: LineBox) -> Iterator[np.ndarray]:
        """Other cuts around a weakly read box: a few pixels up or down, taller, level, 20%
        shorter at either end, and the densest one-line band of a tall cut. A small line's
        box can sit a third of a text height off, a blob spanning two lines tilts it, a logo
        beside the VIN stretches it, and the heat map sometimes merges the VIN line with a
        neighbour."""
        a = np.radians(box.angle)
        nx, ny = -np.sin(a), np.cos(a)  # across the line, downwards
        for shift, grow in ((-0.3, 1.0), (0.3, 1.0), (0.0, 1.4)):
            moved = LineBox(
                box.cx + nx * shift * box.h, box.cy + ny * shift * box.h, box.w, box.h * grow, box.angle, box.score
            )
            yield crop_line(img, moved, pad_w=PAD_W)
        if abs(box.angle) > 3:  # a blob spanning two lines can tilt the box: try it level
            yield crop_line(img, LineBox(box.cx, box.cy, box.w, box.h, 0.0, box.score), pad_w=PAD_W)
        ux, uy = np.cos(a), np.sin(a)  # along the line
        trim = 0.2 * box.w
        for side in (-1, 1):  # a logo or a label word at one end shrinks the VIN's symbols
            yield crop_line(
                img,
                LineBox(
                    box.cx - side * ux * trim / 2,
                    box.cy - side * uy * trim / 2,
                    box.w - trim,
                    box.h,
                    box.angle,
                    box.score,
                ),
                pad_w=PAD_W,
            )
        band = refine_band(crop_line(img, box, pad_h=0.8, pad_w=PAD_W), text_h=box.h)
        if band is not None:
            yield band

    def read_crop(self, crop: np.ndarray) -> VinRead:
        """Read an image that is already a VIN-line crop (no detection)."""
        t0 = time.perf_counter()
        img = to_bgr8(crop)
        d = self._best_orientation(img)
        return self._result(d, None, t0, whole=img.shape)

    def _best_orientation(self, crop: np.ndarray) -> Decoded | None:
        """Read the crop; a weak read is retried on a tighter cut and then turned 180 degrees.

        A model fed an upside-down line still emits symbols (and one time in
        eleven a valid check digit), so a turned read must itself be clear.
        """
        d = decode(self.recognizer.probs([crop])[0])
        if d is not None and d.length_ok and d.confidence >= FLIP_BELOW:
            return d  # clear read: nothing else to try
        tight = _tighter(crop)
        if tight is not None:
            t = decode(self.recognizer.probs([tight])[0])
            if t is not None and (d is None or self._rank(t) > self._rank(d)):
                d = t
        if d is not None and d.confidence >= FLIP_TRY_BELOW:
            return d
        flipped = decode(self.recognizer.probs([crop[::-1, ::-1]])[0])
        if flipped is not None and flipped.length_ok and flipped.confidence >= FLIP_BELOW:
            return flipped
        return d

    @staticmethod
    def _rank(d: Decoded) -> float:
        """How likely the whole read is: the product of its symbols' confidences, a read
        forced to 17 symbols paying FORCED_LENGTH_ODDS. The weakest symbol alone (the
        first key until 2026-11-28) let a cut with one doubtful symbol lose to a cut
        with several; chosen on the real dev lines (vision/MODEL_CARD.md, step 16).
        Not the check digit: many makers do not use it, and a wrong read passes it 1 time in 11."""
        joint = float(np.log(np.maximum(d.char_conf, 1e-6)).sum())
        return joint + (0.0 if d.length_ok else float(np.log(FORCED_LENGTH_ODDS)))

    def decide(self, d: Decoded | None, searched: bool = False) -> str:
        return self._decision(d, searched)[0]

    def _decision(self, d: Decoded | None, searched: bool) -> tuple[str, str | None]:
        """(decision, review reason) for one read."""
        if d is None or (not d.length_ok and d.confidence < 0.2):
            return "none", None
        reason = self.review_reason(d, searched)
        return ("accept" if reason is None else "review"), reason

    def review_reason(self, d: Decoded, searched: bool = False) -> str | None:
        """Why a read is not accepted, or None when it is.

        The threshold is calibrated on synthetic lines, where a valid check digit
        is as informative as in China; on the real plates of makers that ignore the
        check digit, two confident misreads passed it by coincidence, so such VINs
        always get an inspector's glance.
        """
        if not (d.length_ok and d.confidence >= self.accept_threshold):
            return "low_confidence"
        if not d.check_valid:
            return "check_digit_invalid"
        if not check_digit_required(d.vin):
            return "check_digit_not_required"
        if searched:
            # the best of several cuts is more confident than any single cut deserves: on a
            # real photo a 1.4x-taller cut read VF1... as LWF... at 0.96 after the first cut's 0.67
            return "found_by_search"
        return None

    def _result(
        self, d: Decoded | None, box: LineBox | None, t0: float, whole: tuple | None = None, searched: bool = False
    ) -> VinRead:
        decision, reason = self._decision(d, searched)
        ms = (time.perf_counter() - t0) * 1000.0
        if d is None or decision == "none":
            return VinRead(decision="none", ms=ms, confidence=d.confidence if d else 0.0)
        alts = []
        for k in range(len(d.vin)):
            s = ALPHABET.index(d.vin[k])
            for j in np.argsort(-d.position_probs[k])[:3]:
                if j != s and d.position_probs[k, j] >= 0.01:
                    alts.append(
                        Alternative(
                            position=k + 1, char=ALPHABET[j], confidence=round(float(d.position_probs[k, j]), 4)
                        )
                    )
        if box is not None:
            pts = [[round(float(x), 1), round(float(y), 1)] for x, y in box.points]
        elif whole is not None:
            h, w = whole[:2]
            pts = [[0.0, 0.0], [float(w), 0.0], [float(w), float(h)], [0.0, float(h)]]
        else:
            pts = None
        return VinRead(
            vin=d.vin,
            decision=decision,
            confidence=round(d.confidence, 4),
            check_digit="valid" if d.check_valid else "invalid",
            corrected=d.corrected,
            box=pts,
            char_confidences=[round(c, 4) for c in d.char_conf],
            alternatives=alts,
            next_best=d.next_best,
            model_years=model_years(d.vin),
            wmi_region=wmi_region(d.vin),
            ms=round(ms, 2),
            review_reason=reason,
        )
