"""Glyph atlas: pre-rendered character bitmaps the synthetic renderer composes.

Rendering glyphs once (with Pillow and the system TrueType fonts, at build
time) and shipping them as a small .npz means `vision.synth` needs only
numpy + opencv at run time (the demo's simulated camera) and renders fast
enough to generate training data on the fly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

ATLAS_PATH = Path(__file__).with_name("glyphs.npz")
GLYPH_H = 48  # atlas row height in pixels; cap height is about 0.7 * GLYPH_H
CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*-./:()#abcdegkmnorstx"

_TTF = [
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSansCondensed.ttf",
    "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSansMono.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "dejavu/DejaVuSerif.ttf",
    "dejavu/DejaVuSerifCondensed-Bold.ttf",
    "dejavu/DejaVuSans-ExtraLight.ttf",
    "liberation/LiberationSans-Regular.ttf",
    "liberation/LiberationSans-Bold.ttf",
    "liberation/LiberationSansNarrow-Regular.ttf",
    "liberation/LiberationSansNarrow-Bold.ttf",
    "liberation/LiberationMono-Regular.ttf",
    "liberation/LiberationMono-Bold.ttf",
    "liberation/LiberationSerif-Regular.ttf",
    "liberation/LiberationSerif-Bold.ttf",
]


def _render_ttf(path: str) -> list[np.ndarray]:
    from PIL import Image, ImageDraw, ImageFont  # build-time only

    font = ImageFont.truetype(path, 40)
    out = []
    for ch in CHARS:
        img = Image.new("L", (64, GLYPH_H + 16), 0)
        ImageDraw.Draw(img).text((8, 2), ch, fill=255, font=font)
        a = np.asarray(img)[:GLYPH_H]
        cols = np.where(a.max(0) > 20)[0]
        out.append(a[:, cols[0] : cols[-1] + 1] if len(cols) else np.zeros((GLYPH_H, 12), np.uint8))
    return out


def _render_hershey(face: int, thick: int) -> list[np.ndarray]:
    import cv2

    out = []
    for ch in CHARS:
        img = np.zeros((GLYPH_H, 64), np.uint8)
        cv2.putText(img, ch, (8, 38), face, 1.25, 255, thick, cv2.LINE_AA)
        cols = np.where(img.max(0) > 20)[0]
        out.append(img[:, cols[0] : cols[-1] + 1] if len(cols) else np.zeros((GLYPH_H, 12), np.uint8))
    return out


def build_atlas(font_root: str = "/usr/share/fonts/truetype", out: Path = ATLAS_PATH) -> Path:
    """Render every font's glyphs and save the atlas (run once by a developer)."""
    import cv2

    fonts: list[tuple[str, list[np.ndarray]]] = []
    for rel in _TTF:
        p = Path(font_root) / rel
        if p.exists():
            fonts.append((p.stem, _render_ttf(str(p))))
    for name, face, thick in [
        ("hershey_simplex", cv2.FONT_HERSHEY_SIMPLEX, 3),
        ("hershey_duplex", cv2.FONT_HERSHEY_DUPLEX, 3),
        ("hershey_plain", cv2.FONT_HERSHEY_PLAIN, 2),
        ("hershey_simplex_thin", cv2.FONT_HERSHEY_SIMPLEX, 2),
        ("hershey_complex", cv2.FONT_HERSHEY_COMPLEX, 2),
    ]:
        fonts.append((name, _render_hershey(face, thick)))
    arrays: dict[str, np.ndarray] = {"chars": np.array(list(CHARS)), "names": np.array([n for n, _ in fonts])}
    for i, (_, glyphs) in enumerate(fonts):
        arrays[f"img{i}"] = np.concatenate(glyphs, axis=1)
        arrays[f"off{i}"] = np.cumsum([0] + [g.shape[1] for g in glyphs])
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # numpy's stub has a keyword-only allow_pickle: bool beside **kwds, so mypy checks every array against bool
    return out


@lru_cache(maxsize=1)
def load_atlas() -> tuple[list[str], list[dict[str, np.ndarray]]]:
    """Font names and, per font, a dict char -> glyph bitmap (uint8, height GLYPH_H)."""
    z = np.load(ATLAS_PATH)
    chars = [str(c) for c in z["chars"]]
    names = [str(n) for n in z["names"]]
    fonts = []
    for i in range(len(names)):
        img, off = z[f"img{i}"], z[f"off{i}"]
        fonts.append({c: img[:, off[j] : off[j + 1]] for j, c in enumerate(chars)})
    return names, fonts
