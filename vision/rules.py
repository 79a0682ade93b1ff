"""VIN rules (ISO 3779 / GB 16735-2019): alphabet, check digit, model year, WMI region.

Pure functions only, so the decoder, the tests and the lane can share them.
"""

from __future__ import annotations

import re

#: The 33 symbols a VIN may contain: digits and capitals without I, O, Q.
ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_RE = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")

_TRANSLIT = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9]))
_TRANSLIT.update({str(d): d for d in range(10)})
WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
#: Characters OCR may produce that a VIN cannot hold, mapped to the symbol meant.
LOOKALIKES = {"O": "0", "Q": "0", "I": "1"}
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"


def char_value(c: str) -> int:
    """Transliterated value of one VIN symbol (digits keep their value)."""
    return _TRANSLIT[c]


def is_well_formed(vin: str) -> bool:
    """17 symbols from the VIN alphabet (says nothing about the check digit)."""
    return bool(VIN_RE.match(vin))


def normalise(text: str) -> str:
    """Upper-case, drop separators and map O/Q->0, I->1 (they cannot occur in a VIN)."""
    out = []
    for c in text.upper():
        c = LOOKALIKES.get(c, c)
        if c in ALPHABET:
            out.append(c)
    return "".join(out)


def expected_check_digit(vin: str) -> str:
    """Check digit (position 9) the other 16 symbols call for: '0'-'9' or 'X'."""
    if len(vin) != 17 or any(c not in _TRANSLIT for c in vin):
        raise ValueError(f"not a 17-symbol VIN: {vin!r}")
    r = sum(_TRANSLIT[c] * w for c, w in zip(vin, WEIGHTS)) % 11
    return "X" if r == 10 else str(r)


def check_digit_valid(vin: str) -> bool:
    """True when position 9 matches the ISO 3779 check digit."""
    return is_well_formed(vin) and vin[8] == expected_check_digit(vin)


def with_check_digit(vin16_or_17: str) -> str:
    """Return the VIN with position 9 set to its correct check digit (for synthetic VINs)."""
    v = vin16_or_17[:8] + "0" + vin16_or_17[9:17] if len(vin16_or_17) == 17 else vin16_or_17[:8] + "0" + vin16_or_17[8:]
    return v[:8] + expected_check_digit(v) + v[9:]


def check_digit_required(vin: str) -> bool:
    """True where a wrong check digit makes the VIN invalid: China (WMI 'L', GB 16735
    annex A) and North America ('1'-'5', 49 CFR 565). Elsewhere makers may ignore it,
    so a misread of such a VIN passes the check about 1 time in 11 by coincidence."""
    return bool(vin) and vin[0] in "L12345"


def model_years(vin: str) -> list[int]:
    """Both candidate model years for position 10 (the code repeats every 30 years)."""
    code = vin[9] if len(vin) >= 10 else ""
    i = _YEAR_CODES.find(code)
    if i < 0 or not code:
        return []
    return [1980 + i, 2010 + i]


def wmi_region(vin: str) -> str:
    """Continent of manufacture from the first WMI symbol (ISO 3780 blocks)."""
    if not vin:
        return "unknown"
    c = vin[0]
    if c in "ABCDEFGH":
        return "Africa"
    if c in "JKLMNPR":
        return "Asia"
    if c in "STUVWXYZ":
        return "Europe"
    if c in "12345":
        return "North America"
    if c in "67":
        return "Oceania"
    if c in "89":
        return "South America"
    return "unknown"


def wmi_country(vin: str) -> str | None:
    """A few well-known WMI country prefixes; None when not in this short table."""
    table = {
        "L": "China",
        "J": "Japan",
        "K": "South Korea",
        "W": "Germany",
        "VF": "France",
        "VR": "France",
        "VS": "Spain",
        "TM": "Czechia",
        "X": "Russia",
        "Z": "Italy",
        "SA": "United Kingdom",
        "1": "United States",
        "4": "United States",
        "5": "United States",
        "2": "Canada",
        "3": "Mexico",
        "YV": "Sweden",
        "SJ": "United Kingdom",
        "TR": "Hungary",
        "VN": "France",
    }
    for k in sorted(table, key=len, reverse=True):
        if vin.startswith(k):
            return table[k]
    return None
