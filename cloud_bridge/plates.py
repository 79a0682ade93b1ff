"""Plate numbers per GA 36-2018: formats, random options, owner-composed numbers. Pure.

A full number is the issuing authority (province character + letter, e.g.
苏A) followed by the serial: 5 characters on ordinary (blue) plates, 6 on
new-energy (green) plates whose first character follows the fuel type (D
battery electric, F other new energy; the letter set is configurable). The
store guarantees that each number has one owner; this module only says what
a number may look like.
"""

from __future__ import annotations

import random
import re

from cloud_bridge.config import PlateRules
from edge.contract import BATTERY_FUELS, NEW_ENERGY_FUELS, PlateKind, plate_kind_for_fuel

SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789".replace("Q", "")  # I and O never; Q kept out as well
LETTERS = "".join(c for c in SERIAL_CHARS if c.isalpha())
DIGITS = "0123456789"


class PlateError(ValueError):
    """A number that does not follow the format or the local rules; `code` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def new_energy_first_for_fuel(fuel_type: str | None, rules: PlateRules) -> str:
    return rules.new_energy_battery_first if (fuel_type or "").lower() in BATTERY_FUELS else rules.new_energy_other_first


def split(number: str) -> tuple[str, str]:
    """(authority, serial) of a full number such as 苏A12345."""
    if len(number) < 3:
        raise PlateError("bad_format", f"{number!r} is too short")
    return number[:2], number[2:]


def issued_kind(number: str, said: object = None) -> PlateKind:
    """The kind of an issued number: what the lane said when it names a kind, else the number's format tells
    (a new-energy serial has 6 characters after the authority, an ordinary one 5)."""
    if isinstance(said, str) and said in {k.value for k in PlateKind}:
        return PlateKind(said)
    return PlateKind.NEW_ENERGY if len(number[2:]) == 6 else PlateKind.ORDINARY


def check_serial(serial: str, kind: PlateKind, rules: PlateRules) -> None:
    """Raise PlateError unless `serial` follows the GA 36 format for `kind` (not the local rules)."""
    if kind == PlateKind.ORDINARY:
        if not re.fullmatch(rules.ordinary_pattern, serial):
            raise PlateError("bad_format", f"ordinary plate serial {serial!r} must match {rules.ordinary_pattern}")
        if not any(ch.isdigit() for ch in serial):
            raise PlateError("bad_format", f"ordinary plate serial {serial!r} needs at least one digit")
    else:
        if len(serial) != 6:
            raise PlateError("bad_format", f"new-energy plate serial {serial!r} must have 6 characters")
        if serial[0] not in rules.new_energy_first:
            raise PlateError("bad_format", f"new-energy plate serial must start with one of {rules.new_energy_first}")
        if serial[1] not in SERIAL_CHARS or not serial[2:].isdigit():
            raise PlateError("bad_format", f"new-energy plate serial {serial!r}: second a letter or digit (no I/O), last four digits")


def check_local_rules(serial: str, kind: PlateKind, rules: PlateRules) -> None:
    """Local rules on owner-composed numbers (letters at most N, forbidden substrings)."""
    body = serial if kind == PlateKind.ORDINARY else serial[1:]
    letters = sum(ch.isalpha() for ch in body)
    if letters > rules.composed_max_letters:
        raise PlateError("local_rule", f"at most {rules.composed_max_letters} letters in a composed number ({serial!r} has {letters})")
    for bad in rules.forbidden_substrings:
        if bad and bad in serial:
            raise PlateError("local_rule", f"{serial!r} contains the forbidden {bad!r}")


def validate_number(number: str, authority: str, kind: PlateKind, rules: PlateRules, *, composed: bool) -> str:
    """A full number checked against the authority, the format and (if owner-composed) the local rules."""
    number = number.strip().upper() if number.isascii() else number.strip()
    auth, serial = split(number)
    serial = serial.upper()
    if auth != authority:
        raise PlateError("wrong_authority", f"{number!r} is not a {authority} number")
    check_serial(serial, kind, rules)
    if composed:
        check_local_rules(serial, kind, rules)
    else:
        for bad in rules.forbidden_substrings:
            if bad and bad in serial:
                raise PlateError("local_rule", f"{serial!r} contains the forbidden {bad!r}")
    return auth + serial


def random_serial(kind: PlateKind, rules: PlateRules, rng: random.Random, fuel_type: str | None = None) -> str:
    while True:
        if kind == PlateKind.ORDINARY:
            # Like the public selection systems: mostly digits, at most two letters.
            n_letters = rng.choice((0, 1, 1, 2))
            slots = rng.sample(range(5), n_letters)
            serial = "".join(rng.choice(LETTERS) if i in slots else rng.choice(DIGITS) for i in range(5))
        else:
            first = new_energy_first_for_fuel(fuel_type, rules)
            second = rng.choice(LETTERS + DIGITS * 2)
            serial = first + second + "".join(rng.choice(DIGITS) for _ in range(4))
        try:
            check_serial(serial, kind, rules)
            check_local_rules(serial, kind, rules)
        except PlateError:
            continue
        return serial


def random_options(authority: str, kind: PlateKind, count: int, rules: PlateRules, rng: random.Random,
                   taken: set[str] | None = None, fuel_type: str | None = None) -> list[str]:
    """`count` distinct random full numbers not in `taken`."""
    taken = taken or set()
    out: list[str] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < count and attempts < count * 50:
        attempts += 1
        number = authority + random_serial(kind, rules, rng, fuel_type)
        if number in seen or number in taken:
            continue
        seen.add(number)
        out.append(number)
    return out
