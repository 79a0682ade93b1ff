"""CTC decoding constrained to 17 VIN symbols, with a check-digit-aware search.

Pure numpy: per-frame probabilities in, a `Decoded` read out. The search
prefers a VIN whose check digit validates only where the image itself is
ambiguous (the alternative symbol carries real probability); a clear read
whose check digit fails is kept, and flagged, because many makers outside
China and North America do not use the check digit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from vision.priors import apply_priors, vin_likeness
from vision.rules import ALPHABET, check_digit_valid

VIN_LEN = 17
#: an alternative symbol is "close" when it has at least this share of the position's mass...
ALT_MIN = 0.02
#: ...and the check-digit search may spend at most this much log-probability in total
MAX_COST = float(np.log(50.0))
#: a line may show this many symbols besides the VIN (a label, a neighbouring word) and still be read
MAX_EXTRA = 14
#: ...and miss this many (faint or cut off): fewer visible symbols are no VIN read at all, and
#: skipping the fixed-length search for them keeps the reader's many-cut retries cheap
MAX_MISSING = 4


@dataclass
class Decoded:
    """One decoded line: the VIN, per-position distributions and bookkeeping."""

    vin: str
    char_conf: list[float]
    position_probs: np.ndarray  # (17, 33): per position, normalised over the alphabet
    check_valid: bool
    corrected: bool  # the check-digit search changed a symbol
    length_ok: bool  # the 17 symbols are the unconstrained best path, or a run of it (not forced)
    greedy: str
    next_best: list[str] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        return float(min(self.char_conf)) if self.char_conf else 0.0


def greedy(probs: np.ndarray) -> str:
    """Plain best-path CTC decoding (blank = class 0)."""
    ids = probs.argmax(1)
    out, prev = [], 0
    for i in ids:
        if i != prev and i != 0:
            out.append(ALPHABET[i - 1])
        prev = i
    return "".join(out)


def decode(probs: np.ndarray) -> Decoded | None:
    """Decode one line's (T, 34) probabilities into a 17-symbol VIN read, or None.

    The per-position distributions are re-weighted by what VINs look like
    (vision.priors: numeric serial, known WMIs) before the symbols and the
    check-digit search are chosen.
    """
    res = greedy_path(probs)
    if res is None or len(res[0]) < VIN_LEN - MAX_MISSING:
        return None
    unforced = len(res[0]) == VIN_LEN
    if VIN_LEN < len(res[0]) <= VIN_LEN + MAX_EXTRA:
        res, unforced = most_vin_like_17(probs, *res)
    if len(res[0]) != VIN_LEN:
        # the unconstrained best path is not 17 symbols long: search the best one that is
        res = viterbi_fixed_length(probs)
    if res is None:
        return None
    syms, frames = res
    P = _position_probs(probs, frames)
    ctc_vin = "".join(ALPHABET[s] for s in syms)
    P = apply_priors(P)
    syms = [int(j) for j in P.argmax(1)]
    vin = "".join(ALPHABET[s] for s in syms)
    g = greedy(probs)
    conf = [float(P[k, s]) for k, s in enumerate(syms)]
    best, corrected = vin, False
    valid = check_digit_valid(vin)
    cands = _candidates(P, syms)
    if not valid:
        for cost, alt in cands:
            if cost > MAX_COST:
                break
            if check_digit_valid(alt):
                best, corrected, valid = alt, True, True
                break
    if corrected:
        conf = [float(P[k, ALPHABET.index(ch)]) for k, ch in enumerate(best)]
    nb = ([vin] if corrected else []) + ([ctc_vin] if ctc_vin not in (best, vin) else [])
    nb += [a for _, a in cands if a not in (best, vin, ctc_vin)]
    nb = nb[:3]
    return Decoded(best, conf, P.astype(np.float32), valid, corrected, unforced, g, nb)


def _position_probs(probs: np.ndarray, frames: list[list[int]]) -> np.ndarray:
    """(n, 33): for each symbol, its frames' best probability per VIN symbol, rows normalised."""
    P = np.stack([probs[fr, 1:].max(0) for fr in frames]).astype(np.float64)
    return P / np.maximum(P.sum(1, keepdims=True), 1e-9)


def most_vin_like_17(
    probs: np.ndarray, syms: list[int], frames: list[list[int]]
) -> tuple[tuple[list[int], list[list[int]]], bool]:
    """For a best path longer than 17: the 17 symbols that look most like a VIN, and whether
    they are a run of the path (True) rather than the fixed-length search's choice.

    Candidates are every run of 17 consecutive symbols (text beside the VIN) and the best
    exactly-17 CTC path (a symbol read twice inside the VIN); each is scored by its
    symbols' evidence plus its fit to the VIN priors (vision.priors.vin_likeness).
    """
    P = _position_probs(probs, frames)
    cands = [
        ((syms[i : i + VIN_LEN], frames[i : i + VIN_LEN]), P[i : i + VIN_LEN], True)
        for i in range(len(syms) - VIN_LEN + 1)
    ]
    fixed = viterbi_fixed_length(probs)
    if fixed is not None:
        cands.append((fixed, _position_probs(probs, fixed[1]), False))

    def score(Q: np.ndarray) -> float:
        return vin_likeness(Q) + float(np.log(Q.max(1)).sum())

    res, _, run = max(cands, key=lambda c: score(c[1]))
    return res, run


def greedy_path(probs: np.ndarray) -> tuple[list[int], list[list[int]]] | None:
    """Best-path symbols (0-based in ALPHABET) and the frames each occupies.

    When this path has 17 symbols it is also the best 17-symbol path (it is
    the best path of all), so the dynamic programme is only needed otherwise.
    """
    ids = probs.argmax(1)
    syms: list[int] = []
    frames: list[list[int]] = []
    prev = 0
    for t, i in enumerate(ids):
        if i != 0:
            if i != prev:
                syms.append(int(i) - 1)
                frames.append([t])
            else:
                frames[-1].append(t)
        prev = i
    return syms, frames


def _candidates(P: np.ndarray, syms: list[int], max_changes: int = 2, max_opts: int = 12) -> list[tuple[float, str]]:
    """VINs differing from the best read in <= 2 ambiguous positions, cheapest first."""
    base = [ALPHABET[s] for s in syms]
    opts = []  # (position, symbol, cost)
    lp = np.log(P + 1e-9)
    best = P[np.arange(len(syms)), syms]
    ks, js = np.nonzero((P >= ALT_MIN * best[:, None]) & (P > 1e-4))
    for k, j in zip(ks.tolist(), js.tolist()):
        if j != syms[k]:
            opts.append((k, ALPHABET[j], float(lp[k, syms[k]] - lp[k, j])))
    opts.sort(key=lambda o: o[2])
    opts = opts[:max_opts]
    out = []
    for r in range(1, max_changes + 1):
        for combo in itertools.combinations(opts, r):
            if len({k for k, _, _ in combo}) < r:
                continue
            v = list(base)
            for k, ch, _ in combo:
                v[k] = ch
            out.append((sum(c for _, _, c in combo), "".join(v)))
    out.sort(key=lambda x: x[0])
    return out


def viterbi_fixed_length(probs: np.ndarray, length: int = VIN_LEN) -> tuple[list[int], list[list[int]]] | None:
    """Exactly-`length` CTC best path by dynamic programming over the extended label lattice.

    State (n, c, blank?) after each frame; kept small (T x 18 x 34) and explicit
    so that it is easy to check against brute force in tests.
    """
    T, C1 = probs.shape
    if T < length:
        return None
    lp = np.log(probs + 1e-9)
    NEG = -1e18
    # S[n, 0] = ended in blank with n symbols; S[n, c] (c>=1) = on symbol c as n-th symbol
    S = np.full((length + 1, C1), NEG)
    S[0, 0] = lp[0, 0]
    S[1, 1:] = lp[0, 1:]
    bp = np.zeros((T, length + 1, C1, 2), np.int16)  # previous (n, c)
    bp[0] = -1
    idx_c = np.arange(C1)
    for t in range(1, T):
        N = np.full_like(S, NEG)
        # blank: from (n, anything)
        j = S.argmax(1)
        N[:, 0] = S[np.arange(length + 1), j] + lp[t, 0]
        bp[t, :, 0, 0] = np.arange(length + 1)
        bp[t, :, 0, 1] = j
        # symbol c as n-th: stay (n, c), or from (n-1, 0) or (n-1, c' != c)
        prev = S[:-1]  # (length, C1) states with n-1 symbols
        order = np.argsort(-prev[:, 1:], axis=1) + 1
        first, second = order[:, 0], order[:, 1]
        best_other = np.where(idx_c[None, 1:] == first[:, None], second[:, None], first[:, None])  # (length, C)
        other_score = np.take_along_axis(prev, best_other, 1)
        blank_score = prev[:, 0:1]
        from_new_is_blank = blank_score >= other_score
        new_score = np.where(from_new_is_blank, blank_score, other_score)
        new_c = np.where(from_new_is_blank, 0, best_other)
        stay = S[1:, 1:]
        take_stay = stay >= new_score
        N[1:, 1:] = np.where(take_stay, stay, new_score) + lp[t, 1:][None, :]
        nn = np.arange(1, length + 1)[:, None]
        bp[t, 1:, 1:, 0] = np.where(take_stay, nn, nn - 1)
        bp[t, 1:, 1:, 1] = np.where(take_stay, idx_c[None, 1:], new_c)
        S = N
    n, c = length, int(S[length].argmax())
    if S[n, c] <= NEG / 2:
        return None
    path = []
    for t in range(T - 1, -1, -1):
        path.append((n, c))
        if t > 0:
            n, c = int(bp[t, n, c, 0]), int(bp[t, n, c, 1])
    path.reverse()
    syms: list[int] = []
    frames: list[list[int]] = []
    last = (0, 0)
    for t, (n, c) in enumerate(path):
        if c == 0:
            last = (n, 0)
            continue
        if (n, c) != last:
            syms.append(c - 1)
            frames.append([t])
        else:
            frames[-1].append(t)
        last = (n, c)
    if len(syms) != length:
        return None
    return syms, frames
