"""What the fuzz tests share: the size of a run, a count of the examples each target ran, and hostile inputs.

Size: ``PASSLANE_FUZZ=long`` selects the hypothesis profile ``fuzz`` (minutes, `make fuzz`); anything else
the profile ``ci`` (a few seconds per target, `make test`). Each target names its own example budget for
both with :func:`budget`, on top of the profile (no deadline, health checks that only complain about slow
or fixture-using tests switched off).

Inputs: raw junk bytes, JSON with what a parser trips on (deep nesting, huge numbers, NaN and Infinity
literals, lone surrogates, NUL and bidi characters, wrong types), and valid bytes mutated (truncated, bits
flipped, bytes inserted, slices repeated).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = "fuzz" if os.environ.get("PASSLANE_FUZZ", "").lower() in ("long", "fuzz", "1") else "ci"
_COMMON: dict[str, Any] = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
}
settings.register_profile("ci", max_examples=50, **_COMMON)
settings.register_profile("fuzz", max_examples=2000, **_COMMON)


def budget(ci: int, long: int, **extra: Any) -> settings:
    """Hypothesis settings for one target: `ci` examples in `make test`, `long` under `make fuzz`."""
    return settings(parent=settings.get_profile(PROFILE), max_examples=ci if PROFILE == "ci" else long, **extra)


def is_long() -> bool:
    return PROFILE == "fuzz"


# ---------------------------------------------------------------- examples run per target (for `make fuzz`'s summary)
EXAMPLES: Counter[str] = Counter()
_lock = threading.Lock()
CURRENT = {"test": "?"}  # the running test's node id, set by tests/fuzz/conftest.py (and the site fuzz test)


def count(n: int = 1, target: str | None = None) -> None:
    """One more example (or `n`) run by the current test, or by `target`."""
    with _lock:
        EXAMPLES[target or CURRENT["test"]] += n


# ---------------------------------------------------------------- JSON a parser trips on
HUGE_NUMBERS = [
    b"1" + b"0" * 5000,
    b"-" + b"9" * 400,
    b"1e400",
    b"-1E99999",
    b"1e-400",
    b"0.000000000000000000000000000001",
    b"123456789012345678901234567890",
    b"9007199254740993",
    b"-0",
    b"1.0",
    b"1e2",
    b"0x10",
    b"01",
    b".5",
    b"+1",
]
LITERALS = [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"null", b"true", b"false", b"undefined", b"None"]
NASTY_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\u202e",
    "\ufeff",
    "\ud800",
    "\udfff",
    "💥",
    "é",
    "e\u0301",
    "\u0085",
    "\u2028",
    "\x1b[2J",
    "'; DROP TABLE events; --",
    "..",
    "../" * 10,
    "%00",
    "\\",
    '"',
    "苏A12345",
    "x" * 300,
    " ",
    "\t\r\n",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(NASTY_TEXT),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(NASTY_TEXT)), children, max_size=5),
    ),
    max_leaves=25,
)


def dumps(value: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes as a careless sender writes them: NaN and Infinity as literals, lone surrogates as they come."""
    text = json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([50, 200, 1000, 5000, 100_000]))
    shape = draw(st.sampled_from(["list", "object", "mixed", "unclosed"]))
    if shape == "list":
        return b"[" * depth + b"]" * depth
    if shape == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if shape == "mixed":
        return b'{"data":' + b'[{"x":' * depth + b"0" + b"}]" * depth + b"}"
    return b"[" * depth


@st.composite
def mutated(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` after a few byte-level mutations: truncation, flips, insertions, deletions, repeats, splices of JSON tokens."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "repeat", "token"]))
        n = len(data)
        at = draw(st.integers(0, n)) if n else 0
        if op == "truncate":
            del data[at:]
        elif op == "flip" and n:
            i = min(at, n - 1)
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and n:
            del data[at : at + draw(st.integers(1, 8))]
        elif op == "repeat" and n:
            end = min(n, at + draw(st.integers(1, 32)))
            data[at:at] = data[at:end] * draw(st.integers(1, 4))
        elif op == "token":
            data[at:at] = draw(
                st.sampled_from(
                    HUGE_NUMBERS
                    + LITERALS
                    + [
                        b",",
                        b":",
                        b"{",
                        b"}",
                        b"[",
                        b"]",
                        b'"',
                        b"\\",
                        b"\\u0000",
                        b"\\ud800",
                        b"\x00",
                        b"\xff",
                        b"\xc0\xaf",
                        b"\xed\xa0\x80",
                    ]
                )
            )
    return bytes(data)


@st.composite
def hostile_object(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """A valid payload object with some fields replaced by wrong types or nasty values, removed, or joined by unknown keys."""
    obj: dict[str, Any] = dict(valid)
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(obj)
        op = draw(st.sampled_from(["replace", "replace", "drop", "add", "literal"]))
        if op == "replace" and keys:
            obj[draw(st.sampled_from(keys))] = draw(json_values)
        elif op == "drop" and keys:
            obj.pop(draw(st.sampled_from(keys)))
        elif op == "add":
            obj[draw(st.one_of(st.text(max_size=10), st.sampled_from(NASTY_TEXT)))] = draw(json_values)
        elif op == "literal" and keys:
            # a number field written as a literal JSON cannot hold (1e400, NaN, a 5000-digit integer)
            key = draw(st.sampled_from(keys))
            body = dumps({k: v for k, v in obj.items() if k != key}, ascii_only=True)
            token = draw(st.sampled_from(HUGE_NUMBERS + LITERALS))
            head = json.dumps(key).encode() + b":" + token
            return b"{" + head + (b"," + body[1:] if len(body) > 2 else b"}")
    return dumps(obj, ascii_only=draw(st.booleans()))


def bytes_around(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Everything a parser may be handed where `valid` bytes belong: junk, mutations of valid bytes, nasty JSON."""
    return st.one_of(
        st.binary(max_size=512),
        valid.flatmap(mutated),
        deep_nesting(),
        json_values.map(dumps),
        json_values.map(lambda v: dumps(v, ascii_only=False)),
        st.sampled_from(HUGE_NUMBERS + LITERALS + [b"", b" ", b"\x00", b"{}", b"[]", b'""', b"\xef\xbb\xbf{}"]),
        valid,
    )


# ---------------------------------------------------------------- HTTP operations and corpora
def api_operations(routes: Any) -> list[tuple[str, str]]:
    """(method, path) of every route an app describes in its OpenAPI document, paths as the document writes them."""
    import re

    from starlette.routing import Route  # FastAPI's routes (the bridge) are Starlette routes, as the tablet's are

    return sorted(
        {
            (m, re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path))
            for r in routes
            if isinstance(r, Route) and r.include_in_schema
            for m in r.methods
            if m != "HEAD"
        },
        key=lambda o: (o[1], o[0]),
    )


def corpus(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """`n` values drawn by hypothesis (its bias toward edge cases included), for a fuzzer that runs for a time, not per example."""
    from hypothesis import Phase, given

    out: list[Any] = []

    @settings(
        max_examples=n, phases=[Phase.generate], database=None, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "image/jpeg",
    "application/json; charset=latin-1",
    "",
]
path_texts = st.one_of(
    st.text(max_size=30), st.sampled_from(NASTY_TEXT), st.sampled_from([t.decode() for t in HUGE_NUMBERS + LITERALS])
)


def quoted(text: str) -> str:
    """Percent-encoded as a client sends it; a lone surrogate goes out as the invalid UTF-8 it would be (%ED%A0%80)."""
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def raw_requests(
    draw: st.DrawFn, operations: list[tuple[str, str]], real: dict[str, str]
) -> tuple[str, str, bytes, dict[str, str]]:
    """(method, url, body, headers) to one of `operations`: path values real or junk, any query, any bytes in any content type."""
    import re

    method, template = draw(st.sampled_from(operations))
    url = re.sub(
        r"\{(\w+)\}",
        lambda m: quoted(real[m.group(1)] if m.group(1) in real and draw(st.booleans()) else draw(path_texts)) or "x",
        template,
    )
    query = draw(st.lists(st.tuples(path_texts, path_texts), max_size=3))
    if query:
        url += "?" + "&".join(f"{quoted(k)}={quoted(v)}" for k, v in query)
    body = draw(st.one_of(st.just(b""), bytes_around(json_values.map(dumps))))
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    return method, url, body, {"content-type": ctype} if ctype else {}
