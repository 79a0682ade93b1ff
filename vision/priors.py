"""What the VIN standard and real VINs say about each position, as priors for decoding.

At ~6 px per character the recogniser cannot always tell 8 from B, 2 from Z or
V from Y; the VIN itself often can. Two facts are used, both as soft priors
(a clear image still wins, so a non-conforming VIN is read as it is):

- **Serial digits.** ISO 3779 (and GB 16735, and the Russian technical
  regulation built on it) make the last four VIS characters (positions 14-17)
  numeric; North America makes the last five numeric. Positions 12-13 are
  digits in 98.2% and 99.9% of the 683 VINs read confidently from the train
  split (`vision.pseudo`). A letter there is multiplied by
  ``SERIAL_LETTER_ODDS`` / ``STANDARD_LETTER_ODDS``.
- **Known WMIs.** Positions 1-3 name the maker. A WMI outside the shipped
  table (`wmi_codes.txt`) is multiplied by ``UNKNOWN_WMI_ODDS``, so that a
  YF1 read whose V carries real probability becomes VF1 (Renault), while an
  unlisted WMI that is read clearly stays as read (new makers appear every
  year; the domain rule is never to reject a VIN for its WMI).

The odds were fixed from these sources before looking at the effect on any
test set, and are not tuned on one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from vision.rules import ALPHABET

#: positions (0-based) that ISO 3779 / GB 16735 make numeric: the last four of the VIN
STANDARD_DIGITS = range(13, 17)
#: positions (0-based) that are digits in practice (98-99.9% of confidently read real VINs)
USUAL_DIGITS = range(11, 13)
STANDARD_LETTER_ODDS = 1e-3
SERIAL_LETTER_ODDS = 0.1
UNKNOWN_WMI_ODDS = 0.05
WMI_FILE = Path(__file__).resolve().parent / "wmi_codes.txt"
_IS_LETTER = np.array([not c.isdigit() for c in ALPHABET])


@lru_cache(maxsize=1)
def known_wmis() -> tuple[frozenset[str], frozenset[str]]:
    """(three-symbol WMIs, two-symbol prefixes that cover all their WMIs) from `wmi_codes.txt`."""
    codes = [ln.split()[0] for ln in WMI_FILE.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return frozenset(c for c in codes if len(c) == 3), frozenset(c for c in codes if len(c) == 2)


def is_known_wmi(wmi: str) -> bool:
    """True when the shipped table lists this WMI (or its two-symbol maker prefix)."""
    three, two = known_wmis()
    return wmi in three or wmi[:2] in two


def _serial_weights() -> np.ndarray:
    """(17, 33) prior odds: 1 everywhere except letters in the (usually) numeric serial."""
    W = np.ones((17, len(ALPHABET)))
    for ks, odds in ((STANDARD_DIGITS, STANDARD_LETTER_ODDS), (USUAL_DIGITS, SERIAL_LETTER_ODDS)):
        for k in ks:
            W[k, _IS_LETTER] = odds
    return W


#: built once: the decoder applies it to every cut it reads
_SERIAL_WEIGHTS = _serial_weights()


def apply_serial_prior(P: np.ndarray) -> np.ndarray:
    """Down-weight letters where the serial number is (almost always) numeric; rows renormalised."""
    Q = P.astype(np.float64) * _SERIAL_WEIGHTS[: len(P)]
    return Q / np.maximum(Q.sum(1, keepdims=True), 1e-12)


def vin_likeness(P: np.ndarray) -> float:
    """Log prior evidence that a 17-position read is a VIN at all (0 = fits perfectly).

    Used to choose which 17 of a longer line's symbols are the VIN, when a crop
    also holds neighbouring text ("VIN:", a part number...).
    """
    serial = float(np.log(np.maximum((P * _SERIAL_WEIGHTS[: len(P)]).sum(1), 1e-12)).sum())
    wmi = "".join(ALPHABET[int(j)] for j in P[:3].argmax(1))
    return serial + (0.0 if is_known_wmi(wmi) else float(np.log(UNKNOWN_WMI_ODDS)))


def apply_wmi_prior(P: np.ndarray) -> np.ndarray:
    """Down-weight, per WMI position, the symbols that would make the read WMI unknown.

    Each of positions 1-3 is re-weighted given the current best symbols of the
    other two (a coordinate-wise posterior: exact when only one position is
    ambiguous, which is the usual case).
    """
    Q = P.astype(np.float64, copy=True)
    if len(Q) < 3:
        return Q
    best = [ALPHABET[int(j)] for j in Q[:3].argmax(1)]
    for k in range(3):
        Q[k] *= _wmi_weights(k, "".join(best[:k]), "".join(best[k + 1 : 3]))
        Q[k] /= max(Q[k].sum(), 1e-12)
        best[k] = ALPHABET[int(Q[k].argmax())]
    return Q


# a plate's reads share one context; 8,192 cached arrays took 2.5 MB of a lane over its first thousands of cars
@lru_cache(maxsize=1024)
def _wmi_weights(k: int, before: str, after: str) -> np.ndarray:
    """Per symbol at WMI position `k` (0-2) between `before` and `after`: 1 if it makes a
    known WMI, else UNKNOWN_WMI_ODDS. Cached: reads of one plate share their context."""
    w = np.array([1.0 if is_known_wmi(before + c + after) else UNKNOWN_WMI_ODDS for c in ALPHABET])
    w.flags.writeable = False
    return w


def apply_priors(P: np.ndarray) -> np.ndarray:
    """Both priors on a (17, 33) per-position distribution."""
    return apply_wmi_prior(apply_serial_prior(P))


def build_wmi_table(pseudo_labels: Path, out: Path = WMI_FILE, min_count: int = 3) -> int:
    """Write `wmi_codes.txt`: vininfo's WMI table plus WMIs seen often in train-split pseudo-labels.

    Build-time only (vininfo is a dev dependency); the runtime reads the text file.
    """
    import csv
    from collections import Counter

    from vininfo.dicts.wmi import WMI

    table = {k: v for k, v in WMI.items() if all(c in ALPHABET for c in k) and len(k) in (2, 3)}
    seen = Counter(r["vin"][:3] for r in csv.DictReader(pseudo_labels.open()) if float(r["confidence"]) >= 0.9)
    extra = {
        w: f"seen {n} times in train-split pseudo-labels"
        for w, n in seen.items()
        if n >= min_count and not (w in table or w[:2] in table)
    }
    lines = [
        "# Known WMIs (positions 1-3 of a VIN) for the decoder's WMI prior (vision/priors.py).",
        "# Source 1: the WMI table of vininfo 1.11.0 (https://github.com/idlesign/vininfo),",
        "#   Copyright (c) 2018-2026, Igor 'idle sign' Starikov, BSD-3-Clause licence (see",
        "#   vision/wmi_codes_LICENSE.txt for the full notice). Two-symbol entries cover every WMI they start.",
        f"# Source 2: WMIs read >= {min_count} times at confidence >= 0.9 from the train split of the",
        "#   CC BY 4.0 'Vin detection' photos (vision.pseudo), marked as such.",
        "# Rebuild: python -m vision.priors PSEUDO_LABELS_CSV",
    ]
    lines += [f"{k} {v}" for k, v in sorted(table.items())]
    lines += [f"{k} {v}" for k, v in sorted(extra.items())]
    out.write_text("\n".join(lines) + "\n")
    known_wmis.cache_clear()
    _wmi_weights.cache_clear()
    return len(table) + len(extra)


if __name__ == "__main__":
    import sys

    print(build_wmi_table(Path(sys.argv[1])), "WMIs written to", WMI_FILE)
