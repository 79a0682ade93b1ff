"""Is this the certificate's VIN? The expected string scored under the recogniser's CTC output.

Pure numpy: one line's (T, 34) frame probabilities and the expected VIN in, a
`Verification` out. Reading asks "which of 33^17 strings is this?"; a lane
that knows the certificate's VIN only asks whether the image supports that one
string better than every string close to it, which the recogniser can answer
far more surely.

How: the CTC forward algorithm gives the log-likelihood of the expected string
(all alignments summed), and of its neighbours: each position changed to one of
the symbols the image shows near it, each position dropped, and the decoder's
own reads (vision/decode.py). Text beside the VIN ("VIN:", a logo) is absorbed
by a filler before and after the string that pays `filler` per frame showing a
symbol, the same for every candidate. Per position, the **margin** is how many
nats the expected string beats its best neighbour changed there; the **score**
is the smallest margin (and the margin over the decoder's reads). The Viterbi
alignment of the expected string gives each symbol its frames, hence its x-range
in the crop, so the tablet can show the inspector where the image disagrees.

Decisions (thresholds calibrated by vision/calibrate_verify.py, shipped in
vision/verify_thresholds.json):
- `match`: score >= `match` (every single change loses by that much);
- `mismatch`: the decoder read a 17-symbol VIN that differs, and the image
  prefers a different symbol at some position (or that read) by >= `mismatch`;
- `review`: anything else (an unclear symbol, a line the image does not show).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vision.decode import VIN_LEN, Decoded, decode, greedy
from vision.rules import ALPHABET, is_well_formed

Decision = Literal["match", "mismatch", "review"]
DECISION_ORDER: dict[str, int] = {"mismatch": 0, "review": 1, "match": 2}
THRESHOLDS_FILE = Path(__file__).with_name("verify_thresholds.json")
_FILLER = len(ALPHABET) + 1  # column of the filler's emission, after blank + 33 symbols
_TINY = 1e-12


@dataclass(frozen=True)
class Thresholds:
    """The calibrated decision rule (vision/verify_thresholds.json)."""

    match: float = 4.0  # nats every single change must lose by for a match
    mismatch: float = 3.0  # nats a different symbol (or read) must win by for a mismatch
    filler: float = 1e-3  # odds per frame of a symbol outside the VIN
    version: str = "uncalibrated"

    @classmethod
    def load(cls, path: Path = THRESHOLDS_FILE) -> Thresholds:
        """The shipped thresholds; the defaults only when the file is missing (tests, training trees)."""
        if not path.exists():
            return cls()
        d = json.loads(path.read_text())
        return cls(
            match=float(d["match"]),
            mismatch=float(d["mismatch"]),
            filler=float(d.get("filler", cls.filler)),
            version=str(d.get("version", "")),
        )


@dataclass(frozen=True)
class CharEvidence:
    """What the image says at one position of the expected VIN."""

    position: int  # 1-based
    expected: str
    posterior: float  # P(expected symbol) against the symbols tried at this position
    best_other: str  # the likeliest other symbol here ("" when none was tried)
    best_other_posterior: float
    margin: float  # nats the expected string beats its best change at this position (substitution or drop)
    substitution_margin: float  # ... its best substitution alone (< 0: the image shows another symbol here)
    frames: tuple[int, int]  # first and last CTC frame of the symbol (Viterbi alignment)
    x: tuple[float, float]  # the symbol's cell in the crop, pixels (frames scaled to the crop width)


@dataclass(frozen=True)
class Verification:
    """The answer for one (line, expected VIN) pair."""

    expected: str
    decision: Decision
    score: float
    read: str | None  # the decoder's unconstrained 17-symbol read of the same line
    chars: list[CharEvidence] = field(default_factory=list)
    read_margin: float = float("inf")  # nats the expected string beats the decoder's reads
    best_change: float = float("inf")  # the most negative substitution (or read) margin: what mismatch looks at
    read_ok: bool = False  # the read is the decoder's own 17 symbols (not forced to that length)

    @property
    def differs_at(self) -> list[int]:
        """1-based positions where the image shows another symbol; else where the expected symbol seems
        missing (a deletion in a run of equal symbols cannot say which one, so substitutions come first)."""
        subs = [c.position for c in self.chars if c.substitution_margin < 0]
        return subs or [c.position for c in self.chars if c.margin < 0]


def _emissions(probs: np.ndarray, filler: float) -> np.ndarray:
    """(T, 35) emission probabilities: blank, the 33 symbols, and the filler (blank, or any symbol at `filler` odds)."""
    p = np.clip(np.asarray(probs, np.float64), _TINY, 1.0)
    fill = p[:, 0] + filler * (1.0 - p[:, 0])
    return np.concatenate([p, fill[:, None]], axis=1)


def _lattice(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per string (B, L class ids 1..33): the state classes (B, 2L+3) and where a state may be entered
    from two back. States: filler, blank, l1, blank, ..., lL, blank, filler."""
    B, L = labels.shape
    S = 2 * L + 3
    cls = np.zeros((B, S), np.int64)
    cls[:, 0] = cls[:, -1] = _FILLER
    cls[:, 2 : S - 1 : 2] = labels
    skip = np.zeros((B, S), bool)
    skip[:, 2] = True  # the first symbol straight after the leading filler
    skip[:, 4 : S - 1 : 2] = labels[:, 1:] != labels[:, :-1]  # a repeated symbol needs a blank between
    skip[:, -1] = True  # the trailing filler straight after the last symbol
    return cls, skip


def _forward(em: np.ndarray, cls: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """CTC forward algorithm for a batch of equal-length strings: (B,) log-likelihoods.

    In probabilities, rescaled every few frames (emissions are clipped at 1e-12, so
    eight frames cannot underflow a float64)."""
    B = cls.shape[0]
    a = em[0][cls]
    a[:, 3:] = 0.0
    log_scale = np.zeros(B)
    n = np.empty_like(a)
    sk = skip[:, 2:]
    for t in range(1, em.shape[0]):
        if t % 8 == 0:
            c = a.sum(1)
            a /= c[:, None]
            log_scale += np.log(c)
        np.copyto(n, a)
        n[:, 1:] += a[:, :-1]
        n[:, 2:] += a[:, :-2] * sk
        np.multiply(n, em[t][cls], out=a)
    end = a[:, -3:].sum(1)
    with np.errstate(divide="ignore"):
        return np.log(end) + log_scale


def log_likelihoods(probs: np.ndarray, strings: list[str], filler: float = Thresholds.filler) -> np.ndarray:
    """log p(string | line) for each string (VIN symbols only), with the filler around it."""
    em = _emissions(probs, filler)
    out = np.full(len(strings), -np.inf)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(strings):
        by_len.setdefault(len(s), []).append(i)
    for n, idx in by_len.items():
        if n == 0:
            continue
        out[idx] = _forward(em, *_lattice(_codes([strings[i] for i in idx])))
    return out


def _lse(x: np.ndarray, axis: int) -> np.ndarray:
    """log(sum(exp(x))) along an axis, -inf where every term is -inf."""
    m = x.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - m).sum(axis=axis)) + np.squeeze(m, axis=axis)


def _codes(strings: list[str]) -> np.ndarray:
    """(B, L) class ids (1..33) of equal-length VIN strings."""
    raw = np.frombuffer("".join(strings).encode("ascii"), np.uint8).reshape(len(strings), -1)
    return _CODE[raw]


_CODE = np.zeros(256, np.int64)
_CODE[np.frombuffer(ALPHABET.encode("ascii"), np.uint8)] = np.arange(1, len(ALPHABET) + 1)


def _alpha_beta(le: np.ndarray, cls: np.ndarray, skip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log forward and backward variables (V, T, S) of one string's lattice under V views' (V, T, 35)
    log emissions; both include the frame's emission."""
    E = le[:, :, cls]
    V, T, S = E.shape
    a = np.full((V, T, S), -np.inf)
    b = np.full((V, T, S), -np.inf)
    a[:, 0, :3] = E[:, 0, :3]
    b[:, -1, -3:] = E[:, -1, -3:]
    prev = np.full((3, V, S), -np.inf)
    nxt = np.full((3, V, S), -np.inf)
    sk = skip[2:]
    for t in range(1, T):
        prev[0] = a[:, t - 1]
        prev[1, :, 1:] = a[:, t - 1, :-1]
        prev[2, :, 2:] = np.where(sk, a[:, t - 1, :-2], -np.inf)
        a[:, t] = _lse(prev, 0) + E[:, t]
        u = T - 1 - t
        nxt[0] = b[:, u + 1]
        nxt[1, :, :-1] = b[:, u + 1, 1:]
        nxt[2, :, :-2] = np.where(sk, b[:, u + 1, 2:], -np.inf)
        b[:, u] = _lse(nxt, 0) + E[:, u]
    return a, b


def _changes(le: np.ndarray, expected: str) -> tuple[float, np.ndarray, np.ndarray]:
    """Exact log-likelihoods of the expected string, of every one-symbol substitution (L, 33; the
    expected symbol's own column is the string itself) and of every one-symbol deletion (L,),
    under one view's (T, 35) log emissions."""
    ll, subs, drops = _changes_views(le[None], expected)
    return float(ll[0]), subs[0], drops[0]


def _changes_views(le: np.ndarray, expected: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_changes` for V views of one line at once: (V,), (V, L, 33), (V, L).

    A substitution at label state j only changes the frames that state occupies: the paths
    enter it from the shared prefix (alpha) and leave it into the shared suffix (beta), so
    for every symbol c at once, sum over t1 <= t2 of In(t1) * prod p_t(c) * Out(t2), which
    factorises into a cumulative sum over t1. A deletion joins the prefix before the symbol
    to the suffix after it."""
    labels = _codes([expected])
    cls, skip = _lattice(labels)
    cls, skip, lab = cls[0], skip[0], labels[0]
    a, b = _alpha_beta(le, cls, skip)
    V, L = le.shape[0], len(expected)
    ll = _lse(a[:, -1, -3:], 1)
    j = 2 * np.arange(1, L + 1)  # label states
    C = np.arange(1, len(ALPHABET) + 1)
    before = np.r_[-1, lab[:-1]]  # symbol two states back (-1: the leading filler)
    after = np.r_[lab[1:], -1]  # symbol two states on (-1: the trailing filler)
    neg = np.full((V, L, 1), -np.inf)
    # (V, L, T): entering the symbol at t from the blank before, or from two states back
    a_blank = np.concatenate([neg, a[:, :-1, j - 1].transpose(0, 2, 1)], 2)
    a_skip = np.concatenate([neg, a[:, :-1, j - 2].transpose(0, 2, 1)], 2)
    a_blank[:, 0, 0] = 0.0  # the first symbol may start the line
    # (V, L, T): leaving after t into the blank after, or two states on
    b_blank = np.concatenate([b[:, 1:, j + 1].transpose(0, 2, 1), neg], 2)
    b_skip = np.concatenate([b[:, 1:, j + 2].transpose(0, 2, 1), neg], 2)
    b_blank[:, -1, -1] = 0.0  # the last symbol may end the line
    ok_in = (before[:, None] != C[None, :])[:, :, None]  # (L, 33, 1)
    ok_out = (after[:, None] != C[None, :])[:, :, None]
    In = np.where(ok_in, np.logaddexp(a_blank, a_skip)[:, :, None, :], a_blank[:, :, None, :])  # (V, L, 33, T)
    Out = np.where(ok_out, np.logaddexp(b_blank, b_skip)[:, :, None, :], b_blank[:, :, None, :])
    # (V, 33, T+1): sum of log p(c) before frame t
    cum = np.concatenate([np.zeros((V, 1, len(C))), np.cumsum(le[:, :, C], 1)], 1).transpose(0, 2, 1)
    inner = np.logaddexp.accumulate(In - cum[:, None, :, :-1], axis=3)
    subs = _lse(cum[:, None, :, 1:] + Out + inner, 3)
    # deletions: prefix up to the state before the symbol's (label or blank), then the suffix from the state after
    jn = j + 2  # the next label state, or the trailing filler
    skip_ok = (before != after) | (before < 0) | (after < 0)
    cross = np.logaddexp(a[:, :-1, j - 1], np.where(skip_ok, a[:, :-1, j - 2], -np.inf)) + b[:, 1:, jn]
    drops = _lse(cross, 1)
    drops[:, -1] = np.logaddexp.reduce([drops[:, -1], a[:, -1, j[-1] - 1], a[:, -1, j[-1] - 2]], axis=0)
    drops[:, 0] = np.logaddexp(drops[:, 0], b[:, 0, jn[0]])
    return ll, subs, drops


def align(probs: np.ndarray, expected: str, filler: float = Thresholds.filler) -> list[tuple[int, int]]:
    """Viterbi alignment of the expected string: the first and last frame of each symbol."""
    em = np.log(_emissions(probs, filler))
    cls, skip = _lattice(_codes([expected]))
    E, sk = em[:, cls[0]], skip[0]
    T, S = E.shape
    v = np.full(S, -np.inf)
    v[:3] = E[0, :3]
    back = np.zeros((T, S), np.int64)
    cand = np.full((3, S), -np.inf)
    cols = np.arange(S)
    for t in range(1, T):
        cand[0] = v
        cand[1, 1:] = v[:-1]
        cand[2, 2:] = np.where(sk[2:], v[:-2], -np.inf)
        k = cand.argmax(0)
        back[t] = cols - k
        v = cand[k, cols] + E[t]
    s = S - 3 + int(v[-3:].argmax())
    path = [s]
    for t in range(T - 1, 0, -1):
        s = int(back[t, s])
        path.append(s)
    path.reverse()
    spans: list[list[int]] = [[] for _ in expected]
    for t, s in enumerate(path):
        if s % 2 == 0 and 2 <= s <= S - 3:
            spans[s // 2 - 1].append(t)
    return [(min(f), max(f)) if f else (-1, -1) for f in spans]


def _cells(frames: list[tuple[int, int]], T: int, width: float) -> list[tuple[float, float]]:
    """Each symbol's cell in crop pixels: from halfway to the previous symbol to halfway to the next."""
    centres = np.array([(a + b + 1) / 2 if a >= 0 else np.nan for a, b in frames])
    ok = ~np.isnan(centres)
    if not ok.any():
        return [(0.0, float(width))] * len(frames)
    idx = np.arange(len(frames))
    centres = np.interp(idx, idx[ok], centres[ok])  # a symbol the alignment skipped sits between its neighbours
    gap = float(np.median(np.diff(centres))) if len(centres) > 1 else 2.0
    mids = np.r_[centres[0] - gap / 2, (centres[1:] + centres[:-1]) / 2, centres[-1] + gap / 2]
    f = width / T
    return [(round(max(0.0, mids[k] * f), 1), round(min(width, mids[k + 1] * f), 1)) for k in range(len(frames))]


def view_reads(views: np.ndarray, decs: list | None = None) -> list[str]:
    """The decoder's own 17-symbol reads of every view (its read, next best and greedy path), once each."""
    decs = decs if decs is not None else [decode(p) for p in views]
    reads = [r for d, p in zip(decs, views) for r in ([d.vin, *d.next_best] if d else []) + [greedy(p)]]
    return [r for r in dict.fromkeys(reads) if len(r) == VIN_LEN]


def verify(
    probs: np.ndarray,
    expected: str,
    thresholds: Thresholds | None = None,
    width: float | None = None,
    decoded: list[Decoded | None] | None = None,
) -> Verification:
    """Score `expected` under one line's CTC probabilities and decide.

    `probs` is one cut's (T, 34), or (V, T, 34) for V views of the same line (the cut as
    detected and 12% tighter, vision/verifier.py): then every candidate string's
    log-likelihood is its mean over the views, and the margins are taken between those
    means, so a symbol one view barely separates gets the evidence of the others. The
    pooling is the same for every string: the expected VIN chooses no view. The first view
    is the one drawn (`width`: its width in pixels; the recogniser stretches the crop over
    its T frames) and the one whose read is reported. `decoded`: each view's `decode`, when
    the caller has them already.
    """
    th = thresholds or Thresholds.load()
    if not is_well_formed(expected):
        raise ValueError(f"not a VIN (17 symbols, no I, O or Q): {expected!r}")
    views = np.asarray(probs)
    views = views[None] if views.ndim == 2 else views
    le = np.log(np.stack([_emissions(p, th.filler) for p in views]))
    lls, subs_v, drops_v = _changes_views(le, expected)
    ll_e, subs, drops = float(lls.mean()), subs_v.mean(0), drops_v.mean(0)
    decs = decoded if decoded is not None else [decode(p) for p in views]
    reads = [r for r in view_reads(views, decs) if r != expected]
    read_ll = np.mean([log_likelihoods(p, reads, th.filler) for p in views], 0) if reads else None
    read_margin = float(ll_e - read_ll.max()) if read_ll is not None else float("inf")
    frames = align(views[0], expected, th.filler)
    cells = _cells(frames, views.shape[1], float(width if width is not None else views.shape[1]))
    own = _codes([expected])[0] - 1
    others = subs.copy()
    others[np.arange(VIN_LEN), own] = -np.inf
    best = others.argmax(1)
    sub_m = ll_e - others[np.arange(VIN_LEN), best]
    margins = np.minimum(sub_m, ll_e - drops)
    post = np.exp(subs - _lse(subs, 1)[:, None]) if np.isfinite(ll_e) else None
    chars = [
        CharEvidence(
            position=k + 1,
            expected=expected[k],
            posterior=round(float(post[k, own[k]]), 4) if post is not None else 0.0,
            best_other=ALPHABET[best[k]],
            best_other_posterior=round(float(post[k, best[k]]), 4) if post is not None else 0.0,
            margin=round(_finite(float(margins[k])), 3),
            substitution_margin=round(_finite(float(sub_m[k])), 3),
            frames=frames[k],
            x=cells[k],
        )
        for k in range(VIN_LEN)
    ]
    score = _finite(min(float(margins.min()), read_margin))
    best_change = _finite(min(float(sub_m.min()), read_margin))
    dec = decs[0]
    read = dec.vin if dec else None
    read_ok = bool(dec and dec.length_ok)
    decision = decide(score, best_change, read, expected, read_ok, th)
    return Verification(
        expected, decision, round(score, 3), read, chars, round(_finite(read_margin), 3), best_change, read_ok
    )


def _finite(x: float, cap: float = 1e6) -> float:
    """Margins are finite numbers in JSON: +-inf (nothing to compare with, or an impossible string) capped."""
    return float(np.clip(x, -cap, cap)) if not np.isnan(x) else -cap


def decide(
    score: float, best_change: float, read: str | None, expected: str, read_ok: bool, th: Thresholds
) -> Decision:
    """The rule: match on a clear score; mismatch only when a clear 17-symbol read differs and the
    image prefers a different symbol (or that read) clearly; review otherwise."""
    if score >= th.match:
        return "match"
    if read is not None and read_ok and read != expected and best_change <= -th.mismatch:
        return "mismatch"
    return "review"
