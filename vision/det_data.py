"""Detector training data: the real CC BY 4.0 plate photos and synthetic scenes.

Training only (no torch here, but not used at run time either).
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from vision.preprocess import DET_LONG
from vision.synth import random_vin, render_scene_with_box

SCENE_SEED_BASE = 20_000_000


def _find_dataset() -> Path:
    """$PASSLANE_VIN_DATASET, else ../shared next to the repository, else /work/shared."""
    import os

    rel = Path("shared") / "datasets" / "vin-plates-cc-by-4.0"
    for p in (os.environ.get("PASSLANE_VIN_DATASET"), Path(__file__).resolve().parents[2] / rel, Path("/work") / rel):
        if p and Path(p).exists():
            return Path(p)
    return Path(__file__).resolve().parents[2] / rel


DATASET = _find_dataset()


def yolo_boxes(label_path: Path, w: int, h: int) -> np.ndarray:
    """YOLO 'cls cx cy bw bh' lines -> (n, 4) x0 y0 x1 y1 in pixels."""
    out = []
    if label_path.exists():
        for line in label_path.read_text().split("\n"):
            p = line.split()
            if len(p) == 5:
                cx, cy, bw, bh = (float(v) for v in p[1:])
                out.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h])
    return np.array(out, np.float32).reshape(-1, 4)


def load_photo(root: Path, split: str, stem: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(image BGR, boxes) of one photo of a split, or None when it cannot be read."""
    img = cv2.imread(str(root / split / "images" / f"{stem}.jpg"))
    if img is None:
        return None
    return img, yolo_boxes(root / split / "labels" / f"{stem}.txt", img.shape[1], img.shape[0])


def load_split(root: Path, split: str) -> list[tuple[Path, np.ndarray, np.ndarray]]:
    """(path, image BGR, boxes) for every image of a split."""
    items = []
    for p in sorted((root / split / "images").glob("*.jpg")):
        if (photo := load_photo(root, split, p.stem)) is not None:
            items.append((p, *photo))
    return items


_LINE_FILE = re.compile(r"^(.+)_(\d+)\.png$")


def line_file(stem: str, box_index: int) -> str:
    """The file name of a labelled line's training crop (pseudo and hand labels alike)."""
    return f"{stem}_{box_index}.png"


def photo_of_line(name: str) -> tuple[str, int] | None:
    """(photo stem, box index) of a `line_file` name (any folder), or None for other names."""
    m = _LINE_FILE.match(Path(name).name)
    return (m[1], int(m[2])) if m else None


def cut_box(img: np.ndarray, box: np.ndarray, mx: float = 0.03, my: float = 0.12) -> np.ndarray:
    """A labelled x0 y0 x1 y1 box with a margin (fractions of its width and height); the
    defaults are the margin every saved training crop of a real line has."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    X0, Y0 = int(max(0, x0 - mx * w)), int(max(0, y0 - my * h))
    X1, Y1 = int(min(img.shape[1], x1 + mx * w)), int(min(img.shape[0], y1 + my * h))
    return img[Y0:Y1, X0:X1]


def make_scenes(out: Path, count: int, seed: int = 0) -> None:
    """Render full 1280x960 scenes, keep them at detector scale (long side DET_LONG)."""
    rng = np.random.default_rng(seed)
    imgs, quads = [], []
    for i in range(count):
        img, q = render_scene_with_box(random_vin(rng), SCENE_SEED_BASE + seed * 100_000 + i)
        f = DET_LONG / max(img.shape[:2])
        imgs.append(cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA))
        quads.append(q * f)
    np.savez_compressed(out, imgs=np.stack(imgs), quads=np.stack(quads))


if __name__ == "__main__":
    import sys

    cv2.setNumThreads(1)
    make_scenes(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
