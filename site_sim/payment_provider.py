"""The payment provider, simulated: the world outside our software that tells the bridge an owner has paid.

A real provider signs a callback to the bridge's `/api/payments/notify`;
`SimulatedProvider` does exactly that over HTTP (the demo), and
`signed_callback` hands the same signed body to an in-process bridge service
(the tests and the lane benchmark). `AutoPayer` plays owners who pay the
moment a payment is pending.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from cloud_bridge.payments import HEADER, callback_body, sign


class SimulatedProvider:
    """The demo's payment provider: 'the owner paid', told to the bridge with a signed HTTP callback.

    One HTTP client for the provider's life, as a provider keeps its connections: a client made per
    call spends 10-20 ms of this machine's time on its TLS context before sending, which the demo
    would count as time our software adds to a visit. Safe to call from several threads."""

    def __init__(self, bridge_url: str, key: bytes) -> None:
        self.bridge_url = bridge_url.rstrip("/")
        self.key = key
        self._http = httpx.Client(base_url=self.bridge_url)

    def pay(self, payment_id: str, amount_cents: int, timeout: float = 10.0) -> httpx.Response:
        body = callback_body(payment_id, amount_cents)
        return self._http.post(
            "/api/payments/notify",
            content=body,
            headers={HEADER: sign(self.key, body), "Content-Type": "application/json"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()


def signed_callback(service: Any, key: bytes) -> Callable[[str, int], tuple[int, dict[str, Any]]]:
    """`pay(payment_id, amount_cents)` through an in-process bridge `Service`: the provider's signed body, no HTTP."""

    def pay(payment_id: str, amount_cents: int) -> tuple[int, dict[str, Any]]:
        body = callback_body(payment_id, amount_cents)
        return service.payment_callback(body, sign(key, body))

    return pay


class AutoPayer:
    """Owners who pay at once: every pending payment is paid, polled every `period_s` (the provider's period)."""

    def __init__(
        self, pending: Callable[[], list[dict[str, Any]]], pay: Callable[[str, int], Any], period_s: float = 0.05
    ) -> None:
        self.pending = pending
        self.pay = pay
        self.period_s = period_s
        self.enabled = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="payment-provider")

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.enabled:
                try:
                    for p in self.pending():
                        self.pay(p["payment_id"], int(p["amount_cents"]))
                except Exception:  # noqa: BLE001 - the bridge's store closing under us at the end of a run
                    pass
            self._stop.wait(self.period_s)

    def start(self) -> AutoPayer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
