"""`passlane bench vin`: our reader side by side with RapidOCR (PP-OCRv4), one thread each.

Sets: held-out synthetic crops and 1280x960 scenes (seed ranges in
vision.heldout, never trained on), the real valid split of the CC BY 4.0
plate photos (detection), and our hand-transcribed real VIN lines from that
split (tests/vision/data/real_valid_labels.csv, never trained on).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from vision.classical import propose_lines
from vision.evaluate import match
from vision.heldout import BENCH_CROPS, BENCH_FRAMES, heldout_vins
from vision.reader import MODEL_DIR, VinReader
from vision.rules import normalise
from vision.synth import STYLES, render_line, render_scene, style_of
from vision.vin_read import VinRead

REAL_LABELS = Path(__file__).resolve().parents[2] / "tests" / "vision" / "data" / "real_valid_labels.csv"


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_acc(pred: str | None, truth: str) -> float:
    return max(0.0, 1.0 - edit_distance(pred or "", truth) / len(truth))


class Rapid:
    """RapidOCR on one thread; reads are mapped to the VIN alphabet (O->0, I->1, Q->0)."""

    def __init__(self) -> None:
        import rapidocr_onnxruntime
        from rapidocr_onnxruntime import RapidOCR

        kw = {}
        for pre in ("", "det_", "cls_", "rec_"):
            kw[f"{pre}intra_op_num_threads"] = 1
            kw[f"{pre}inter_op_num_threads"] = 1
        self.engine = RapidOCR(**kw)
        root = Path(rapidocr_onnxruntime.__file__).parent / "models"
        self.size_mb = sum(p.stat().st_size for p in root.glob("*.onnx")) / 1e6
        self.rec_size_mb = sum(p.stat().st_size for p in root.glob("*rec*.onnx")) / 1e6
        self.det_size_mb = sum(p.stat().st_size for p in root.glob("*det*.onnx")) / 1e6

    def read_crop(self, img: np.ndarray) -> str | None:
        res, _ = self.engine(img, use_det=False, use_cls=False, use_rec=True)
        if not res:
            return None
        text = res[0][0] if isinstance(res[0], (list, tuple)) else str(res[0])
        return normalise(text) or None

    def lines(self, img: np.ndarray) -> list[tuple[np.ndarray, str, float]]:
        res, _ = self.engine(img)
        return [(np.array(b, np.float32), normalise(t), float(s)) for b, t, s in (res or [])]

    def read_frame(self, img: np.ndarray) -> str | None:
        """The VIN-like line (17 symbols after mapping) with the best score, else the longest line."""
        lines = self.lines(img)
        vinlike = [ln for ln in lines if len(ln[1]) == 17]
        if vinlike:
            return max(vinlike, key=lambda x: x[2])[1]
        return max(lines, key=lambda x: len(x[1]))[1] if lines else None


def _image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        raise FileNotFoundError(f"{path}: missing or not a readable image")
    return img


def _stats(ms: list[float]) -> str:
    return f"{np.median(ms):7.2f} {np.percentile(ms, 95):7.2f}" if ms else f"{'-':>7} {'-':>7}"


def _row(name: str, preds: list[str | None], truths: list[str], ms: list[float]) -> str:
    exact = np.mean([p == t for p, t in zip(preds, truths)]) if truths else 0.0
    ca = np.mean([char_acc(p, t) for p, t in zip(preds, truths)]) if truths else 0.0
    return f"  {name:<22} {exact:8.1%} {ca:9.2%} {_stats(ms)}"


def _decisions(reads: list, truths: list[str]) -> str:
    n = len(truths)
    acc = [(r, t) for r, t in zip(reads, truths) if r.decision == "accept"]
    wrong = sum(1 for r, t in acc if r.vin != t)
    rev = sum(1 for r in reads if r.decision == "review")
    none = sum(1 for r in reads if r.decision == "none")
    return (
        f"  decisions: accept {len(acc) / n:.1%}, review {rev / n:.1%}, none {none / n:.1%}; "
        f"wrong VINs accepted: {wrong} ({wrong / n:.2%} of all, {wrong / max(1, len(acc)):.2%} of accepted)"
    )


Box = tuple[float, float, float, float]  # x0, y0, x1, y1
HEADER = f"  {'reader':<22} {'exact':>8} {'char acc':>9} {'median':>7} {'p95':>7}"
T = TypeVar("T")
R = TypeVar("R")


def _timed(read: Callable[[T], R], inputs: list[T]) -> tuple[list[R], list[float]]:
    """Each input read in turn: the results and the latency of each read in ms."""
    results: list[R] = []
    ms: list[float] = []
    for x in inputs:
        t = time.perf_counter()
        results.append(read(x))
        ms.append((time.perf_counter() - t) * 1000)
    return results, ms


def _detection_row(name: str, propose: Callable[[np.ndarray], list[Box]], valid: list) -> str:
    """Recall, precision and latency of one line detector over the labelled photos (IoU >= 0.5)."""
    tp = fp = fn = 0
    boxes, ms = _timed(propose, [img for _, img, _ in valid])
    for found, (_, _, gts) in zip(boxes, valid):
        hit, extra, missed = match(found, gts)
        tp, fp, fn = tp + hit, fp + extra, fn + missed
    return f"  {name:<22} {tp / max(1, tp + fn):8.1%} {tp / max(1, tp + fp):9.1%} {_stats(ms)}"


def _header(rapid: Rapid | None, rapid_note: str) -> None:
    size_det = (MODEL_DIR / "vin_det.onnx").stat().st_size / 1e6
    size_rec = (MODEL_DIR / "vin_rec.onnx").stat().st_size / 1e6
    print("VIN reader benchmark (single-threaded; latency in ms)")
    print(f"peer: {rapid_note}")
    peer = ""
    if rapid:
        peer = (
            f"; RapidOCR det {rapid.det_size_mb:.2f} MB + rec {rapid.rec_size_mb:.2f} MB (all {rapid.size_mb:.2f} MB)"
        )
    print(f"model size: ours det {size_det:.2f} MB + rec {size_rec:.2f} MB = {size_det + size_rec:.2f} MB" + peer)


def _synthetic_crops(ours: VinReader, rapid: Rapid | None, n_crops: int) -> dict:
    items = heldout_vins(BENCH_CROPS, n_crops)
    crops = [render_line(v, s) for v, s in items]
    truths = [v for v, _ in items]
    print(f"\n[1] held-out synthetic VIN-line crops: n={n_crops} (seeds {BENCH_CROPS}..), per-crop latency")
    print(HEADER)
    ours.read_crop(crops[0])  # warm-up: first runs allocate
    if rapid:
        rapid.read_crop(crops[0])
    reads, ours_ms = _timed(ours.read_crop, crops)
    print(_row("ours (read_crop)", [r.vin for r in reads], truths, ours_ms))
    styles = [style_of(s) for _, s in items]
    by_style = (
        f"{st} {sum(r.vin == t for r, t, x in zip(reads, truths, styles) if x == st)}/{styles.count(st)}"
        for st in STYLES
        if st in styles
    )
    print("  ours by style: " + ", ".join(by_style))
    if rapid:
        preds, ms = _timed(rapid.read_crop, crops)
        print(_row("RapidOCR rec only", preds, truths, ms))
        print(f"  speed-up per crop (median): {np.median(ms) / np.median(ours_ms):.1f}x")
    print(_decisions(reads, truths))
    return {"images": crops, "truths": truths, "rapid": preds if rapid else None, "ours": [r.vin for r in reads]}


def _synthetic_frames(ours: VinReader, rapid: Rapid | None, n_frames: int) -> dict:
    items = heldout_vins(BENCH_FRAMES, n_frames)
    frames = [render_scene(v, s) for v, s in items]
    truths = [v for v, _ in items]
    print(
        f"\n[2] held-out synthetic scenes 1280x960: n={n_frames} (seeds {BENCH_FRAMES}..), per-frame latency (detect + read)"
    )
    print(HEADER)
    ours.read(frames[0])
    if rapid:
        rapid.read_frame(frames[0])
    reads, ms = _timed(ours.read, frames)
    print(_row("ours (read)", [r.vin for r in reads], truths, ms))
    preds = None
    if rapid:
        preds, ms = _timed(rapid.read_frame, frames)
        print(_row("RapidOCR det+cls+rec", preds, truths, ms))
    print(_decisions(reads, truths))
    return {"images": frames, "truths": truths, "rapid": preds, "ours": [r.vin for r in reads]}


def _rapid_vin_lines(rapid: Rapid, img: np.ndarray) -> list[Box]:
    """RapidOCR finds all text: its boxes whose text maps to 15-19 VIN symbols."""
    return [
        (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 0].max()), float(b[:, 1].max()))
        for b, txt, _ in rapid.lines(img)
        if 15 <= len(txt) <= 19
    ]


def _real_detection(ours: VinReader, rapid: Rapid | None, valid: list) -> None:
    print(f"\n[3] real plate photos, valid split: n={len(valid)} images, VIN-line detection at IoU >= 0.5")
    print(f"  {'detector':<22} {'recall':>8} {'precision':>9} {'median':>7} {'p95':>7}")
    print(_detection_row("ours", lambda img: [bx.aabb() for bx in ours.detector.detect(img)[: ours.max_lines]], valid))
    print(
        _detection_row("classical OpenCV", lambda img: [bx.aabb() for bx in propose_lines(img, ours.max_lines)], valid)
    )
    if rapid:
        print(_detection_row("RapidOCR (VIN-like)", lambda img: _rapid_vin_lines(rapid, img), valid))
        print("  (RapidOCR finds all text; its boxes count when their text maps to 15-19 VIN symbols)")


def _real_reads(ours: VinReader, rapid: Rapid | None, valid: list) -> tuple[dict, dict]:
    rows = list(csv.DictReader(REAL_LABELS.open()))
    by_name = {p.name: img for p, img, _ in valid}
    crops = [_image(REAL_LABELS.parent / "real_crops" / r["crop"]) for r in rows]
    truths = [r["vin"] for r in rows]
    print(f"\n[4] real VIN lines transcribed by hand from the valid split: n={len(rows)} (never trained on)")
    print(HEADER)
    crop_reads, ms = _timed(ours.read_crop, crops)
    print(_row("ours, labelled crop", [r.vin for r in crop_reads], truths, ms))
    crop_preds = photo_preds = None
    if rapid:
        crop_preds, ms = _timed(rapid.read_crop, crops)
        print(_row("RapidOCR rec, crop", crop_preds, truths, ms))
    imgs = [by_name[r["image"]] for r in rows]
    reads, ms = _timed(ours.read, imgs)
    print(_row("ours, whole photo", [r.vin for r in reads], truths, ms))
    if rapid:
        photo_preds, ms = _timed(rapid.read_frame, imgs)
        print(_row("RapidOCR, whole photo", photo_preds, truths, ms))
    print("  crops:" + _decisions(crop_reads, truths)[1:])
    print("  photos:" + _decisions(reads, truths)[1:])
    print("  (most of these makers do not use the check digit, so a correct read still goes to review)")
    crop_set = {"images": crops, "truths": truths, "rapid": crop_preds, "ours": [r.vin for r in crop_reads]}
    photo_set = {"images": imgs, "truths": truths, "rapid": photo_preds, "ours": [r.vin for r in reads]}
    return crop_set, photo_set


def _read_compare(preds: list[str | None], truths: list[str], fleet: list[str]) -> tuple[int, int, int]:
    """A reader used as a verifier by comparing its read with the expected VIN: (genuine matches,
    impostors matched, impostors) over the same impostors as the verifier's."""
    from vision.calibrate_verify import HARD_KINDS, impostors

    genuine = sum(p == t for p, t in zip(preds, truths))
    hit = total = 0
    for p, t in zip(preds, truths):
        kinds = impostors(t, fleet)
        for k in HARD_KINDS:
            total += len(kinds[k])
            hit += sum(p == e for e in kinds[k])
    return genuine, hit, total


def _verification(ours: VinReader, sets: dict[str, tuple[str, dict]]) -> None:
    """[5] Is the image the expected VIN's? Genuine pairs and impostors (one-symbol changes of every
    kind, two look-alike changes, other cars' VINs) per set, with the calibrated thresholds."""
    from vision.calibrate_verify import HARD_KINDS, clopper_pearson_upper, item_of, score_item
    from vision.verifier import VinVerifier
    from vision.verify import Thresholds

    th = Thresholds.load()
    verifier = VinVerifier(ours, th)
    print(f"\n[5] verification against the expected VIN (thresholds {th.version}: match >= {th.match} nats)")
    print(
        "  impostors per image: every one-symbol change, up to 20 two-symbol look-alike changes, 5 other VINs of the set"
    )
    print(
        f"  {'set':<26} {'verifier':<10} {'genuine match':>13} {'mismatch':>8} {'false match':>17} {'95% upper':>9} {'median':>7} {'p95':>7}"
    )
    for name, (kind, data) in sets.items():
        imgs, truths = data["images"], data["truths"]
        fleet = sorted(set(truths))
        crop = kind == "crop"

        def check(pair: tuple[np.ndarray, str], crop: bool = crop) -> VinRead:
            return verifier.verify(pair[0], pair[1], crop=crop).read

        done, ms = _timed(check, list(zip(imgs, truths)))
        checks = [d.verification for d in done]
        genuine = sum(c is not None and c.decision == "match" for c in checks)
        mism = sum(c is not None and c.decision == "mismatch" for c in checks)
        hit = total = 0
        for img, vin in zip(imgs, truths):
            row = score_item(item_of(ours, name, vin, name, kind, img), fleet, th)
            scores = np.concatenate([row[k] for k in HARD_KINDS])
            total += len(scores)
            hit += int((scores >= th.match).sum())
        n = len(truths)
        print(
            f"  {name:<26} {'ours':<10} {genuine / n:13.1%} {mism:8d} {f'{hit} / {total}':>17} "
            f"{clopper_pearson_upper(hit, total):9.4%} {_stats(ms)}"
        )
        for who, preds in (("our read", data["ours"]), ("RapidOCR", data["rapid"])):
            if preds is None:
                continue
            g, h, tot = _read_compare(preds, truths, fleet)
            print(
                f"  {'':<26} {who + ' ==':<10} {g / n:13.1%} {'-':>8} {f'{h} / {tot}':>17} {clopper_pearson_upper(h, tot):9.4%}"
            )
    print("  (read ==: the verifier's question answered by comparing a free read with the expected VIN;")
    print("   false match: impostors scored at or above the match threshold; upper: one-sided 95% Clopper-Pearson)")


def run(n_crops: int = 200, n_frames: int = 50) -> int:
    cv2.setNumThreads(1)
    ours = VinReader(threads=1)
    try:
        rapid: Rapid | None = Rapid()
        rapid_note = "RapidOCR (rapidocr-onnxruntime, PP-OCRv4 det+rec, mobile cls), 1 thread"
    except ImportError:
        rapid = None
        rapid_note = "RapidOCR MISSING: pip install rapidocr-onnxruntime into this environment to compare"
    _header(rapid, rapid_note)
    sets = {
        "synthetic crops": ("crop", _synthetic_crops(ours, rapid, n_crops)),
        "synthetic scenes": ("photo", _synthetic_frames(ours, rapid, n_frames)),
    }
    from vision.det_data import DATASET, load_split

    if not (DATASET / "valid").exists():
        print(f"\n[3]/[4] real photos: dataset not found at {DATASET}; skipped")
    else:
        valid = load_split(DATASET, "valid")
        _real_detection(ours, rapid, valid)
        if REAL_LABELS.exists():
            crop_set, photo_set = _real_reads(ours, rapid, valid)
            sets = {"real lines, crop": ("crop", crop_set), "real lines, whole photo": ("photo", photo_set), **sets}
    _verification(ours, sets)
    return 0
