"""The udev rules (deploy/udev/99-passlane.rules): valid udev syntax, one stable name per board by USB serial.

Debian 12's udevadm (systemd 252) has no `verify` (it came in 254): where it has, the file is checked
by it too; everywhere it is read by the parser below, which follows udev(7)'s grammar: a rule is one
line of comma-separated `KEY[{attribute}] OP "value"`, `==`/`!=` match and `=`/`+=`/`-=`/`:=` assign.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "deploy" / "udev" / "99-passlane.rules"
PAIR = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^}]+)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*"(?P<value>[^"]*)"\s*(?:,|$)'
)
MATCH_KEYS = {"ACTION", "SUBSYSTEM", "SUBSYSTEMS", "KERNEL", "ATTRS", "ATTR", "ENV"}
ASSIGN_KEYS = {"SYMLINK", "GROUP", "MODE", "OWNER", "ENV", "GOTO", "LABEL"}
NAMES = {"passlane/io-board", "passlane/plate-issuer", "passlane/vehicle-board", "passlane/gnss"}


def parse_rules(text: str) -> list[list[tuple[str, str | None, str, str]]]:
    """Each rule line as its (key, attribute, operator, value) pairs; ValueError naming the line if any part is not udev syntax."""
    rules = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pairs, pos = [], 0
        while pos < len(line):
            m = PAIR.match(line, pos)
            if m is None:
                raise ValueError(f"line {number}: not udev syntax at {line[pos:]!r}")
            key, attr, op, value = m["key"], m["attr"], m["op"], m["value"]
            assigning = op not in ("==", "!=")
            if (assigning and key not in ASSIGN_KEYS) or (not assigning and key not in MATCH_KEYS):
                raise ValueError(f"line {number}: {key} cannot be used with {op}")
            pairs.append((key, attr, op, value))
            pos = m.end()
        rules.append(pairs)
    return rules


def test_the_parser_refuses_what_udev_refuses() -> None:
    with pytest.raises(ValueError, match="line 1"):
        parse_rules('SUBSYSTEM=="tty", SYMLINK+=passlane/io-board')  # value not quoted
    with pytest.raises(ValueError, match="cannot be used"):
        parse_rules('SYMLINK=="passlane/io-board"')  # SYMLINK is not matched on here
    with pytest.raises(ValueError, match="line 2"):
        parse_rules('# a comment\nSUBSYSTEM=="tty" ATTRS{serial}=="X"')  # missing comma


def test_each_board_gets_its_stable_name_by_vendor_and_serial() -> None:
    rules = parse_rules(RULES.read_text())
    named = {}
    for pairs in rules:
        links = [v for k, _, op, v in pairs if k == "SYMLINK"]
        if not links:
            continue
        attrs = {(k, a): v for k, a, op, v in pairs if op == "=="}
        assert attrs[("SUBSYSTEM", None)] == "tty"
        assert re.fullmatch(r"[0-9a-f]{4}", attrs[("ATTRS", "idVendor")])
        serial = attrs[("ATTRS", "serial")]
        assert not re.fullmatch(r"[0-9A-Fa-f]+", serial), "a placeholder must never match a real serial"
        assigned = {k: v for k, _, op, v in pairs if op == "="}
        assert assigned.items() >= {"GROUP": "dialout", "MODE": "0660"}.items()
        named[links[0]] = (attrs[("ATTRS", "idVendor")], serial)
    assert set(named) == NAMES
    assert {named[n][0] for n in NAMES - {"passlane/gnss"}} == {"2e8a"}, "the boards are RP2040s"
    assert len({s for _, s in named.values()}) == len(named), "each board its own serial"
    labels = {v for pairs in rules for k, _, _, v in pairs if k == "LABEL"}
    gotos = {v for pairs in rules for k, _, _, v in pairs if k == "GOTO"}
    assert gotos <= labels


@pytest.mark.skipif(shutil.which("udevadm") is None, reason="udevadm is not installed (Debian package udev)")
def test_udevadm_verify_accepts_the_rules() -> None:
    if subprocess.run(["udevadm", "verify", "--help"], capture_output=True).returncode != 0:
        pytest.skip("this udevadm has no `verify` (systemd < 254); the parser test above reads the file")
    result = subprocess.run(["udevadm", "verify", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
