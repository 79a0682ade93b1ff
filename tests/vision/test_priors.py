"""VIN priors: the shipped WMI table, the numeric serial, and picking the VIN out of a longer line."""

from __future__ import annotations

import numpy as np

from vision.priors import apply_serial_prior, is_known_wmi, known_wmis, vin_likeness
from vision.rules import ALPHABET


def one_hot(text: str, sharp: float = 0.97) -> np.ndarray:
    P = np.full((len(text), len(ALPHABET)), (1 - sharp) / (len(ALPHABET) - 1))
    for k, c in enumerate(text):
        P[k, ALPHABET.index(c)] = sharp
    return P


def test_wmi_table_is_well_formed_and_holds_the_big_makers():
    three, two = known_wmis()
    assert len(three) > 600 and all(set(c) <= set(ALPHABET) for c in three | two)
    assert all(is_known_wmi(w) for w in ("VF1", "XTA", "LSV", "LFV", "WVW", "1G1", "Z94"))
    assert is_known_wmi("JTD") and not is_known_wmi("YF1")  # JT covers Toyota's WMIs


def test_serial_prior_makes_a_letter_in_the_last_four_a_thousand_times_less_likely():
    P = np.full((17, len(ALPHABET)), 1 / len(ALPHABET))
    Q = apply_serial_prior(P)
    b, eight = ALPHABET.index("B"), ALPHABET.index("8")
    assert np.allclose(Q.sum(1), 1)
    assert np.isclose(Q[15, b] / Q[15, eight], 1e-3) and np.isclose(Q[11, b] / Q[11, eight], 0.1)
    assert np.isclose(Q[5, b], Q[5, eight])  # the VDS is left alone


def test_the_vin_is_the_most_vin_like_run_of_a_longer_line():
    line = "TPXWEKU814DEC002335"  # a logo read as "TP" before a Kia Russia VIN
    runs = [line[i : i + 17] for i in range(len(line) - 16)]
    scores = [vin_likeness(one_hot(r)) for r in runs]
    assert runs[int(np.argmax(scores))] == "XWEKU814DEC002335"
