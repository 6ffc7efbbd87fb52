"""Stripe Checkout for web purchases: one Checkout Session per purchase attempt, made with the stripe library.

The session carries what the Stripe webhook (``PaymentService.stripe``, ``checkout.session.completed``)
needs to grant the product once paid: ``client_reference_id`` = the player's uid, ``metadata.product_id`` =
our product id (and ``metadata.uid``), one line item of the product's Stripe Price (``store_ids.stripe`` in
the catalog), mode ``payment``. The amounts the webhook checks (``stripe_amounts``) are the Price's.

Sold on the web: one-off products (no entitlement) with a Stripe Price id and ``stripe_amounts``.

Idempotency: the create request's ``Idempotency-Key`` is derived from (uid, product, attempt), where the
attempt is the client's ``request_id`` (one per tap of "buy", reused by its retries) or, without one, the
current 30-second window. Stripe answers a repeated key (for 24 h) with the first session, so a double tap
or a retried request yields the same session, never two. Without ``request_id``, a tap right after a window
boundary can still make a second session; that is harmless (an unpaid session expires, only a paid one
grants) and clients should send ``request_id``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import stripe

from app.core.config import Settings
from app.domain.catalog import Catalog, Product, Store
from app.services.economy.requests import valid_uid
from app.services.errors import Failure, ServiceError

if TYPE_CHECKING:
    from stripe.params.checkout import SessionCreateParams

log = logging.getLogger("app.payments")

#: Without a client ``request_id``, requests for the same product within this window share a session.
CHECKOUT_WINDOW_S = 30
#: Per try; with one retry (same idempotency key) a request waits on Stripe for 2 x 8 s at most.
STRIPE_TIMEOUT_S = 8.0
STRIPE_RETRIES = 1
#: Stripe errors that say "try again later" (503); any other error is Stripe refusing the request (502).
_UNAVAILABLE = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


def web_price_id(product: Product) -> str | None:
    """The Stripe Price the product is sold with on the web; None when it is not sold there."""
    if product.entitlement is not None or not product.stripe_amounts:
        return None
    return product.store_ids.get(Store.stripe)


def idempotency_key(uid: str, product_id: str, request_id: str | None, now: float) -> str:
    attempt = f"request:{request_id}" if request_id else f"window:{int(now // CHECKOUT_WINDOW_S)}"
    digest = hashlib.sha256(f"{uid}\n{product_id}\n{attempt}".encode()).hexdigest()
    return f"pog-checkout-{digest}"


def session_params(
    uid: str, product: Product, price_id: str, success_url: str, cancel_url: str
) -> SessionCreateParams:
    return {
        "mode": "payment",
        "line_items": [{"price": price_id, "quantity": 1}],
        "client_reference_id": uid,
        "metadata": {"uid": uid, "product_id": product.id},
        # On the PaymentIntent too: refunds and disputes in the Dashboard name the player and product.
        "payment_intent_data": {"metadata": {"uid": uid, "product_id": product.id}},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }


class StripeCheckout:
    def __init__(
        self,
        catalog: Catalog,
        client: stripe.StripeClient | None,
        success_url: str | None,
        cancel_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._client = client
        self._success_url = success_url
        self._cancel_url = cancel_url
        self._clock = clock

    async def create(self, uid: str, product_id: str, request_id: str | None = None) -> CheckoutSession:
        product = self._catalog.get(product_id)
        if product is None:
            raise ServiceError(
                Failure.NOT_FOUND, "product_not_found", f"no product {product_id!r} in the catalog"
            )
        price_id = web_price_id(product)
        if price_id is None:
            raise ServiceError(Failure.INVALID, "not_sold_on_web", f"{product_id} is not sold on the web")
        if not valid_uid(uid):
            # The webhook could not credit this account (grants.valid_uid): do not take its money.
            raise ServiceError(Failure.INVALID, "account_not_supported", "this account cannot buy on the web")
        if self._client is None or not self._success_url or not self._cancel_url:
            log.error(
                "Stripe Checkout is not configured (POG_STRIPE_API_KEY, POG_STRIPE_CHECKOUT_SUCCESS_URL, "
                "POG_STRIPE_CHECKOUT_CANCEL_URL)",
                extra={"event": "payment_failed", "provider": "stripe", "reason": "checkout_not_configured"},
            )
            raise ServiceError(
                Failure.UNAVAILABLE, "stripe_not_configured", "web purchases are not available right now"
            )
        params = session_params(uid, product, price_id, self._success_url, self._cancel_url)
        key = idempotency_key(uid, product.id, request_id, self._clock())
        try:
            session = await self._client.v1.checkout.sessions.create_async(
                params, options={"idempotency_key": key}
            )
        except stripe.StripeError as exc:
            log.error(
                "Stripe refused or failed a Checkout Session: %s %s %s",
                type(exc).__name__,
                exc.http_status,
                exc.code,
                extra={"event": "payment_failed", "provider": "stripe", "reason": "checkout"},
            )
            if isinstance(exc, _UNAVAILABLE):
                raise ServiceError(
                    Failure.UNAVAILABLE, "stripe_unavailable", "Stripe is not answering; retry"
                ) from exc
            raise ServiceError(
                Failure.UPSTREAM_FAILED, "stripe_error", "Stripe refused the checkout session"
            ) from exc
        if not session.id or not session.url:
            raise ServiceError(
                Failure.UPSTREAM_FAILED, "stripe_error", "Stripe returned a session without a URL"
            )
        return CheckoutSession(session.id, session.url)


def build_checkout(
    settings: Settings, catalog: Catalog, http_client: stripe.HTTPClient | None = None
) -> StripeCheckout:
    """``http_client``: the stripe library's HTTP client to use (default: its httpx one, async)."""
    api_key = settings.stripe_api_key
    client = None
    if api_key is not None and api_key.get_secret_value():
        client = stripe.StripeClient(
            api_key.get_secret_value(),
            http_client=http_client or stripe.HTTPXClient(timeout=STRIPE_TIMEOUT_S),
            max_network_retries=STRIPE_RETRIES,
        )
    return StripeCheckout(
        catalog, client, settings.stripe_checkout_success_url, settings.stripe_checkout_cancel_url
    )
