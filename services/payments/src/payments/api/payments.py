"""`/api/payments/`: pay an order (202, processed by the worker), read payments."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from payments.api.deps import Provider, Settings
from payments.api.schemas import PaymentIn, PaymentOut
from payments.db import payments as repo
from payments.db.tables import Payment
from payments.domain import requests
from shared.api.idempotency import IdempotencyKey
from shared.api.ids import MAX_ID, PathId
from shared.api.problems import problem_responses
from shared.auth import CurrentUser, Principal
from shared.db import DbSession
from shared.errors import NotFound
from shared.idempotency import fingerprint
from shared.pagination import Page, PageParams, keyset_page, page_params

router = APIRouter(prefix="/api/payments", tags=["payments"])


def _render(payment: Payment) -> dict[str, Any]:
    return PaymentOut.model_validate(payment).model_dump(mode="json")


def _owner_filter(user: Principal) -> int | None:
    return None if user.is_staff else user.id


@router.post(
    "/",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PaymentOut,
    responses=problem_responses(400, 401, 404, 409, 422),
)
async def create_payment(
    body: PaymentIn,
    user: CurrentUser,
    session: DbSession,
    settings: Settings,
    provider: Provider,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> dict[str, Any]:
    """Pay your order (`awaiting_payment` or `payment_failed`) by card, PayPal or bank
    transfer. The answer is `pending`; the outcome follows asynchronously (poll the
    payment, or watch the order)."""
    answer = await requests.request_payment(
        session,
        provider,
        user,
        order_id=body.order_id,
        amount=body.amount,
        details=body.details(),
        key=idempotency_key,
        # PCI DSS 3.3.1: nothing stored may derive from the card number or the CVC, so
        # the card is identified by brand, last four digits and expiry. Keyed all the
        # same, because a PayPal address or an IBAN is personal data.
        request_hash=fingerprint(
            body.identity(), secret=settings.idempotency_secret.get_secret_value()
        ),
        ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
        render=_render,
        replica_reads=request.app.state.read_engine,
        order_watch=request.app.state.order_watch,
        order_wait=settings.order_wait_seconds,
    )
    response.status_code = answer.status
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer.body


@router.get("/", responses=problem_responses(401, 422))
async def list_payments(
    user: CurrentUser,
    session: DbSession,
    request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    order_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only payments of this order.")
    ] = None,
) -> Page[PaymentOut]:
    """Your payments, newest first (staff: everyone's)."""
    rows, next_url, previous_url = await keyset_page(
        session,
        repo.list_stmt(user_id=_owner_filter(user), order_id=order_id),
        key_columns=[Payment.id],
        key_of=lambda p: (p.id,),
        params=page,
        request=request,
        descending=True,
    )
    return Page(
        results=[PaymentOut.model_validate(p) for p in rows], next=next_url, previous=previous_url
    )


@router.get("/{payment_id}/", responses=problem_responses(401, 404, 422))
async def get_payment(payment_id: PathId, user: CurrentUser, session: DbSession) -> PaymentOut:
    """One of your payments (staff: anyone's); others' are 404."""
    return PaymentOut.model_validate(await _visible(session, user, payment_id))


async def _visible(session: AsyncSession, user: Principal, payment_id: int) -> Payment:
    payment = await repo.get(session, payment_id)
    if payment is None or (not user.is_staff and payment.user_id != user.id):
        raise NotFound("No such payment.")
    return payment
