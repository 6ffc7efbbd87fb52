"""Receipt validation through RevenueCat's REST API: ``GET /v1/subscribers/{app_user_id}``.

Before a purchase event grants anything, the subscriber is re-read from RevenueCat (which validated the
receipt with the store) and the event's transaction must be there: in ``non_subscriptions[product]`` for
consumables, in ``subscriptions[product]`` (not refunded) for subscriptions. A mismatch holds the grant
for review; RevenueCat being unreachable answers 503 so that RevenueCat retries the webhook later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from app.services.errors import Failure, ServiceError

log = logging.getLogger("app.payments")

TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class PurchaseClaim:
    app_user_id: str
    product_id: str
    transaction_id: str | None
    original_transaction_id: str | None
    sandbox: bool
    subscription: bool


class RevenueCatClient:
    def __init__(self, base_url: str, api_key: str | None, transport: httpx.AsyncBaseTransport | None = None):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=TIMEOUT_S, transport=transport
        )
        self._configured = bool(api_key)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def subscriber(self, app_user_id: str) -> dict[str, Any] | None:
        """The subscriber object, or ``None`` when RevenueCat does not know the id."""
        if not self._configured:
            raise ServiceError(
                Failure.UNAVAILABLE, "receipt_validation_unavailable", "POG_REVENUECAT_API_KEY is not set"
            )
        try:
            response = await self._client.get(f"/v1/subscribers/{quote(app_user_id, safe='')}")
        except httpx.HTTPError as exc:
            log.warning(
                "RevenueCat unreachable: %s",
                type(exc).__name__,
                extra={
                    "event": "payment_failed",
                    "provider": "revenuecat",
                    "reason": "receipt_validation_unavailable",
                },
            )
            raise ServiceError(
                Failure.UNAVAILABLE, "receipt_validation_unavailable", "RevenueCat is unreachable"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.warning(
                "RevenueCat answered %d",
                response.status_code,
                extra={
                    "event": "payment_failed",
                    "provider": "revenuecat",
                    "reason": "receipt_validation_unavailable",
                },
            )
            raise ServiceError(
                Failure.UNAVAILABLE, "receipt_validation_unavailable", "RevenueCat did not answer; retry"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceError(
                Failure.UNAVAILABLE, "receipt_validation_unavailable", "RevenueCat's answer is not JSON"
            ) from exc
        subscriber = body.get("subscriber") if isinstance(body, dict) else None
        return subscriber if isinstance(subscriber, dict) else None


def receipt_mismatches(subscriber: dict[str, Any] | None, claim: PurchaseClaim) -> list[str]:
    """Why the subscriber as RevenueCat knows it does not back the claimed purchase (empty: it does)."""
    if subscriber is None:
        return ["receipt_mismatch:unknown_subscriber"]
    ids = {i for i in (claim.transaction_id, claim.original_transaction_id) if i}
    if claim.subscription:
        subscription = (subscriber.get("subscriptions") or {}).get(claim.product_id)
        if not isinstance(subscription, dict):
            return ["receipt_mismatch:subscription_not_found"]
        if subscription.get("refunded_at"):
            return ["receipt_mismatch:refunded"]
        if bool(subscription.get("is_sandbox")) != claim.sandbox:
            return ["receipt_mismatch:environment"]
        known = {subscription.get("store_transaction_id"), subscription.get("original_transaction_id")}
        if ids and not ids & {k for k in known if k}:
            return ["receipt_mismatch:transaction_not_found"]
        return []
    purchases = (subscriber.get("non_subscriptions") or {}).get(claim.product_id)
    if not isinstance(purchases, list) or not purchases:
        return ["receipt_mismatch:purchase_not_found"]
    for purchase in purchases:
        if not isinstance(purchase, dict):
            continue
        if {purchase.get("store_transaction_id"), purchase.get("id")} & ids:
            if bool(purchase.get("is_sandbox")) != claim.sandbox:
                return ["receipt_mismatch:environment"]
            return []
    return ["receipt_mismatch:transaction_not_found"]
