"""Synthetic VIN lines and camera scenes, rendered with numpy + opencv only.

Training data for the recogniser and the detector, the regression fixtures,
and the demo's simulated camera all come from here. Every image is a pure
function of (vin, seed), so a dataset is reproducible from its seeds.

Styles follow what VINs are found on: printed labels (dark on light), black
plates with white text, dot-peen, stamped/embossed metal and laser-etched
marks; damage follows what a lane camera does to them: few pixels per
character, blur, JPEG, perspective, uneven light, glare, stretched aspect.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from vision.atlas import GLYPH_H, load_atlas
from vision.rules import ALPHABET, with_check_digit

STYLES = ("printed", "inverse", "dotpeen", "stamped", "laser")
_STYLE_P = (0.47, 0.18, 0.08, 0.15, 0.12)
_WMIS = [
    "VF1",
    "VF3",
    "VF7",
    "WVW",
    "WV1",
    "WAU",
    "WBA",
    "WDB",
    "W0L",
    "TMB",
    "XTA",
    "X7L",
    "SJN",
    "Z94",
    "LSV",
    "LFV",
    "LGW",
    "LVS",
    "LBV",
    "LDC",
    "1G1",
    "1FT",
    "2HG",
    "3VW",
    "JTD",
    "KMH",
    "KNA",
    "SAL",
    "YV1",
    "ZFA",
    "VSS",
    "TRU",
    "X9F",
    "Y6D",
    "LHG",
    "LNB",
    "LZW",
    "MAL",
    "NMT",
    "VNK",
]


def random_vin(rng: np.random.Generator, valid_check: bool | None = None) -> str:
    """A plausible VIN: a known WMI half the time, check digit valid ~70% of the time,
    and a serial shaped like real ones: positions 14-17 numeric (ISO 3779), positions
    12-13 digits 90% of the time (98-99.9% in real VINs; letters are kept a little
    commoner here so the recogniser still learns to read them there)."""
    body = list("".join(rng.choice(list(ALPHABET), 17)))
    if rng.random() < 0.5:
        body[:3] = str(rng.choice(_WMIS))
    if rng.random() < 0.15:  # European makers often fill VDS with Z (e.g. WVWZZZ...)
        body[3:6] = "ZZZ"
    digits = rng.choice(list("0123456789"), 6)
    usual = rng.random(2) < 0.9
    for k in range(11, 17):
        if k >= 13 or usual[k - 11]:
            body[k] = str(digits[k - 11])
    vin = "".join(body)
    if valid_check is None:
        valid_check = rng.random() < 0.7
    return with_check_digit(vin) if valid_check else vin


# The 5x7 dot-matrix face VIN marking machines punch (rows top to bottom, '1' = a dot):
# the VIN alphabet plus what the distractor lines on such plates use.
_DOT5X7 = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 10001 11111 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "*": "00000 00100 10101 01110 10101 00100 00000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "/": "00001 00001 00010 00100 01000 10000 10000",
}


def _dot_matrix_font(rng: np.random.Generator) -> dict:
    """A dot-peen face: 5x7 dots per symbol with a random pitch, dot size, a little jitter
    and the odd missing dot; glyph images GLYPH_H tall like the atlas fonts."""
    cap = GLYPH_H * rng.uniform(0.6, 0.75)
    py = cap / 6
    px = py * rng.uniform(0.75, 1.2)
    r = py * rng.uniform(0.25, 0.42)
    top = (GLYPH_H - cap) / 2
    w = int(np.ceil(4 * px + 2 * r + 2))
    font = {}
    for ch, rows in _DOT5X7.items():
        g = np.zeros((GLYPH_H, w), np.uint8)
        for yi, row in enumerate(rows.split()):
            for xi, bit in enumerate(row):
                if bit == "1" and rng.random() > 0.02:
                    x = r + 1 + xi * px + rng.normal(0, 0.05 * px)
                    y = top + yi * py + rng.normal(0, 0.05 * py)
                    cv2.circle(
                        g, (int(round(x * 16)), int(round(y * 16))), int(round(r * 16)), 255, -1, cv2.LINE_AA, shift=4
                    )
        font[ch] = g
    return font


def _font_for(style: str, rng: np.random.Generator) -> dict:
    """A random font; dot-peen marks get a dot-matrix face."""
    if style == "dotpeen":
        return _dot_matrix_font(rng)
    _, fonts = load_atlas()
    return fonts[int(rng.integers(len(fonts)))]


def _text_mask(
    text: str, rng: np.random.Generator, font: dict | None = None, spacing: float | None = None
) -> np.ndarray:
    """Ink coverage (float 0..1, height GLYPH_H) of `text` in one font."""
    if font is None:
        _, fonts = load_atlas()
        font = fonts[int(rng.integers(len(fonts)))]
    if spacing is None:
        spacing = float(rng.uniform(-0.02, 0.35)) if rng.random() < 0.8 else float(rng.uniform(0.35, 0.9))
    gap = int(round(spacing * GLYPH_H * 0.5))
    parts = []
    for ch in text:
        if ch == " ":
            parts.append(np.zeros((GLYPH_H, GLYPH_H // 3), np.uint8))
            continue
        g = font.get(ch)
        if g is None:
            continue
        parts.append(g)
        if gap > 0:
            parts.append(np.zeros((GLYPH_H, gap), np.uint8))
        elif gap < 0 and parts:
            pass
    m = np.concatenate(parts, axis=1).astype(np.float32) / 255.0
    return m


def _crop_rows(m: np.ndarray) -> np.ndarray:
    rows = np.where(m.max(1) > 0.1)[0]
    return m[rows[0] : rows[-1] + 1] if len(rows) else m


MIN_CAP, CAP = 24, 28  # rows of the atlas faces' capitals: Hershey "plain" has 16, every other face 26-31


def _at_least_cap(m: np.ndarray) -> np.ndarray:
    """A text mask drawn smaller than the other faces, scaled up to CAP rows. Relief, dot and
    blur effects are sized in mask pixels, so a half-size face came out as mush (stamped
    Hershey plain lines were unreadable, to people too) until 2026-12-04."""
    if m.shape[0] >= MIN_CAP:
        return m
    k = CAP / m.shape[0]
    return cv2.resize(m, (round(m.shape[1] * k), CAP), interpolation=cv2.INTER_LINEAR)


def _metal(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    base = rng.uniform(0.3, 0.8)
    noise = rng.normal(0, 1, (h, w)).astype(np.float32)
    brushed = cv2.GaussianBlur(noise, (0, 0), sigmaX=float(rng.uniform(3, 15)), sigmaY=0.5)
    speck = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
    img = base + 0.15 * brushed * rng.uniform(0.2, 1.0) + 0.03 * speck
    if rng.random() < 0.4:  # rust / dirt patches
        blob = cv2.GaussianBlur(rng.normal(0, 1, (max(2, h // 8), max(2, w // 8))).astype(np.float32), (0, 0), 1.5)
        img -= 0.15 * np.clip(cv2.resize(blob, (w, h)), 0, None)
    return img


def colorize(mask: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """Paint an ink mask in one style; returns BGR float32 in 0..1."""
    h, w = mask.shape
    if style in ("printed", "inverse"):
        light = rng.uniform(0.65, 1.0)
        dark = rng.uniform(0.0, 0.35)
        bg, fg = (light, dark) if style == "printed" else (dark * 0.6, light)
        tint = rng.uniform(0.85, 1.0, 3) if rng.random() < 0.5 else np.ones(3)
        paper = bg + 0.03 * rng.normal(0, 1, (h, w)).astype(np.float32)
        m = mask
        if rng.random() < 0.3:  # worn / thermal print: patchy ink
            patch = cv2.resize(rng.uniform(0.5, 1.0, (max(2, h // 6), max(2, w // 6))).astype(np.float32), (w, h))
            m = m * patch
        g = paper * (1 - m) + fg * m
        img = g[..., None] * tint[None, None, :]
    elif style == "dotpeen":  # the mask is already dots (_dot_matrix_font): shade them as dimples
        d = mask
        base = _metal((h, w), rng)
        sh = cv2.GaussianBlur(d, (0, 0), 1.0)
        dx = cv2.Sobel(sh, cv2.CV_32F, 1, 0, ksize=3)
        g = base - rng.uniform(0.3, 0.5) * sh + rng.uniform(0.0, 0.3) * dx
        img = np.repeat(g[..., None], 3, axis=2)
    elif style == "stamped":
        base = _metal((h, w), rng)
        sm = cv2.GaussianBlur(mask, (0, 0), float(rng.uniform(1.0, 2.5)))
        ang = rng.uniform(0, 2 * np.pi)
        gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3)
        shade = np.cos(ang) * gx + np.sin(ang) * gy
        sign = 1 if rng.random() < 0.5 else -1  # embossed or punched
        g = base + sign * rng.uniform(0.25, 0.45) * shade - rng.uniform(0.1, 0.35) * sm
        img = np.repeat(g[..., None], 3, axis=2)
    else:  # laser-etched: thin, low-contrast marks on metal or anodised surface
        m = cv2.erode(mask, np.ones((2, 2), np.uint8)) if rng.random() < 0.5 else mask
        base = _metal((h, w), rng) if rng.random() < 0.6 else np.full((h, w), rng.uniform(0.05, 0.25), np.float32)
        delta = rng.uniform(0.35, 0.6) * (1 if base.mean() < 0.45 else -1)
        g = base + delta * m
        img = np.repeat(g[..., None], 3, axis=2) * rng.uniform(0.9, 1.0, 3)[None, None, :]
    return np.clip(img, 0, 1).astype(np.float32)


def _light(img: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Uneven illumination and glare."""
    h, w = img.shape[:2]
    if rng.random() < 0.7:
        gx, gy = np.meshgrid(np.linspace(-1, 1, w, dtype=np.float32), np.linspace(-1, 1, h, dtype=np.float32))
        a, b = rng.normal(0, 0.35 * strength, 2)
        img = img * np.clip(1 + a * gx + b * gy, 0.3, 1.6)[..., None]
    if rng.random() < 0.3 * strength:
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        sx, sy = rng.uniform(0.05, 0.4) * w, rng.uniform(0.1, 0.8) * h
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        glare = np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
        img = img + rng.uniform(0.15, 0.4) * glare[..., None]
    return np.clip(img, 0, 1)


def _degrade(img8: np.ndarray, rng: np.random.Generator, strength: float = 1.0, text_h: float = 30.0) -> np.ndarray:
    """Sensor noise, blur and JPEG on a uint8 BGR image.

    Blur scales with the text height so that damage stays within what a
    careful human can still read (an illegible training label is noise).
    """
    img = img8
    if rng.random() < 0.6:
        s = rng.uniform(0.3, max(0.35, min(1.2 * strength, 0.06 * text_h + 0.1)))
        img = cv2.GaussianBlur(img, (0, 0), s)
    if rng.random() < 0.15 and text_h >= 12:  # motion blur
        k = int(rng.integers(2, 4))
        ker = np.zeros((k, k), np.float32)
        ker[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, ker)
    if rng.random() < 0.7:
        n = rng.normal(0, rng.uniform(1, 8 * strength), img.shape)
        img = np.clip(img.astype(np.float32) + n, 0, 255).astype(np.uint8)
    if rng.random() < 0.8:
        q = int(rng.integers(30 if text_h < 14 else 20, 95))
        _, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        assert decoded is not None, "a JPEG just encoded decodes"
        img = decoded
    return img


def _pick_style(rng: np.random.Generator) -> str:
    return str(rng.choice(STYLES, p=_STYLE_P))


def style_of(seed: int) -> str:
    """The style `render_line(vin, seed)` draws (its first random draw), for per-style figures."""
    return _pick_style(np.random.default_rng(seed))


def _distractor_text(rng: np.random.Generator) -> str:
    pool = [
        "RENAULT",
        "NISSAN",
        "OPEL",
        "e2*2001/116*0273",
        "1815 kg",
        "2800 kg",
        "1- 1020 kg",
        "2- 1030 kg",
        "AUTOMOBILES PEUGEOT",
        "TYPE FBAP12",
        "SKODA AUTO",
        "AVTOVAZ",
        "MADE IN GERMANY",
        "e11*98/14*0183",
        "Colour, Trim",
        "PAINT 0V369",
        "TC RU E-RU.MT02.00317",
    ]
    if rng.random() < 0.5:
        return str(rng.choice(pool))
    n = int(rng.integers(3, 14))
    return "".join(rng.choice(list("0123456789ABCDEFGHJKLMNPRSTUVWXYZ-*/ kg"), n))


def _photo_font(rng: np.random.Generator) -> dict:
    """Label fonts on door-pillar plates are mostly condensed or narrow sans faces."""
    names, fonts = load_atlas()
    narrow = [i for i, n in enumerate(names) if "Condensed" in n or "Narrow" in n or n.endswith("Sans-Bold")]
    return fonts[int(rng.choice(narrow))] if rng.random() < 0.7 else fonts[int(rng.integers(len(fonts)))]


def render_line(vin: str, seed: int, photo: bool = False, style: str | None = None) -> np.ndarray:
    """One VIN-line crop (BGR uint8) in a random style with random damage.

    The crop is loose the way a detector's crop is: some margin, sometimes
    bits of neighbouring lines or '*' delimiters, a small tilt.
    `photo=True` draws from the part of that space the real door-pillar
    photos live in (printed labels, narrow fonts, 8-16 px text, tight crops
    with neighbouring lines, squeezed aspect); used for fine-tuning.
    `style` overrides the seed's own style (training weights the styles it reads
    worst); the rest of the line is drawn from the seed as before.
    """
    rng = np.random.default_rng(seed)
    drawn = _pick_style(rng) if not photo else ("printed" if rng.random() < 0.6 else "inverse")
    style = style or drawn
    text = vin
    if rng.random() < 0.15:
        text = "*" + text + "*"
    m = _at_least_cap(_crop_rows(_text_mask(text, rng, font=_font_for(style, rng) if not photo else _photo_font(rng))))
    th, tw = m.shape
    # margins, in units of text height; neighbours above/below sometimes show
    mt, mb = (rng.uniform(0.1, 0.6, 2) * th).astype(int) if not photo else (rng.uniform(0.05, 0.35, 2) * th).astype(int)
    ml, mr = (rng.uniform(0.1, 1.2, 2) * th).astype(int) if not photo else (rng.uniform(0.05, 0.4, 2) * th).astype(int)
    canvas = np.zeros((th + mt + mb, tw + ml + mr), np.float32)
    canvas[mt : mt + th, ml : ml + tw] = m
    for above in (True, False):
        if rng.random() < (0.35 if not photo else 0.6):
            d = _crop_rows(_text_mask(_distractor_text(rng), rng))
            d = cv2.resize(
                d, (max(1, int(d.shape[1] * rng.uniform(0.6, 1.0))), max(1, int(d.shape[0] * rng.uniform(0.6, 1.0))))
            )
            gap = int(rng.uniform(0.15, 0.5) * th) if not photo else int(rng.uniform(0.1, 0.35) * th)
            x0 = int(rng.integers(0, max(1, canvas.shape[1] - 10)))
            w = min(d.shape[1], canvas.shape[1] - x0)
            if above:
                y1 = mt - gap
                y0 = max(0, y1 - d.shape[0])
                if y1 > y0:
                    canvas[y0:y1, x0 : x0 + w] = np.maximum(canvas[y0:y1, x0 : x0 + w], d[d.shape[0] - (y1 - y0) :, :w])
            else:
                y0 = mt + th + gap
                y1 = min(canvas.shape[0], y0 + d.shape[0])
                if y1 > y0:
                    canvas[y0:y1, x0 : x0 + w] = np.maximum(canvas[y0:y1, x0 : x0 + w], d[: y1 - y0, :w])
    img = colorize(canvas, style, rng)
    img = _light(img, rng)
    # geometry: tilt, shear, perspective, aspect stretch
    h, w = img.shape[:2]
    ang = rng.normal(0, 1.5)
    shear = rng.normal(0, 0.08)
    sx = rng.uniform(0.7, 1.35) if not photo else rng.uniform(0.5, 1.0)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jit = rng.normal(0, 0.03, (4, 2)) * [w * 0.2, h]
    dst = src.copy()
    dst[:, 0] = dst[:, 0] * sx + shear * dst[:, 1]
    c, s = np.cos(np.radians(ang)), np.sin(np.radians(ang))
    dst = dst @ np.array([[c, s], [-s, c]], np.float32)
    dst = (dst + jit).astype(np.float32)
    dst -= dst.min(0)
    ow, oh = int(np.ceil(dst[:, 0].max())) + 1, int(np.ceil(dst[:, 1].max())) + 1
    H = cv2.getPerspectiveTransform(src, dst)
    # replicate, not reflect: reflecting mirrored the first and last symbols into the corners
    # a tilted line leaves empty, a ghost glyph no real crop has (until 2026-11-28)
    img = cv2.warpPerspective(img, H, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # resolution: the text ends up 7..30 px tall (real plates: ~6 px per character)
    lo = {"dotpeen": 30, "stamped": 18}.get(style, 8)  # dots and relief vanish when smaller
    target_th = rng.uniform(lo, max(lo, 30) + 1) if rng.random() < 0.8 else rng.uniform(max(lo, 30), 60)
    if photo:
        target_th = rng.uniform(8, 16)
    f = target_th / th
    small = cv2.resize(img, (max(8, int(ow * f)), max(4, int(oh * f))), interpolation=cv2.INTER_AREA)
    img8 = (small * 255).astype(np.uint8)
    return _degrade(img8, rng, text_h=target_th)


def _label_plate(vin: str, rng: np.random.Generator, style: str) -> tuple[np.ndarray, np.ndarray]:
    """Ink mask of a whole plate/label and the VIN line's quad in plate pixels."""
    font = _font_for(style, rng)
    vm = _at_least_cap(_crop_rows(_text_mask(vin, rng, font=font)))
    th, _ = vm.shape
    lines = []
    if style in ("printed", "inverse", "laser") and rng.random() < 0.85:
        n_above, n_below = int(rng.integers(0, 3)), int(rng.integers(0, 5))
    else:
        n_above, n_below = 0, int(rng.integers(0, 2))
    for _ in range(n_above):
        lines.append(("d", _at_least_cap(_crop_rows(_text_mask(_distractor_text(rng), rng, font=font)))))
    lines.append(("v", vm))
    for _ in range(n_below):
        lines.append(("d", _at_least_cap(_crop_rows(_text_mask(_distractor_text(rng), rng, font=font)))))
    gap = int(th * rng.uniform(0.4, 1.0))
    scaled = []
    for kind, m in lines:
        if kind == "d":
            f = rng.uniform(0.6, 1.0)
            m = cv2.resize(m, (max(1, int(m.shape[1] * f)), max(1, int(m.shape[0] * f))))
        scaled.append((kind, m))
    W = int(max(m.shape[1] for _, m in scaled) + 2 * th * rng.uniform(0.5, 1.5))
    H = int(sum(m.shape[0] for _, m in scaled) + gap * (len(scaled) - 1) + 2 * th * rng.uniform(0.5, 1.5))
    plate = np.zeros((H, W), np.float32)
    y = int((H - sum(m.shape[0] for _, m in scaled) - gap * (len(scaled) - 1)) / 2)
    quad = None
    centered = rng.random() < 0.5
    for kind, m in scaled:
        x = int((W - m.shape[1]) / 2) if centered else int(th * 0.6)
        x = max(0, min(x, W - m.shape[1]))
        plate[y : y + m.shape[0], x : x + m.shape[1]] = np.maximum(plate[y : y + m.shape[0], x : x + m.shape[1]], m)
        if kind == "v":
            quad = np.array(
                [[x, y], [x + m.shape[1], y], [x + m.shape[1], y + m.shape[0]], [x, y + m.shape[0]]], np.float32
            )
        y += m.shape[0] + gap
    assert quad is not None
    return plate, quad


def _background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Car paint, door pillar or engine-bay-like clutter (BGR float 0..1)."""
    col = rng.uniform(0.05, 0.9, 3)
    small = rng.normal(0, 1, (6, 8, 3)).astype(np.float32) * rng.uniform(0.05, 0.25)
    bg = col[None, None, :] + cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 8))):  # edges, seals, holes
        c = tuple(float(v) for v in rng.uniform(0, 1, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(bg, p1, p2, c, int(rng.integers(2, 30)), cv2.LINE_AA)
        else:
            cv2.circle(bg, p1, int(rng.integers(5, 80)), c, -1, cv2.LINE_AA)
    return np.clip(bg + rng.normal(0, 0.02, bg.shape).astype(np.float32), 0, 1)


def render_scene_with_box(vin: str, seed: int, width: int = 1280, height: int = 960) -> tuple[np.ndarray, np.ndarray]:
    """A full camera frame holding `vin` on a plate, and the VIN line's quad (4x2, frame pixels)."""
    rng = np.random.default_rng(seed)
    style = _pick_style(rng)
    plate_mask, quad = _label_plate(vin, rng, style)
    plate = colorize(plate_mask, style, rng)
    ph, pw = plate.shape[:2]
    # place: the VIN line spans 22..60 % of the frame width
    line_w = quad[1, 0] - quad[0, 0]
    scale = rng.uniform(0.22, 0.6) * width / line_w
    ang = rng.normal(0, 6)
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    M = cv2.getRotationMatrix2D((pw / 2, ph / 2), ang, scale)
    M[:, 2] += [cx - pw / 2, cy - ph / 2]
    dst = cv2.transform(src[None], M)[0]
    dst += rng.normal(0, 0.02, (4, 2)).astype(np.float32) * scale * min(pw, ph)
    Hm = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    bg = _background(width, height, rng)
    warped = cv2.warpPerspective(plate, Hm, (width, height), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(np.ones((ph, pw), np.float32), Hm, (width, height))
    frame = bg * (1 - alpha[..., None]) + warped * alpha[..., None]
    frame = _light(frame, rng, strength=0.7)
    img8 = _degrade((frame * 255).astype(np.uint8), rng, strength=0.7)
    q = cv2.perspectiveTransform(quad[None], Hm)[0]
    return img8, q


def render_scene(vin: str, seed: int, width: int = 1280, height: int = 960) -> np.ndarray:
    """A full BGR camera frame with `vin` on a plate or label somewhere in it (the demo's camera)."""
    return render_scene_with_box(vin, seed, width, height)[0]


def write_dataset(out: Path, count: int, seed: int, scenes: bool = False) -> Path:
    """Write `count` images plus labels.csv (path, vin, style-free) to `out`; returns the CSV path."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    csv_path = out / "labels.csv"
    with csv_path.open("w", newline="") as fh:
        wr = csv.writer(fh)
        wr.writerow(["file", "vin", "seed"] + (["x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4"] if scenes else []))
        for i in range(count):
            vin = random_vin(rng)
            s = int(seed) * 1_000_003 + i
            name = f"{i:06d}.png"
            if scenes:
                img, q = render_scene_with_box(vin, s)
                wr.writerow([name, vin, s] + [f"{v:.1f}" for v in q.reshape(-1)])
            else:
                img = render_line(vin, s)
                wr.writerow([name, vin, s])
            cv2.imwrite(str(out / name), img)
    return csv_path
