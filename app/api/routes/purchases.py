"""Web purchases: a Stripe Checkout Session for a catalog product (granted by the Stripe webhook once paid).

HTTP only: the session's contents and the idempotency rule are in app/services/payments_checkout.py.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.app_check import APP_CHECK_ERRORS, AppCheckLimitedUse
from app.api.deps import ContainerDep, CurrentUser
from app.api.errors import service_errors
from app.api.routing import Router

router = Router(prefix="/v1/purchases", tags=["purchases"])
#: A client's purchase-attempt id (a UUID fits): the checkout's idempotency key is made from it.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


class CheckoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A product of the catalog sold on the web (app/catalog/products.yaml).
    product_id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    #: The client's id of this purchase attempt (e.g. a UUID made when "buy" is tapped, reused by retries):
    #: the same id returns the same session. Without it, requests within 30 s share one.
    request_id: str | None = Field(default=None, pattern=REQUEST_ID_PATTERN)


class CheckoutOut(BaseModel):
    #: The Checkout Session's id (``cs_...``).
    id: str
    #: Stripe's hosted payment page: send the player there.
    url: str


@router.post(
    "/stripe/checkout",
    dependencies=[AppCheckLimitedUse],
    responses=service_errors(401, 404, 422, 429, 502, 503) | APP_CHECK_ERRORS,
)
async def create_stripe_checkout(
    body: CheckoutRequest,
    user: CurrentUser,
    c: ContainerDep,
    response: Response,
) -> CheckoutOut:
    """A Stripe Checkout Session (mode payment) for one product, for the caller. 404 ``product_not_found``,
    422 ``not_sold_on_web``, 503 ``stripe_not_configured`` or ``stripe_unavailable`` (retry), 502
    ``stripe_error`` (Stripe refused it). The purchase is granted by the Stripe webhook once paid."""
    response.headers["Cache-Control"] = "no-store"
    session = await c.checkout.create(user.uid, body.product_id, body.request_id)
    return CheckoutOut(id=session.id, url=session.url)
