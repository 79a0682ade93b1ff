"""`passlane vin ...`: read, verify, synth, train, bench, calibrate.

Thin shell: argument parsing, file I/O and printing; the work is in the
pure modules (rules, decode, synth) and the reader.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np


def load_image(path: str) -> np.ndarray:
    """Read any image file opencv understands (16-bit and alpha kept); raises ValueError otherwise."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"no such file: {path}")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None or img.size == 0:
        raise ValueError(f"not a readable image: {path}")
    return img


def _cmd_read(ns: argparse.Namespace) -> int:
    from vision.reader import VinReader

    reader = VinReader(model_dir=ns.models, threads=ns.threads)
    failed = 0
    rows = []
    found_nothing: list[bool] = []
    for path in ns.images:
        try:
            img = load_image(path)
            r = reader.read_crop(img) if ns.crop else reader.read(img)
            out = {"path": path, **r.model_dump()}
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
            failed += 1
            out = {
                "path": path,
                "vin": None,
                "decision": "none",
                "confidence": 0.0,
                "check_digit": None,
                "box": None,
                "alternatives": [],
                "ms": 0.0,
                "error": str(exc),
            }
        found_nothing.append("error" not in out and out["vin"] is None and out["decision"] == "none")
        if ns.json:
            print(json.dumps(out), flush=True)
        else:
            rows.append(out)
    if not ns.json:
        print(f"{'path':<40} {'vin':<17} {'decision':<8} {'conf':>6} {'check':<7} {'ms':>7}")
        for o in rows:
            name = o["path"] if len(o["path"]) <= 40 else "..." + o["path"][-37:]
            if "error" in o:
                print(f"{name:<40} error: {o['error']}")
                continue
            print(
                f"{name:<40} {o['vin'] or '-':<17} {o['decision']:<8} {o['confidence']:>6.3f} {o['check_digit'] or '-':<7} {o['ms']:>7.1f}"
            )
    if not ns.crop:
        _hint_crop([p for p, nothing in zip(ns.images, found_nothing) if nothing], len(ns.images))
    return 1 if failed else 0


def _hint_crop(missed: list[str], total: int) -> None:
    """Images read as whole frames in which no VIN line was found: perhaps they are crops of the line already."""
    if not missed:
        return
    where = (
        f"{missed[0]}: no VIN line found"
        if len(missed) == 1
        else f"no VIN line found in {len(missed)} of {total} images"
    )
    print(f"{where}; --crop reads an image that is already the VIN line", file=sys.stderr)


def _pairs(ns: argparse.Namespace) -> list[tuple[str, str, str | None]]:
    """(path, expected, problem) for every pair asked for: the images with --expected, or the rows of
    --pairs (paths relative to the CSV's folder). A row that cannot be a pair keeps its problem."""
    import csv

    from vision.rules import is_well_formed

    def check(vin: str) -> str | None:
        return None if is_well_formed(vin) else f"expected VIN {vin!r} is not a VIN (17 symbols, no I, O or Q)"

    if ns.pairs is None:
        exp = (ns.expected or "").strip().upper()
        return [(path, exp, check(exp)) for path in ns.images]
    csv_path = Path(ns.pairs)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{ns.pairs}: cannot read the pairs file ({exc})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0]] != ["path", "expected"]:
        raise ValueError(f"{ns.pairs}: the first line must be the header 'path,expected'")
    out: list[tuple[str, str, str | None]] = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip():
            out.append((row[0].strip() if row else "", "", f"{ns.pairs} line {n}: expected 'path,expected'"))
            continue
        path, exp = row[0].strip(), row[1].strip().upper()
        full = path if Path(path).is_absolute() else str(csv_path.parent / path)
        out.append((full, exp, check(exp)))
    return out


def _cmd_verify(ns: argparse.Namespace) -> int:
    """Is the expected VIN the one in the image? One result per pair; a bad pair never stops the others."""
    if (ns.pairs is None) == (ns.expected is None):
        print("give either --expected VIN IMAGE... or --pairs CSV", file=sys.stderr)
        return 2
    if ns.pairs is None and not ns.images:
        print("--expected needs at least one IMAGE", file=sys.stderr)
        return 2
    if ns.pairs is not None and ns.images:
        print("--pairs takes its images from the CSV: give no IMAGE arguments", file=sys.stderr)
        return 2
    try:
        pairs = _pairs(ns)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from vision.reader import VinReader
    from vision.verifier import VinVerifier

    verifier = VinVerifier(VinReader(model_dir=ns.models, threads=ns.threads))
    failed, rows = 0, []
    for path, expected, problem in pairs:
        out: dict[str, Any] = {"path": path, "expected": expected, "decision": None, "score": None, "read": None}
        out["differs_at"] = []
        try:
            if problem:
                raise ValueError(problem)
            v = verifier.verify(load_image(path), expected, crop=ns.crop).read
            check = v.verification
            assert check is not None  # the verifier always fills it
            out.update(decision=check.decision, score=check.score, read=check.read, differs_at=check.differs_at)
            out["ms"] = check.ms
        except Exception as exc:  # noqa: BLE001 - one bad pair never stops the others
            failed += 1
            out.update(ms=0.0, error=str(exc))
        if ns.json:
            print(json.dumps(out), flush=True)
        else:
            rows.append(out)
    if not ns.json:
        _print_verifications(rows)
    return 1 if failed else 0


def _print_verifications(rows: list[dict]) -> None:
    print(f"{'path':<40} {'expected':<17} {'decision':<8} {'score':>7} {'read':<17} {'differs at':<12} {'ms':>7}")
    for o in rows:
        name = o["path"] if len(o["path"]) <= 40 else "..." + o["path"][-37:]
        if "error" in o:
            print(f"{name:<40} {o['expected'] or '-':<17} error: {o['error']}")
            continue
        differs = ",".join(map(str, o["differs_at"])) or "-"
        print(
            f"{name:<40} {o['expected']:<17} {o['decision']:<8} {o['score']:>7.2f} {o['read'] or '-':<17} {differs:<12} {o['ms']:>7.1f}"
        )


def _cmd_synth(ns: argparse.Namespace) -> int:
    from vision.synth import write_dataset

    csv_path = write_dataset(Path(ns.out), ns.count, ns.seed, scenes=ns.scenes)
    print(f"wrote {ns.count} {'scenes' if ns.scenes else 'VIN-line crops'} and {csv_path}")
    return 0


def _cmd_train(ns: argparse.Namespace) -> int:
    """The shipped recipe: recogniser on synthetic lines, detector on real + synthetic
    scenes, pseudo-labels from the real train split, recogniser fine-tuned with them."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("training needs the 'train' extra: pip install -e '.[train]'", file=sys.stderr)
        return 2
    import shutil

    out = Path(ns.out)
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)

    def ship_rec(p: Path) -> None:
        """The recogniser goes into models/ as trained, or as int8 with --int8 (vision/quantize.py)."""
        if not ns.int8:
            shutil.copy(p, models / "vin_rec.onnx")
            return
        from vision.hand_labels import cut
        from vision.quantize import quantize

        real_train, _ = cut(out / "hand")  # calibration sees the hand-labelled train crops, never dev
        quantize(p, models / "vin_rec.onnx", real_train)

    if ns.what in ("rec", "all"):
        from vision.train_rec import train as train_rec

        p = train_rec(out / "rec", steps=ns.rec_steps, seed=ns.seed, stop_at=ns.rec_stop_at, arch=ns.arch)
        ship_rec(p)
        print(f"recogniser (synthetic only): {p}")
    if ns.what in ("det", "all"):
        from vision.det_data import make_scenes
        from vision.train_det import train as train_det

        scenes = out / "det" / "scenes.npz"
        (out / "det").mkdir(parents=True, exist_ok=True)
        if not scenes.exists():
            print(f"rendering {ns.scenes} synthetic scenes ...", flush=True)
            make_scenes(scenes, ns.scenes, ns.seed)
        p = train_det(out / "det", steps=ns.det_steps, seed=ns.seed, scenes=str(scenes), stop_at=ns.det_stop_at)
        shutil.copy(p, models / "vin_det.onnx")
        print(f"detector: {p}")
    if ns.what in ("finetune", "all") and ns.finetune_steps > 0:
        from vision.pseudo import make as make_pseudo
        from vision.train_rec import train as train_rec

        init = out / "rec" / "rec.pt"
        for r in range(1, ns.rounds + 1):  # self-training: each round pseudo-labels with the last model
            make_pseudo(out / f"pseudo_r{r}", min_conf=ns.pseudo_conf, model_dir=models)
            p = train_rec(
                out / f"rec_ft{r}",
                steps=ns.finetune_steps,
                seed=ns.seed + r,
                lr=ns.finetune_lr,
                extra_csv=str(out / f"pseudo_r{r}" / "labels.csv"),
                extra_frac=ns.pseudo_frac,
                init=str(init),
                photo_frac=ns.photo_frac,
                arch=ns.arch,
            )
            ship_rec(p)
            init = out / f"rec_ft{r}" / "rec.pt"
            print(f"recogniser after self-training round {r}: {p}")
    print(f"models in {models}; copy them into {Path(__file__).parent / 'models'} and run `passlane vin calibrate`")
    return 0


def _cmd_calibrate(ns: argparse.Namespace) -> int:
    from vision.calibrate import run

    return run(n=ns.count, write=not ns.dry_run)


def _add_verify(sub: argparse._SubParsersAction) -> None:
    """`passlane vin verify`."""
    p = sub.add_parser(
        "verify",
        help="check that images show an expected VIN (match, mismatch or review)",
        description="Verify the expected (certificate) VIN against each image: match, mismatch or review, with "
        "the score (nats the expected VIN beats its closest alternative), the unconstrained read and the "
        "positions where the image shows something else.",
    )
    p.add_argument(
        "images", nargs="*", metavar="IMAGE", help="image files (whole frames, or VIN-line crops with --crop)"
    )
    p.add_argument("--expected", metavar="VIN", help="the VIN every IMAGE should show")
    p.add_argument(
        "--pairs",
        metavar="CSV",
        help="a CSV with the header 'path,expected', one pair a row (relative paths from the CSV's folder)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per pair")
    p.add_argument("--crop", action="store_true", help="each image is already a VIN-line crop (skip detection)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the models (default 1)")
    p.add_argument("--models", default=None, help="directory with vin_det.onnx / vin_rec.onnx (default: shipped)")
    p.set_defaults(func=_cmd_verify)


def register(parser: argparse.ArgumentParser) -> None:
    """Add the `vin` subcommands to the `passlane vin` parser."""
    sub = parser.add_subparsers(dest="vin_cmd", required=True)

    p = sub.add_parser("read", help="read VINs from image files")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files: whole camera frames, or VIN-line crops with --crop"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input line")
    p.add_argument("--crop", action="store_true", help="each image is already a VIN-line crop (skip detection)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the models (default 1)")
    p.add_argument("--models", default=None, help="directory with vin_det.onnx / vin_rec.onnx (default: shipped)")
    p.set_defaults(func=_cmd_read)

    _add_verify(sub)

    p = sub.add_parser("synth", help="write synthetic VIN images plus labels.csv")
    p.add_argument("out", help="output folder (created if missing)")
    p.add_argument("--count", type=int, default=100, help="number of images (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same images (default 0)")
    p.add_argument("--scenes", action="store_true", help="full 1280x960 camera frames instead of line crops")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("train", help="train the models (needs torch; see vision/MODEL_CARD.md)")
    p.add_argument(
        "--what",
        choices=["rec", "det", "finetune", "all"],
        default="all",
        help="what to train: the recogniser, the detector, the self-training rounds, or all (default)",
    )
    p.add_argument(
        "--out", default="var/vin-train", help="working folder; the models end up in OUT/models (default var/vin-train)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the training runs (default 0)")
    p.add_argument(
        "--arch",
        choices=["v1", "v2", "v3", "v4"],
        default="v2",
        help="recogniser architecture (all but v1: 32x256 input; see vision/MODEL_CARD.md)",
    )
    p.add_argument(
        "--int8", action="store_true", help="put the recogniser into models/ quantised to int8 (smaller, faster)"
    )
    p.add_argument(
        "--rec-steps", type=int, default=5000, help="recogniser training steps on synthetic lines (default 5000)"
    )
    p.add_argument("--rec-stop-at", type=int, default=None, help="end stage 1 early (schedule still spans --rec-steps)")
    p.add_argument("--det-steps", type=int, default=2500, help="detector training steps (default 2500)")
    p.add_argument(
        "--det-stop-at", type=int, default=None, help="end detector training early (schedule still spans --det-steps)"
    )
    p.add_argument("--scenes", type=int, default=1600, help="synthetic scenes for the detector")
    p.add_argument(
        "--finetune-steps",
        type=int,
        default=1000,
        help="recogniser steps per self-training round; 0 skips them (default 1000)",
    )
    p.add_argument(
        "--finetune-lr", type=float, default=5e-4, help="learning rate of the self-training rounds (default 0.0005)"
    )
    p.add_argument("--rounds", type=int, default=3, help="self-training rounds (pseudo-label, fine-tune)")
    p.add_argument("--pseudo-conf", type=float, default=0.7, help="min per-symbol confidence for a pseudo-label")
    p.add_argument("--pseudo-frac", type=float, default=0.3, help="share of fine-tune samples drawn from pseudo-labels")
    p.add_argument(
        "--photo-frac", type=float, default=0.4, help="share of synthetic fine-tune lines in the 'photo' preset"
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("calibrate", help="choose the accept threshold on held-out synthetic crops")
    p.add_argument("--count", type=int, default=4000, help="held-out synthetic crops to read (default 4000)")
    p.add_argument(
        "--dry-run", action="store_true", help="print the table and the chosen threshold, do not write calibration.json"
    )
    p.set_defaults(func=_cmd_calibrate)
