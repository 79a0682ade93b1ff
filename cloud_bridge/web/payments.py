"""The payment provider's signed callback and the payment page the owner is sent to (both public)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from cloud_bridge.payments import HEADER as SIGNATURE_HEADER
from cloud_bridge.web.common import PUBLIC, Ctx, PageOf, PaymentId, declare

router = APIRouter()


@declare(router, "POST", "/api/payments/notify", PUBLIC)
async def payment_notify(request: Request, ctx: Ctx) -> JSONResponse:
    """Raw body in (the HMAC covers its exact bytes); the service checks signature, nonce and an exact amount."""
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    status, answer = await run_in_threadpool(ctx.service.payment_callback, body, signature)
    return JSONResponse(answer, status_code=status)


@declare(router, "GET", "/pay/{payment_id}", PUBLIC, response_class=HTMLResponse)
def pay_page(page: PageOf, ctx: Ctx, payment_id: PaymentId) -> HTMLResponse:
    p = ctx.store.payments.get(payment_id)
    if p is None:
        raise HTTPException(404, "no such payment")
    return page.render("pay.html", p=p)
