"""The site attendant, a person of the simulated world: keeps the plate issuers' magazines stocked.

A magazine holds 50 blanks of a type and a car takes two, so a lane runs a magazine empty after about
25 cars of one plate colour: a long demo or a soak would otherwise end with every lane on hold for
MAGAZINE_EMPTY. The attendant checks as each car pulls up and tops a low magazine up to full.
"""

from __future__ import annotations

import threading
from typing import Any

REFILL_BELOW = 10  # blanks of a plate type left when the attendant tops its magazine up
MAGAZINE = 50  # blanks a full magazine holds (the simulated issuer's own default)
_one_attendant = threading.Lock()  # one person: two lanes' checks never refill the same magazine twice


def top_up_magazines(mechanism: Any) -> list[str]:
    """Refill every magazine of ``mechanism`` (a plate issuer's ``SimControl``) holding fewer than
    ``REFILL_BELOW`` blanks back to ``MAGAZINE``; returns the plate types refilled."""
    refilled = []
    with _one_attendant:
        for plate_type, left in mechanism.state()["magazines"].items():
            if left < REFILL_BELOW:
                mechanism.refill(plate_type, MAGAZINE - left)
                refilled.append(plate_type)
    return refilled
