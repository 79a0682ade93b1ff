"""Config files from outside: any TOML, and bytes that are not TOML, into the lane's and the bridge's loaders.

Each loader raises only its documented config error (`edge.config.ConfigError`,
`cloud_bridge.config.ConfigError`), whose message names where the problem is (the file, or the field path)
and what it is; never a traceback of tomllib, pydantic or the file system.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from fuzz_helpers import budget, count, mutated
from hypothesis import example, given
from hypothesis import strategies as st

from cloud_bridge.config import ConfigError as BridgeConfigError
from cloud_bridge.config import load_settings
from edge.config import ConfigError as LaneConfigError
from edge.config import load_config

pytestmark = pytest.mark.fuzz

LANE_TOML = """site = "site-1"
unit = "lane-01"
stations = ["A", "B"]
promise_minutes = 30.0

[mqtt]
host = "127.0.0.1"
port = 8883
password = { file = "secrets/lane-01.password" }
tls = { ca_file = "ca.crt" }

[outbox]
resend_after_s = 2

[journal]
path = "var/lane.sqlite"

[io_board]
url = "socket://127.0.0.1:7001"

[plate_issuer]
url = "socket://127.0.0.1:7002"

[camera]
source = "camera"

[inspection]
items = { passenger_car = ["vin", "engine", "tyres"] }
required_photos = ["0111", "0113"]

[plates]
authority = "苏A"

[ui]
port = 8080
language = "en"
session_secret = { env = "PASSLANE_SESSION_SECRET" }

[[inspectors]]
id = "insp-1"
name = "王检验"
pin = { file = "insp-1.pin" }
"""

BRIDGE_TOML = """db = "var/bridge.sqlite3"
workers = 1
authorities = ["苏A", "京B"]

[mqtt]
host = "127.0.0.1"
port = 8883
site_dir = "pki"

[ingest]
batch_max = 500

[http]
listen = "127.0.0.1:8080"
max_body_bytes = 65536
tls = { cert_file = "http.crt", key_file = "http.key" }

[plates]
forbidden_substrings = ["SB"]

[payments]
fees_cents = { plate = 10000, licence = 1000 }

[limits]
requests_per_s = 5.0

[audit]
key_env = "PASSLANE_AUDIT_KEY"
"""


# ---------------------------------------------------------------- TOML, written by hand (no writer in the dependencies)
def toml_key(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_document(doc: dict[str, Any]) -> str:
    """Plain keys first, then each table as a [section] (its own sub-tables inline)."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"\n[{toml_key(k)}]")
            lines += [f"{toml_key(sk)} = {toml_value(sv)}" for sk, sv in v.items()]
    return "\n".join(lines) + "\n"


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
toml_scalars = st.one_of(
    text,
    st.integers(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.times(),
    st.sampled_from(["", "..", "/dev/null", "\x00", "socket://", "postgresql://x", "苏A", "A" * 300]),
)
toml_values = st.recursive(
    toml_scalars, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(text, c, max_size=4)), max_leaves=12
)


@st.composite
def config_document(draw: st.DrawFn, valid: dict[str, Any]) -> str:
    """A config as TOML: the valid one with values replaced, dropped or added at any depth, or any TOML document."""
    if draw(st.integers(0, 4)) == 0:
        return toml_document(draw(st.dictionaries(text, toml_values, max_size=6)))
    doc = json.loads(json.dumps(valid, default=str))  # a deep copy
    for _ in range(draw(st.integers(1, 4))):
        node = doc
        while isinstance(node, dict) and node and draw(st.booleans()):
            child = node[draw(st.sampled_from(sorted(node)))]
            if not isinstance(child, dict):
                break
            node = child
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        keys = sorted(node)
        if op == "replace" and keys:
            node[draw(st.sampled_from(keys))] = draw(toml_values)
        elif op == "drop" and keys:
            node.pop(draw(st.sampled_from(keys)))
        else:
            node[draw(text)] = draw(toml_values)
    return toml_document(doc)


def not_toml(valid_text: str) -> st.SearchStrategy[bytes]:
    # (a dotted key of n parts costs tomllib n² steps: 100,000 parts take 20 s, so keys stay at 2,000)
    nesting = st.sampled_from([100, 1000, 10_000, 100_000]).flatmap(
        lambda n: st.sampled_from(
            [
                b"a = " + b"[" * n + b"]" * n,
                b"a = " + b"{b=" * n + b"1" + b"}" * n,
                b"a = " + b"[" * n,
                b"[" + b"a." * min(n, 2000) + b"a]",
            ]
        )
    )
    return st.one_of(
        st.binary(max_size=300),
        st.just(valid_text.encode()).flatmap(mutated),
        nesting,
        st.sampled_from(
            [
                b"\xff\xfe\x00s\x00i",
                b"\xef\xbb\xbfsite = 1",
                b'site = "\xed\xa0\x80"',
                b"\x00",
                b"= 1",
                b"a = 1\na = 2",
                b"[a]\n[a]",
                b"a = 99999999999999999999999",
                b"a = 1979-13-45",
            ]
        ),
    )


def _write(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- the lane
def _load_lane(path: Path) -> None:
    try:
        load_config(path)
    except LaneConfigError as exc:
        message = str(exc)
        assert message and ": " in message, f"a config error names where and what: {message!r}"


@budget(ci=60, long=3_000)
@given(config_document(__import__("tomllib").loads(LANE_TOML)))
def test_the_lane_loads_any_toml_raising_only_its_config_error(tmp_path_factory, doc):
    count()
    _load_lane(_write(tmp_path_factory.mktemp("lane"), "lane.toml", doc.encode()))


@budget(ci=40, long=3_000)
@given(not_toml(LANE_TOML))
@example(b"\xff\xfe\x00s\x00i")  # not UTF-8: read_text() raised UnicodeDecodeError
@example(b"a = " + b"[" * 100_000)  # tomllib ran out of stack: RecursionError
@example(b"promise_minutes = 1" + b"0" * 5000)  # int() refused 5001 digits inside tomllib: a bare ValueError
def test_the_lane_refuses_bytes_that_are_not_toml_with_its_config_error(tmp_path_factory, data):
    count()
    _load_lane(_write(tmp_path_factory.mktemp("lane"), "lane.toml", data))


# ---------------------------------------------------------------- the bridge
CLI_OVERRIDES = st.fixed_dictionaries(
    {},
    optional={  # what `passlane bridge ...` passes on top of the file (None: flag not given)
        "db": st.one_of(st.none(), text),
        "mqtt.host": st.one_of(st.none(), text),
        "mqtt.port": st.one_of(st.none(), st.integers()),
        "http.listen": st.one_of(st.none(), text),
        "workers": st.one_of(st.none(), st.integers()),
        "http.tls.cert_file": st.one_of(st.none(), text),
        "payments.key_file": st.one_of(st.none(), text),
        "rules.file": st.one_of(st.none(), text),
        "audit.key_file": st.one_of(st.none(), text),
    },
)


def _load_bridge(path: Path, overrides: dict[str, Any]) -> None:
    try:
        load_settings(path, overrides)
    except BridgeConfigError as exc:
        message = str(exc)
        assert message and ": " in message, f"a config error names where and what: {message!r}"


@budget(ci=60, long=3_000)
@given(config_document(__import__("tomllib").loads(BRIDGE_TOML)), CLI_OVERRIDES)
@example('mqtt = "broker"\n', {"mqtt.host": "127.0.0.1"})  # an override into a value that is not a table: TypeError
def test_the_bridge_loads_any_toml_with_any_overrides_raising_only_its_config_error(tmp_path_factory, doc, overrides):
    count()
    _load_bridge(_write(tmp_path_factory.mktemp("bridge"), "bridge.toml", doc.encode()), overrides)


@budget(ci=40, long=3_000)
@given(not_toml(BRIDGE_TOML))
@example(b"db = ")  # not TOML: tomllib.TOMLDecodeError escaped
@example(b"\xff\xfe\x00d\x00b")  # not UTF-8: UnicodeDecodeError escaped
@example(b"workers = 1" + b"0" * 5000)  # int() refused 5001 digits inside tomllib: a bare ValueError
def test_the_bridge_refuses_bytes_that_are_not_toml_with_its_config_error(tmp_path_factory, data):
    count()
    _load_bridge(_write(tmp_path_factory.mktemp("bridge"), "bridge.toml", data), {})


@pytest.mark.parametrize("loader", ["lane", "bridge"])
def test_a_config_file_that_cannot_be_read_is_a_config_error_naming_it(tmp_path, loader):
    missing = tmp_path / "nowhere.toml"
    folder = tmp_path  # a directory where a file should be
    for path in (missing, folder):
        if loader == "lane":
            with pytest.raises(LaneConfigError, match=str(path)):
                load_config(path)
        else:
            with pytest.raises(BridgeConfigError, match=str(path)):
                load_settings(path)
