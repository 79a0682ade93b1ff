"""Verification of an expected VIN against CTC probabilities (vision/verify.py), on synthetic matrices."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vision.rules import ALPHABET
from vision.verify import DECISION_ORDER, Thresholds, _changes, _emissions, log_likelihoods, verify

T = 64
TH = Thresholds(match=3.0, mismatch=3.0, filler=1e-3)
vins = st.text(alphabet=ALPHABET, min_size=17, max_size=17)


def probs_for(text: str, mix: dict[int, dict[str, float]] | None = None, start: int = 4, step: int = 3) -> np.ndarray:
    """A CTC output that spells `text` (one symbol every `step` frames from `start`); `mix` spreads a
    position's probability over several symbols."""
    p = np.full((T, len(ALPHABET) + 1), 1e-6)
    p[:, 0] = 1.0
    for k, ch in enumerate(text):
        t = start + step * k
        p[t] = 1e-6
        for c, v in (mix or {}).get(k, {ch: 1.0}).items():
            p[t, ALPHABET.index(c) + 1] = v
    return p / p.sum(1, keepdims=True)


def other_symbol(ch: str, pick: int) -> str:
    rest = [c for c in ALPHABET if c != ch]
    return rest[pick % len(rest)]


@settings(max_examples=40, deadline=None)
@given(
    st.text(alphabet="AB12", min_size=17, max_size=17),
    st.integers(17, 48),
    st.sampled_from([0.0, 1e-3, 0.5]),
    st.integers(0, 2**32 - 1),
)
def test_every_substitution_and_deletion_likelihood_equals_the_forward_algorithm_on_that_string(
    text: str, frames: int, filler: float, seed: int
) -> None:
    """The forward-backward shortcut is exact, repeated symbols (which need a blank between) included."""
    p = np.random.default_rng(seed).dirichlet(np.full(len(ALPHABET) + 1, 0.3), size=frames)
    ll, subs, drops = _changes(np.log(_emissions(p, filler)), text)
    subs_s = [text[:k] + c + text[k + 1 :] for k in range(17) for c in ALPHABET]
    drop_s = [text[:k] + text[k + 1 :] for k in range(17)]
    ref = log_likelihoods(p, [text, *subs_s, *drop_s], filler)
    got = np.r_[ll, subs.ravel(), drops]
    assert np.array_equal(np.isneginf(got), np.isneginf(ref))
    finite = np.isfinite(ref)
    assert np.allclose(got[finite], ref[finite], atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(vins)
def test_a_line_that_spells_the_expected_vin_matches(vin: str) -> None:
    v = verify(probs_for(vin), vin, TH, width=256.0)
    assert v.decision == "match"
    assert v.read == vin
    assert v.differs_at == []
    assert all(c.posterior > 0.99 for c in v.chars)


@settings(max_examples=80, deadline=None)
@given(vins, st.integers(0, 16), st.integers(0, 31))
def test_a_one_symbol_impostor_never_matches_and_is_a_mismatch_at_that_position(vin: str, k: int, pick: int) -> None:
    shown = vin[:k] + other_symbol(vin[k], pick) + vin[k + 1 :]
    v = verify(probs_for(shown), vin, TH, width=256.0)
    assert v.decision == "mismatch"
    assert v.differs_at == [k + 1]
    assert v.chars[k].best_other == shown[k]


@settings(max_examples=40, deadline=None)
@given(vins, st.integers(0, 16), st.integers(0, 16), st.integers(0, 31))
def test_a_two_symbol_impostor_names_both_positions(vin: str, k1: int, k2: int, pick: int) -> None:
    """(A shifted alignment explains a change as well when the changes make a run of equal symbols or
    move a neighbour's symbol one place over, e.g. 0AB0 shown as 03A0, so those are left out.)"""
    assume(k1 != k2 and all(a != b for a, b in pairwise(vin)))
    shown = list(vin)
    shown[k1] = other_symbol(vin[k1], pick)
    shown[k2] = other_symbol(vin[k2], pick + 7)
    for k in (k1, k2):
        assume(shown[k] not in vin[max(k - 1, 0) : k + 2])
    assume(all(a != b for a, b in pairwise(shown)))
    v = verify(probs_for("".join(shown)), vin, TH)
    assert v.decision == "mismatch"
    assert v.differs_at == sorted([k1 + 1, k2 + 1])


@settings(max_examples=60, deadline=None)
@given(vins, st.integers(0, 16), st.integers(0, 31), st.floats(0.02, 0.98), st.floats(0.02, 0.98))
def test_more_evidence_for_the_expected_symbol_never_lowers_the_score_or_the_decision(
    vin: str, k: int, pick: int, w1: float, w2: float
) -> None:
    """One position torn between the expected symbol and a look-alike: the more weight the expected
    symbol gets, the higher the score, and the decision only moves mismatch -> review -> match."""
    lo, hi = sorted((w1, w2))
    other = other_symbol(vin[k], pick)
    a = verify(probs_for(vin, {k: {vin[k]: lo, other: 1 - lo}}), vin, TH)
    b = verify(probs_for(vin, {k: {vin[k]: hi, other: 1 - hi}}), vin, TH)
    assert b.score >= a.score - 1e-9
    assert DECISION_ORDER[b.decision] >= DECISION_ORDER[a.decision]


def test_an_even_split_between_two_symbols_is_review_not_a_decision() -> None:
    vin = "LSVAU218XN2183294"
    v = verify(probs_for(vin, {7: {"8": 0.5, "B": 0.5}}), vin, TH)
    assert v.decision == "review"
    assert abs(v.score) < 0.01
    assert v.chars[7].best_other == "B"


def test_a_missing_symbol_is_not_a_match() -> None:
    """The line shows 16 symbols (one cut off or faded): every candidate must lose to the deletion."""
    vin = "LSVAU218XN2183294"
    v = verify(probs_for(vin[:10] + vin[11:]), vin, TH)
    assert v.decision != "match"
    assert v.chars[10].margin < 0 or v.chars[9].margin < 0


def test_text_beside_the_vin_is_absorbed_by_the_filler() -> None:
    vin = "WVWZZZ1JZ3W386752"
    v = verify(probs_for("VN" + vin, start=2), vin, TH, width=300.0)
    assert v.decision == "match"
    assert v.chars[0].x[0] > 30.0  # the first VIN symbol sits after "VIN"


def test_a_blank_line_is_review_not_mismatch() -> None:
    p = np.full((T, len(ALPHABET) + 1), 1e-6)
    p[:, 0] = 1.0
    v = verify(p / p.sum(1, keepdims=True), "LSVAU218XN2183294", TH)
    assert v.decision == "review"
    assert v.read is None


def test_each_symbol_gets_an_x_range_in_order_inside_the_crop() -> None:
    vin = "1M8GDM9AXKP042788"
    v = verify(probs_for(vin), vin, TH, width=512.0)
    xs = [c.x for c in v.chars]
    assert all(0.0 <= x0 < x1 <= 512.0 for x0, x1 in xs)
    assert all(a[1] <= b[0] + 1e-6 for a, b in pairwise(xs))
    k = 7  # symbol k is drawn at frame 4 + 3k of 64 frames
    assert xs[k][0] <= (4 + 3 * k + 0.5) * 512.0 / T <= xs[k][1]


@pytest.mark.parametrize(
    "bad", ["", "LSVAU218XN218329", "LSVAU218XN21832940", "LSVAU218XN218329O", "lsvau218xn2183294"]
)
def test_an_expected_string_that_is_not_a_vin_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a VIN"):
        verify(probs_for("LSVAU218XN2183294"), bad, TH)


def test_thresholds_load_the_shipped_file_and_default_without_it(tmp_path) -> None:
    assert Thresholds.load(tmp_path / "none.json") == Thresholds()
    shipped = Thresholds.load()
    assert shipped.match > 0 and shipped.mismatch > 0
