"""The tablet's HTTP contract at the boundary: request bodies, path parameters and the limits on both.

Everything the tablet accepts from outside has a type and a maximum here, so an over-long or malformed
value is refused (422, or 413 for a body over its size) before the lane journals anything.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_JSON_BODY = 64 * 1024  # every request body (JSON, or none) ...
MAX_PHOTO = 10 * 1024 * 1024  # ... except a photo upload: the photo itself ...
MAX_PHOTO_BODY = MAX_PHOTO + 64 * 1024  # ... and the multipart envelope around it
PHOTO_FORM_LIMITS: dict[str, Any] = {
    "max_files": 1,
    "max_fields": 4,
    "max_part_size": 1024,
}  # multipart: one file, little else

# as Lane.open_case makes it: <unit>-<yymmdd>-<6 hex> (and the <yyyymmdd>-<unit>-<6 hex> of the first journals)
CASE_ID_PATTERN = r"^(?:[a-z0-9][a-z0-9-]{0,31}-[0-9]{6}|[0-9]{8}-[a-z0-9][a-z0-9-]{0,31})-[0-9a-f]{6}$"
MAX_CASE_ID = 64
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _no_control_characters(text: str) -> str:
    """A typed value is one line of visible text: control and bidi-override characters would garble the journal and the pages."""
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in text):
        raise ValueError("control characters are not allowed")
    return text


NO_CONTROLS = AfterValidator(_no_control_characters)

# the typed values, named as on the tablet (empty ID and booking numbers mean "not given", as the form sends them)
Station = Annotated[str, StringConstraints(min_length=1, max_length=32), NO_CONTROLS]
IdNumber = Annotated[str, StringConstraints(max_length=64), NO_CONTROLS]
BookingNumber = Annotated[str, StringConstraints(max_length=64), NO_CONTROLS]
Vin = Annotated[str, StringConstraints(min_length=1, max_length=32), NO_CONTROLS]
Reason = Annotated[str, StringConstraints(max_length=500), NO_CONTROLS]
ItemCode = Annotated[str, StringConstraints(min_length=1, max_length=64), NO_CONTROLS]
PlateNumber = Annotated[str, StringConstraints(min_length=1, max_length=16), NO_CONTROLS]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Body):
    # any characters: a failed attempt is journaled made printable (Lane.check_pin)
    inspector_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    pin: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class OpenCaseBody(Body):
    station: Station
    id_number: IdNumber | None = None
    booking_number: BookingNumber | None = None


class VinConfirmBody(Body):
    vin: Vin
    reason: Reason | None = None


class VehicleBody(Body):
    """Which of the owner's pending vehicles is at the lane: its certificate VIN."""

    vin: Vin


class ItemBody(Body):
    item: ItemCode
    result: Literal["pass", "fail", "na"]


class PlateBody(Body):
    number: PlateNumber
    composed: bool = False


class PassedBody(Body):
    barrier: Literal["entry", "exit"]


class ReasonBody(Body):
    reason: Reason


class Empty(Body):
    pass


# path and query values (edge.typed_routes: a name in the route's path is a path value, any other a query value)
CaseId = Annotated[str, Field(pattern=CASE_ID_PATTERN, max_length=MAX_CASE_ID, description="<unit>-<yymmdd>-<6 hex>")]
PhotoCode = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="photo type code, e.g. 0111")]
ActionName = Annotated[str, Field(pattern=r"^[a-z]{1,16}$")]
AlertKey = Annotated[str, Field(min_length=1, max_length=128)]
FilePath = Annotated[
    str, Field(min_length=1, max_length=256, description="as the case view gives it: photos/<case id>/<file>")
]
LanguageCode = Annotated[str, Field(max_length=16)]
NextPage = Annotated[str, Field(max_length=512)]
CaseState = Literal["open", "closed", "all"]
CaseLimit = Annotated[int, Field(ge=1, le=5000)]
StreamPosition = Annotated[int, Field(ge=-1, le=2**53)]

PHOTO_TYPES = ("image/jpeg", "image/png")


def photo_type(data: bytes) -> str | None:
    """What the bytes really are: a JPEG (SOI marker then a marker) or a PNG (its 8-byte signature); else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None
