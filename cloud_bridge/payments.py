"""Payment-provider callbacks: HMAC-SHA256 signatures with a timestamp and a nonce.

The provider (or the demo's simulated provider) POSTs a JSON body to
`/api/payments/notify` with the header

    X-PassLane-Signature: t=<unix seconds>,n=<nonce>,v1=<hex>

where ``hex = HMAC-SHA256(key, f"{t}.{n}.".encode() + body)``. The bridge
refuses a callback whose signature does not verify, whose timestamp is more
than `payments.max_skew_s` from its clock, or whose nonce it has seen before
(a replay); nonces are kept in the database. A valid callback for a payment
already marked paid is acknowledged again without a second notification
(idempotent per payment id).

Body: ``{"payment_id": str, "status": "paid", "amount_cents": int, "paid_at": float}``, or with
``"amount": "110.00"`` (yuan as a decimal string with at most two places) instead of ``amount_cents``.
Amounts are exact: a JSON integer of cents, or a decimal string converted to
cents without rounding; a fraction of a cent, a float, a boolean or a number
in a string is refused (`parse_callback`), never truncated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

HEADER = "X-PassLane-Signature"


class SignatureError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def _mac(key: bytes, t: int, nonce: str, body: bytes) -> str:
    return hmac.new(key, f"{t}.{nonce}.".encode() + body, hashlib.sha256).hexdigest()


def sign(key: bytes, body: bytes, *, t: int | None = None, nonce: str | None = None) -> str:
    """The X-PassLane-Signature header value for `body` (current time and a fresh nonce unless given)."""
    t = int(time.time()) if t is None else int(t)
    nonce = nonce or secrets.token_hex(16)
    return f"t={t},n={nonce},v1={_mac(key, t, nonce, body)}"


@dataclass(frozen=True)
class Verified:
    t: int
    nonce: str


def verify(key: bytes, body: bytes, header: str | None, now: float, max_skew_s: float) -> Verified:
    """Check a signature header (not the nonce's freshness, which needs the database)."""
    if not header:
        raise SignatureError("missing_signature", f"no {HEADER} header")
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        nonce = parts["n"]
        given = parts["v1"]
    except (ValueError, KeyError):
        raise SignatureError("bad_signature", "malformed signature header") from None
    # the nonce is stored: PostgreSQL refuses a NUL in text
    if not (8 <= len(nonce) <= 64 and nonce.isascii() and nonce.isprintable()):
        raise SignatureError("bad_signature", "nonce: 8-64 printable ASCII characters")
    if not hmac.compare_digest(_mac(key, t, nonce, body), given):
        raise SignatureError("bad_signature", "signature does not verify")
    if abs(int(now) - t) > max_skew_s:  # in integers: a timestamp of 400 digits is stale, not an OverflowError
        raise SignatureError("stale_signature", f"timestamp {t} is more than {max_skew_s}s from now")
    return Verified(t, nonce)


MAX_CENTS = 2**53  # exact in a JSON number and in a double


class CallbackBody(BaseModel):
    """The provider's callback body, checked after the signature: exact amounts only."""

    model_config = ConfigDict(extra="forbid")
    payment_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    status: str = Field("paid", min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    amount_cents: Annotated[StrictInt, Field(ge=0, le=MAX_CENTS)] | None = None
    amount: str | None = Field(
        None,
        max_length=20,
        pattern=r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$",
        description="yuan as a decimal string with at most two places, e.g. 110.00",
    )
    paid_at: float | None = Field(None, allow_inf_nan=False)

    @model_validator(mode="after")
    def _one_amount(self) -> CallbackBody:
        if (self.amount_cents is None) == (self.amount is None):
            raise ValueError(
                "give exactly one of amount_cents (an integer of cents) and amount (a decimal string of yuan)"
            )
        return self

    def cents(self) -> int:
        """The amount in cents, exactly."""
        if self.amount_cents is not None:
            return self.amount_cents
        cents = Decimal(str(self.amount)) * 100
        assert cents == cents.to_integral_value()  # the pattern allows at most two places
        return int(cents)


class CallbackError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def parse_callback(body: bytes) -> CallbackBody:
    """The callback body, or CallbackError: `bad_amount` for an amount that is not exact whole cents, `bad_body` otherwise."""
    try:
        return CallbackBody.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        about_amount = [e for e in errors if e["loc"][:1] in (("amount_cents",), ("amount",)) or "amount" in e["msg"]]
        first = (about_amount or errors)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        if about_amount:
            detail = (
                f"{where}: {first['msg']}; amount_cents must be a whole number of cents (a JSON integer), "
                "or amount a decimal string of yuan with at most two places"
            )
            raise CallbackError("bad_amount", detail) from None
        raise CallbackError("bad_body", f"{where}: {first['msg']}") from None


def callback_body(payment_id: str, amount_cents: int, status: str = "paid", paid_at: float | None = None) -> bytes:
    return json.dumps(
        {
            "payment_id": payment_id,
            "status": status,
            "amount_cents": amount_cents,
            "paid_at": time.time() if paid_at is None else paid_at,
        },
        separators=(",", ":"),
    ).encode()
