"""Hand-transcribed VIN lines from the real train split (training and a real dev set).

Pseudo-labels (vision/pseudo.py) only ever add lines the model already reads
confidently, so they cannot teach it the lines it gets wrong, and the few they
get wrong they teach confidently. `hand_labels.csv` holds 422 train-split lines
transcribed by a person at high zoom, keeping a line only when every symbol was
certain (docs/vin-reader.md, "Hand labels"): 352 that the round-9 model did not
pseudo-label, 7 whose pseudo-label changed between rounds 10 and 11 and was
wrong, and 63 more (2026-11-28, second pass) that neither pseudo-label set nor the
first pass held, at least 90 px wide, viewed in order of a shipped recogniser's confidence.
Lines are named like the pseudo-labels, `{photo stem}_{box index}.png`, and cut
the same way.

One VIN in six (by a hash of the VIN, so every photo of one car falls on the
same side) is `dev`: held out of training and used to choose between
training rounds, so the real test set (tests/vision/data) is never used for
that. No VIN here is in the real test set.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2

from vision.det_data import DATASET, cut_box, load_photo, photo_of_line

LABELS = Path(__file__).with_name("hand_labels.csv")
DEV_MODULUS = 6


def is_dev(vin: str) -> bool:
    """The fixed train/dev rule: by VIN, so two photos of one car never straddle it."""
    return int(hashlib.sha1(vin.encode()).hexdigest(), 16) % DEV_MODULUS == 0


def load(path: Path = LABELS) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def _line_of(name: str) -> tuple[str, int]:
    """(photo stem, box index) of a hand-labelled line: every row of hand_labels.csv names one."""
    where = photo_of_line(name)
    if where is None:
        raise ValueError(f"hand label {name!r} is not named {{photo stem}}_{{box index}}.png")
    return where


def dev_photos() -> set[str]:
    """Stems of the train-split photos that hold a dev line: a detector trained without
    them (vision/train_det.py --hold-out-dev) can be compared on them."""
    return {_line_of(r["file"])[0] for r in load() if is_dev(r["vin"])}


def cut(out: Path, dataset: Path = DATASET) -> tuple[Path, Path]:
    """Cut every hand-labelled line out of its train-split photo; write train.csv and dev.csv."""
    out.mkdir(parents=True, exist_ok=True)
    wanted = {r["file"]: r for r in load()}
    by_photo: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for name in wanted:
        stem, j = _line_of(name)
        by_photo[stem].append((name, j))
    found = 0
    for stem, lines in by_photo.items():  # only the photos that hold a labelled line are read, each once
        photo = load_photo(dataset, "train", stem)
        for name, j in lines:
            if photo is not None and j < len(photo[1]):
                cv2.imwrite(str(out / name), cut_box(photo[0], photo[1][j]))
                found += 1
    if found != len(wanted):
        raise SystemExit(f"only {found} of {len(wanted)} hand-labelled lines found in {dataset}/train")
    paths = []
    for split in ("train", "dev"):
        p = out / f"{split}.csv"
        with p.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "vin"])
            w.writerows([r["file"], r["vin"]] for r in wanted.values() if r["split"] == split)
        paths.append(p)
    return paths[0], paths[1]


def mix(out_csv: Path, pseudo_csv: Path, hand_dir: Path, repeat: int = 3, also: Sequence[Path] = ()) -> int:
    """One fine-tuning CSV: the pseudo-labels, overruled by the hand labels, plus
    each hand-labelled train line `repeat` times (they are the hard cases), plus
    the rows of the `also` CSVs (e.g. vision/detected_cuts.py output). Lines of
    dev VINs are left out whichever source they come from."""
    hand = load()
    hand_files = {r["file"] for r in hand}
    dev_vins = {r["vin"] for r in hand if r["split"] == "dev"}
    rows = []
    for r in csv.DictReader(pseudo_csv.open()):
        if r["file"] not in hand_files and r["vin"] not in dev_vins:
            rows.append([str((pseudo_csv.parent / r["file"]).resolve()), r["vin"]])
    for r in hand:
        if r["split"] == "train":
            rows += [[str((hand_dir / r["file"]).resolve()), r["vin"]]] * repeat
    for extra in also:
        rows += [
            [str((extra.parent / r["file"]).resolve()), r["vin"]]
            for r in csv.DictReader(extra.open())
            if r["vin"] not in dev_vins
        ]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "vin"])
        w.writerows(rows)
    return len(rows)


def score_dev(hand_dir: Path, model_dir: Path | None = None, dataset: Path = DATASET) -> tuple[int, int, int]:
    """(exact crops, exact whole photos, lines) on the dev lines cut into `hand_dir`:
    the score that chooses between training rounds (vision/MODEL_CARD.md, step 14)."""
    from vision.reader import VinReader

    reader = VinReader(model_dir)
    rows = list(csv.DictReader((hand_dir / "dev.csv").open()))
    crops = photos = 0
    for r in rows:
        crop = cv2.imread(str(hand_dir / r["file"]))
        photo = load_photo(dataset, "train", _line_of(r["file"])[0])
        if crop is None or photo is None:
            raise SystemExit(
                f"dev line {r['file']}: its crop in {hand_dir} or its photo in {dataset}/train is not readable"
            )
        crops += reader.read_crop(crop).vin == r["vin"]
        photos += reader.read(photo[0]).vin == r["vin"]
    return crops, photos, len(rows)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="cut the hand-labelled lines; optionally mix them with pseudo-labels")
    ap.add_argument("out", type=Path, help="folder for the crops, train.csv and dev.csv")
    ap.add_argument("--pseudo", type=Path, default=None, help="pseudo-label CSV to mix with (writes OUT/mix.csv)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--also", type=Path, action="append", default=[], help="another labels CSV to add (repeatable)")
    ap.add_argument(
        "--score-dev",
        type=Path,
        default=None,
        metavar="MODEL_DIR",
        help="then read the dev lines with the models in MODEL_DIR",
    )
    a = ap.parse_args()
    train_csv, dev_csv = cut(a.out)
    print(f"wrote {train_csv} and {dev_csv}")
    if a.score_dev:
        c, p, n = score_dev(a.out, a.score_dev)
        print(f"dev lines read exactly: crops {c}/{n}, whole photos {p}/{n}")
    if a.pseudo:
        n = mix(a.out / "mix.csv", a.pseudo, a.out, a.repeat, a.also)
        print(f"wrote {a.out / 'mix.csv'} ({n} rows)")
