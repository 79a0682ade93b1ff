"""Random plate-number options for the bridge to offer. Pure.

What a number may look like is `edge.plate_numbers` (shared with the lane);
this module only draws numbers that follow those rules.
"""

from __future__ import annotations

import random

from edge.contract import PlateKind
from edge.plate_numbers import (
    DIGITS,
    LETTERS,
    PlateError,
    PlateRules,
    check_local_rules,
    check_serial,
    kind_of_number,
    new_energy_first_for_fuel,
)


def issued_kind(number: str, said: object = None) -> PlateKind:
    """The kind of an issued number: what the lane said when it names a kind, else the number's format tells
    (a new-energy serial has 6 characters after the authority, an ordinary one 5)."""
    if isinstance(said, str) and said in {k.value for k in PlateKind}:
        return PlateKind(said)
    return kind_of_number(number) or PlateKind.ORDINARY


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


def random_options(
    authority: str,
    kind: PlateKind,
    count: int,
    rules: PlateRules,
    rng: random.Random,
    taken: set[str] | None = None,
    fuel_type: str | None = None,
) -> list[str]:
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
