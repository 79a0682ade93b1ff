"""Calibrate the verifier's thresholds on genuine pairs and impostors (never on the evaluation data).

    python -m vision.calibrate_verify            # writes vision/verify_thresholds.json and the report
    python -m vision.calibrate_verify --dry-run  # prints the report only

**Data** (none of it is evaluation data): the 422 hand-labelled lines of the real
*train* split (vision/hand_labels.csv; the 69 dev lines were never trained on, the
353 train lines were), each as its whole 256x256 photo and as its labelled crop;
and synthetic lines and 1280x960 scenes from the calibration seeds
(vision/heldout.CALIBRATION). The real valid split (tests/vision/data, the
bench's real set) and the bench's synthetic seeds stay out.

**Pairs.** Genuine: every image with its true VIN. Impostors for every image: each
one-symbol substitution by a look-alike (`LOOKALIKES`), every other one-symbol
substitution too ("any one"), up to `TWO_PER_IMAGE` two-symbol look-alike
substitutions, and `OTHERS_PER_IMAGE` other cars' VINs from the same set (the
nearest ones by Hamming distance first: cars of one batch differ in a few serial
symbols).

**Procedure.** Each image is cut exactly as `VinVerifier` cuts it (each line in its
views: as detected and 12% tighter, upright and turned) and each view read once. A
pair's score on a line pools that line's views (vision/verify.py: mean log-likelihood
over the views); a pair is a `match` when any line's score reaches the threshold (the
verifier stops at the first matching stage, which matches exactly the same pairs). For
a one-symbol impostor the pooled margin at its changed position is exact from the
genuine VIN's forward-backward pass over the views (all its substitutions and
deletions are computed there), and the score can only be lower; for any other
impostor its pooled margin over the views' reads bounds the score; impostors whose
bound reaches 0 on some line are verified in full.

**Rule.** `match` = the smallest threshold (on a 0.25-nat grid) above every
impostor's score, plus `MARGIN` nats; `mismatch` = the largest threshold (grid)
below which no genuine pair falls. The false-match rate's 95% upper bound is
Clopper-Pearson (for 0 of n: 1 - 0.05^(1/n), about 3/n). Impostors of one image are
not independent, so the bound is optimistic about rare bad images; the number of
images is reported beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vision.reader import VinReader
from vision.rules import ALPHABET
from vision.verifier import crop_cuts, photo_cuts
from vision.verify import (
    THRESHOLDS_FILE,
    Thresholds,
    Verification,
    _changes_views,
    _codes,
    _emissions,
    decide,
    log_likelihoods,
    verify,
    view_reads,
)

#: symbols a reader (or a forger) may take for one another; I, O and Q never occur in a VIN
LOOKALIKE_GROUPS = ("1IL7JT", "8B3S", "5S", "2Z", "6GC", "UVY", "MNWH", "0DQUC", "4A", "EF", "PRB", "KX", "9G")
TWO_PER_IMAGE = 20
OTHERS_PER_IMAGE = 5
MARGIN = 0.5  # nats added above the highest impostor score
GRID = 0.25
CACHE = Path("var/verify-cal")
REPORT_FILE = Path(__file__).with_name("verify_calibration.md")
VERSION_PREFIX = "v2"  # v2: each line's views pooled (v1: the best single cut)
CUTS_VERSION = "pooled2"  # the cache of read cuts is per way of cutting


def lookalikes(ch: str) -> str:
    """The VIN symbols that look like `ch` (the groups it belongs to, I/O/Q left out)."""
    out = {c for g in LOOKALIKE_GROUPS if ch in g for c in g}
    return "".join(sorted(c for c in out if c != ch and c in ALPHABET))


def _rng(vin: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(vin.encode()).hexdigest()[:12], 16))


def impostors(vin: str, fleet: list[str]) -> dict[str, list[str]]:
    """The impostor VINs of one image, by kind: look-alike one/two-symbol changes, any one-symbol
    change, other cars' VINs (nearest first). Deterministic per VIN."""
    one = [vin[:k] + c + vin[k + 1 :] for k in range(len(vin)) for c in lookalikes(vin[k])]
    any_one = [vin[:k] + c + vin[k + 1 :] for k in range(len(vin)) for c in ALPHABET if c != vin[k]]
    rng = _rng(vin)
    spots = [k for k in range(len(vin)) if lookalikes(vin[k])]
    two: set[str] = set()
    for _ in range(TWO_PER_IMAGE * 5):
        if len(two) >= TWO_PER_IMAGE or len(spots) < 2:
            break
        k1, k2 = sorted(rng.choice(spots, 2, replace=False))
        v = list(vin)
        v[k1] = rng.choice(list(lookalikes(vin[k1])))
        v[k2] = rng.choice(list(lookalikes(vin[k2])))
        two.add("".join(v))
    others = sorted({f for f in fleet if f != vin}, key=lambda f: (sum(a != b for a, b in zip(f, vin)), f))
    far = [str(x) for x in rng.permutation(others[2:])[: OTHERS_PER_IMAGE - 2]] if len(others) > 2 else []
    return {"one": one, "any_one": any_one, "two": sorted(two), "other": others[:2] + far}


@dataclass
class Item:
    """One calibration image: its true VIN and every cut's recogniser output."""

    name: str
    vin: str
    source: str  # "real dev", "real train", "synthetic"
    kind: str  # "photo" or "crop"
    probs: list[np.ndarray]
    widths: list[float]
    stages: list[int] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the views of one line share a number (vision/verifier.Cut)


def _bounds(item: Item, th: Thresholds, fleet: list[str]) -> tuple[list[Verification], dict[str, np.ndarray]]:
    """The genuine VIN verified on every line (its views pooled), and per impostor an upper bound of its
    score on every line.

    One-symbol changes: the pooled margin at the changed position, exact from the genuine
    VIN's pass over the views (its substitutions and deletion there are the impostor's
    neighbours there). Anything else: the impostor's pooled likelihood against the best of
    the views' reads (the read margin), from one batched forward pass per view."""
    genuine: list[Verification] = []
    bound: dict[str, np.ndarray] = {}
    groups = _groups(item)
    n = len(groups)
    vin = item.vin
    singles = [vin[:k] + c + vin[k + 1 :] for k in range(len(vin)) for c in ALPHABET if c != vin[k]]
    kinds = impostors(vin, fleet)
    multi = sorted(set(kinds["two"]) | set(kinds["other"]))
    for i, idx in enumerate(groups):
        views = np.stack([item.probs[j] for j in idx])
        g = verify(views, vin, th, item.widths[idx[0]])
        genuine.append(g)
        le = np.log(np.stack([_emissions(p, th.filler) for p in views]))
        _, subs_v, drops_v = _changes_views(le, vin)
        subs, drops = subs_v.mean(0), drops_v.mean(0)
        order = np.argsort(-subs, axis=1)
        rows = np.arange(len(subs))
        top1, top2 = subs[rows, order[:, 0]], subs[rows, order[:, 1]]
        rest = np.where(np.arange(subs.shape[1])[None, :] == order[:, :1], top2[:, None], top1[:, None])
        margin = np.minimum(subs - rest, subs - drops[:, None])  # (L, 33): the changed position's margin
        own = _codes([vin])[0] - 1
        keep = np.ones_like(margin, bool)
        keep[rows, own] = False
        for e, m in zip(singles, margin[keep]):
            bound.setdefault(e, np.full(n, -np.inf))[i] = m
        reads = view_reads(views)
        if reads and multi:
            lls = np.mean([log_likelihoods(p, multi + reads, th.filler) for p in views], 0)
            for e, ll in zip(multi, lls[: len(multi)]):
                b = np.inf if e in reads else ll - lls[len(multi) :].max()
                bound.setdefault(e, np.full(n, -np.inf))[i] = b
        else:
            for e in multi:
                bound.setdefault(e, np.full(n, -np.inf))[i] = np.inf
    return genuine, bound


def _groups(item: Item) -> list[list[int]]:
    """Each line's views (indices into item.probs); an item without line numbers is one view per line."""
    if len(item.lines) != len(item.probs):
        return [[i] for i in range(len(item.probs))]
    out: dict[int, list[int]] = {}
    for i, line in enumerate(item.lines):
        out.setdefault(line, []).append(i)
    return list(out.values())


def score_item(item: Item, fleet: list[str], th: Thresholds) -> dict:
    """One image: its genuine verification (the best line) and, per impostor kind, every impostor's score
    (the best over the lines; where every line's bound is below 0, that bound)."""
    genuine, bound = _bounds(item, th, fleet)
    groups = _groups(item)
    best = max(genuine, key=lambda v: v.score) if genuine else None
    out: dict = {
        "name": item.name,
        "vin": item.vin,
        "source": item.source,
        "kind": item.kind,
        "genuine": best.score if best else -1e6,
        "genuine_decision": (best.best_change, best.read, best.read_ok) if best else (0.0, None, False),
    }
    for kind, vins in impostors(item.vin, fleet).items():
        scores = []
        for e in vins:
            b = bound.get(e, np.full(len(groups), -1e6))
            lines = np.flatnonzero(b >= 0)
            if len(lines) == 0:
                scores.append(float(np.max(b, initial=-1e6)))
                continue
            scores.append(
                max(
                    verify(np.stack([item.probs[j] for j in groups[i]]), e, th, item.widths[groups[i][0]]).score
                    for i in lines
                )
            )
        out[kind] = np.asarray(scores, np.float64)
    return out


def item_of(reader: VinReader, name: str, vin: str, source: str, kind: str, img: np.ndarray) -> Item:
    """One image cut as the verifier cuts it (a whole photo, or a crop), every cut read once."""
    cuts = photo_cuts(reader, img) if kind == "photo" else crop_cuts(img)
    probs = list(reader.recognizer.probs([c.crop for c in cuts])) if cuts else []
    widths = [float(c.crop.shape[1]) for c in cuts]
    return Item(name, vin, source, kind, probs, widths, [c.stage for c in cuts], [c.line for c in cuts])


def collect(n_synthetic_crops: int, n_synthetic_scenes: int) -> list[Item]:
    """Every calibration image cut as the verifier cuts it, each cut read once."""
    import cv2

    from vision import hand_labels
    from vision.det_data import DATASET, cut_box, load_photo
    from vision.heldout import CALIBRATION, heldout_vins
    from vision.synth import render_line, render_scene

    reader = VinReader()

    def item(name: str, vin: str, source: str, kind: str, img: np.ndarray) -> Item:
        return item_of(reader, name, vin, source, kind, img)

    items = []
    for row in hand_labels.load():
        stem, j = hand_labels._line_of(row["file"])
        photo = load_photo(DATASET, "train", stem)
        if photo is None:
            raise SystemExit(f"{stem}: not in {DATASET}/train")
        src = f"real {row['split']}"
        items.append(item(row["file"], row["vin"], src, "photo", photo[0]))
        items.append(item(row["file"], row["vin"], src, "crop", cut_box(photo[0], photo[1][j])))
    cv2.setNumThreads(1)
    for vin, seed in heldout_vins(CALIBRATION, n_synthetic_crops):
        items.append(item(f"line {seed}", vin, "synthetic", "crop", render_line(vin, seed)))
    for vin, seed in heldout_vins(CALIBRATION + 100_000, n_synthetic_scenes):
        items.append(item(f"scene {seed}", vin, "synthetic", "photo", render_scene(vin, seed)))
    return items


def clopper_pearson_upper(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided upper confidence bound of a binomial rate (k events in n trials): the p at which
    P(X <= k) = 1 - conf, found by bisection (numpy only)."""
    if n == 0 or k >= n:
        return 1.0
    if k == 0:
        return 1.0 - (1.0 - conf) ** (1.0 / n)
    i = np.arange(k + 1)
    log_choose = np.array([math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) for j in i])

    def cdf(p: float) -> float:
        return float(np.exp(log_choose + i * math.log(p) + (n - i) * math.log1p(-p)).sum())

    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 1.0 - conf else (lo, mid)
    return hi


def _grid_up(x: float) -> float:
    return float(np.ceil(x / GRID) * GRID)


IMPOSTOR_KINDS = ("one", "any_one", "two", "other")
HARD_KINDS = ("any_one", "two", "other")  # "one" (look-alikes) is a subset of "any_one"


def choose(rows: list[dict]) -> tuple[float, float]:
    """(match, mismatch) thresholds: MARGIN above every impostor's score; below every genuine pair's
    most negative change, so that no genuine pair is called a mismatch."""
    worst = max((float(np.max(r[k])) for r in rows for k in HARD_KINDS if len(r[k])), default=0.0)
    match = max(_grid_up(worst + MARGIN), GRID)
    genuine_changes = [r["genuine_decision"][0] for r in rows if r["genuine_decision"][1] not in (None, r["vin"])]
    mismatch = max(_grid_up(-min(genuine_changes, default=0.0) + GRID), 1.0)
    return match, mismatch


def report(rows: list[dict], th: Thresholds) -> str:
    """The calibration report (markdown): per source and kind, genuine match rate and false matches."""
    lines = [
        f"# Verifier calibration ({th.version})",
        "",
        f"Thresholds: match >= {th.match} nats, mismatch <= -{th.mismatch} nats, filler {th.filler}.",
        "Written by `python -m vision.calibrate_verify` (data and rule in its docstring). None of these",
        "images is evaluation data: the real valid split and the bench's seeds are not here.",
        "",
        "| source | image | n | genuine match | genuine mismatch | impostors | false match | 95% upper | worst impostor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = sorted({(r["source"], r["kind"]) for r in rows}) + [("all", "all")]
    for source, kind in groups:
        rs = [r for r in rows if (source == "all" or r["source"] == source) and (kind == "all" or r["kind"] == kind)]
        g = np.array([r["genuine"] for r in rs])
        mis = sum(decide_row(r, th) == "mismatch" for r in rs)
        imp = np.concatenate([r[k] for r in rs for k in HARD_KINDS]) if rs else np.zeros(0)
        fm = int((imp >= th.match).sum())
        lines.append(
            f"| {source} | {kind} | {len(rs)} | {np.mean(g >= th.match):.1%} | {mis} | {len(imp)} | {fm} "
            f"| {clopper_pearson_upper(fm, len(imp)):.4%} | {imp.max() if len(imp) else float('nan'):.2f} |"
        )
    lines += ["", "Impostors by kind (all images): false matches / impostors, worst score", ""]
    for k in IMPOSTOR_KINDS:
        imp = np.concatenate([r[k] for r in rows])
        lines.append(f"- {k}: {int((imp >= th.match).sum())} / {len(imp)}, worst {imp.max():.2f}")
    return "\n".join(lines) + "\n"


def decide_row(r: dict, th: Thresholds) -> str:
    change, read, read_ok = r["genuine_decision"]
    return decide(r["genuine"], change, read, r["vin"], read_ok, th)


def run(n_crops: int, n_scenes: int, write: bool) -> int:
    t0 = time.time()
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"items_{CUTS_VERSION}_{n_crops}_{n_scenes}.pkl"
    if cache.exists():
        items = load_items(cache)
    else:
        items = collect(n_crops, n_scenes)
        cache.write_bytes(pickle.dumps(items))
    print(f"{len(items)} images cut and read in {time.time() - t0:.0f} s", flush=True)
    base = Thresholds()
    fleets = {
        src: sorted({i.vin for i in items if i.source.split()[0] == src.split()[0]})
        for src in {i.source for i in items}
    }
    rows = [score_item(i, fleets[i.source], base) for i in items]
    match, mismatch = choose(rows)
    version = f"{VERSION_PREFIX}-{time.strftime('%Y-%m-%d')}"
    th = Thresholds(match=match, mismatch=mismatch, filler=base.filler, version=version)
    text = report(rows, th)
    print(text)
    if write:
        THRESHOLDS_FILE.write_text(
            json.dumps(
                {"version": version, "match": match, "mismatch": mismatch, "filler": base.filler, "margin": MARGIN},
                indent=1,
            )
            + "\n"
        )
        REPORT_FILE.write_text(text)
        print(f"wrote {THRESHOLDS_FILE} and {REPORT_FILE} ({time.time() - t0:.0f} s)")
    return 0


def load_items(path: Path) -> list[Item]:
    return pickle.loads(path.read_bytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print the report, write nothing")
    ap.add_argument("--crops", type=int, default=300, help="synthetic calibration lines (default 300)")
    ap.add_argument("--scenes", type=int, default=40, help="synthetic calibration scenes (default 40)")
    a = ap.parse_args()
    raise SystemExit(run(a.crops, a.scenes, not a.dry_run))


if __name__ == "__main__":
    main()
