"""Web purchases: a Stripe Checkout Session for a catalog product (granted by the Stripe webhook once paid).

HTTP only: the session's contents and the idempotency rule are in app/services/payments_checkout.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import Container, CurrentUser
from app.api.errors import service_errors
from app.api.routing import Router
from app.services.catalog import load_catalog
from app.services.payments_checkout import REQUEST_ID_PATTERN, StripeCheckout, build_checkout

router = Router(prefix="/v1/purchases", tags=["purchases"])


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


async def stripe_checkout(request: Request) -> StripeCheckout:
    """Built on first use, once per app, from the settings; tests hand the stripe library an HTTP client of
    their own through ``app.state.stripe_http_client``."""
    state = request.app.state
    checkout: StripeCheckout | None = getattr(state, "stripe_checkout", None)
    if checkout is None:
        container: Container = state.container
        http_client = getattr(state, "stripe_http_client", None)
        checkout = build_checkout(container.settings, load_catalog(), http_client)
        state.stripe_checkout = checkout
    return checkout


@router.post("/stripe/checkout", responses=service_errors(401, 404, 422, 429, 502, 503))
async def create_stripe_checkout(
    body: CheckoutRequest,
    user: CurrentUser,
    checkout: Annotated[StripeCheckout, Depends(stripe_checkout)],
    response: Response,
) -> CheckoutOut:
    """A Stripe Checkout Session (mode payment) for one product, for the caller. 404 ``product_not_found``,
    422 ``not_sold_on_web``, 503 ``stripe_not_configured`` or ``stripe_unavailable`` (retry), 502
    ``stripe_error`` (Stripe refused it). The purchase is granted by the Stripe webhook once paid."""
    response.headers["Cache-Control"] = "no-store"
    session = await checkout.create(user.uid, body.product_id, body.request_id)
    return CheckoutOut(id=session.id, url=session.url)
