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

Body: ``{"payment_id": str, "status": "paid", "amount_cents": int, "paid_at": float}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import httpx

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
    if not (8 <= len(nonce) <= 64):
        raise SignatureError("bad_signature", "nonce length")
    if not hmac.compare_digest(_mac(key, t, nonce, body), given):
        raise SignatureError("bad_signature", "signature does not verify")
    if abs(now - t) > max_skew_s:
        raise SignatureError("stale_signature", f"timestamp {t} is more than {max_skew_s}s from now")
    return Verified(t, nonce)


def callback_body(payment_id: str, amount_cents: int, status: str = "paid", paid_at: float | None = None) -> bytes:
    return json.dumps({"payment_id": payment_id, "status": status, "amount_cents": amount_cents,
                       "paid_at": time.time() if paid_at is None else paid_at}, separators=(",", ":")).encode()


class SimulatedProvider:
    """The demo's payment provider: 'the owner paid', told to the bridge with a signed callback."""

    def __init__(self, bridge_url: str, key: bytes) -> None:
        self.bridge_url = bridge_url.rstrip("/")
        self.key = key

    def pay(self, payment_id: str, amount_cents: int, timeout: float = 10.0) -> httpx.Response:
        body = callback_body(payment_id, amount_cents)
        return httpx.post(f"{self.bridge_url}/api/payments/notify", content=body,
                          headers={HEADER: sign(self.key, body), "Content-Type": "application/json"}, timeout=timeout)
