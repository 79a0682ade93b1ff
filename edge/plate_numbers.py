"""Plate numbers per GA 36-2018: what a number may look like and the local rules on composed ones. Pure.

A full number is the issuing authority (province character + letter, e.g.
苏A) followed by the serial: 5 characters on ordinary (blue) plates, 6 on
new-energy (green) plates whose first character follows the fuel type (D
battery electric, F other new energy; the letter set is configurable). The
lane checks an owner-composed number with these rules before asking the
bridge, and the bridge checks every number again; the bridge's store
guarantees that each number has one owner.
"""

from __future__ import annotations

import re

from pydantic import Field

from edge.contract import BATTERY_FUELS, PlateKind
from edge.settings import Section


class PlateRules(Section):
    """The plate-number rules of one issuing authority: the one model lane and bridge configs share."""

    ordinary_pattern: str = Field(
        "^[A-HJ-NP-Z0-9]{5}$",
        description="GA 36 ordinary (blue) plate: 5 characters after the authority; I and O never used",
    )
    new_energy_first: str = Field(
        "DF", description="allowed first characters of the 6 on new-energy plates (D battery electric, F other)"
    )
    new_energy_battery_first: str = Field("D", description="first character offered to battery-electric vehicles")
    new_energy_other_first: str = Field(
        "F", description="first character offered to other new-energy vehicles (plug-in hybrid, fuel cell)"
    )
    composed_max_letters: int = Field(
        2, ge=0, le=5, description="an owner-composed number may hold at most this many letters (local rule)"
    )
    forbidden_substrings: list[str] = Field(
        default_factory=lambda: ["SB", "TMD"],
        description="substrings never allowed in a composed or offered number (local rule)",
    )


SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789".replace("Q", "")  # I and O never; Q kept out as well
LETTERS = "".join(c for c in SERIAL_CHARS if c.isalpha())
DIGITS = "0123456789"


class PlateError(ValueError):
    """A number that does not follow the format or the local rules; `code` is machine-readable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def new_energy_first_for_fuel(fuel_type: str | None, rules: PlateRules) -> str:
    return (
        rules.new_energy_battery_first if (fuel_type or "").lower() in BATTERY_FUELS else rules.new_energy_other_first
    )


def split(number: str) -> tuple[str, str]:
    """(authority, serial) of a full number such as 苏A12345."""
    if len(number) < 3:
        raise PlateError("bad_format", f"{number!r} is too short")
    return number[:2], number[2:]


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
            raise PlateError(
                "bad_format", f"new-energy plate serial {serial!r}: second a letter or digit (no I/O), last four digits"
            )


def check_local_rules(serial: str, kind: PlateKind, rules: PlateRules) -> None:
    """Local rules on owner-composed numbers (letters at most N, forbidden substrings)."""
    body = serial if kind == PlateKind.ORDINARY else serial[1:]
    letters = sum(ch.isalpha() for ch in body)
    if letters > rules.composed_max_letters:
        raise PlateError(
            "local_rule",
            f"at most {rules.composed_max_letters} letters in a composed number ({serial!r} has {letters})",
        )
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


def kind_of_number(number: str) -> PlateKind | None:
    """The plate kind a full number's length says (6-character serial: new energy), or None when it is no number."""
    serial = number[2:]
    return {5: PlateKind.ORDINARY, 6: PlateKind.NEW_ENERGY}.get(len(serial)) if len(number) >= 3 else None
