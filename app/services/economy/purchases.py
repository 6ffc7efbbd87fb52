"""A store payment behind a grant: its facts, its payment record, and the receipt of an approved hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.domain.fraud import PurchaseFacts
from app.domain.ledger import PaymentRecord, PaymentState, ReviewItem
from app.domain.notifications import Receipt, ReviewDecision
from app.services.grant_port import GrantRequest


@dataclass(frozen=True, slots=True)
class Purchase:
    """A store payment behind a grant: its key across events, facts for the fraud checks, secrets."""

    payment_key: str
    product_id: str
    facts: PurchaseFacts
    #: Encrypted in the audit entry: store transaction ids, payment details.
    sensitive: Mapping[str, Any] = field(default_factory=dict)
    #: {id, product_id, expires_at_ms, store} for subscription products.
    entitlement: Mapping[str, Any] | None = None
    #: Reasons found before the transaction (receipt validation mismatch, ...): hold for review.
    review_reasons: tuple[str, ...] = ()
    ip: str | None = None
    #: What was paid, in minor units (what a partial refund's share is taken of); 0: unknown.
    amount_minor: int = 0


class ReceiptSender(Protocol):
    async def purchase_granted(self, uid: str, receipt: Receipt) -> bool:
        """Push the receipt to the player's devices; never raises (a failure is logged and counted)."""
        ...


class DecisionSender(Protocol):
    async def review_decided(self, uid: str, decision: ReviewDecision) -> bool:
        """Tell the player an admin decided their held grant; never raises."""
        ...


def payment_from(
    purchase: Purchase, request: GrantRequest, state: PaymentState, earlier: PaymentRecord | None = None
) -> PaymentRecord:
    """The payment record of a purchase; ``earlier`` holds revocations that arrived before it."""
    record = PaymentRecord(
        key=purchase.payment_key,
        state=state,
        uid=request.uid,
        product_id=purchase.product_id,
        coins=request.coins,
        items=dict(request.items),
        entitlement=str(purchase.entitlement["id"]) if purchase.entitlement else None,
        source_id=request.source_id,
        amount_minor=purchase.amount_minor,
    )
    if earlier is not None:
        record.revocations = list(earlier.revocations)
        record.refunded_minor = earlier.refunded_minor
        record.reversals_pending = earlier.reversals_pending
        record.amount_minor = earlier.amount_minor or purchase.amount_minor
    return record


def approved_receipt(item: ReviewItem, payment: PaymentRecord) -> Receipt | None:
    """The receipt of a held purchase just approved: what the item grants; the product from its payment
    record; the transaction id from its payment key (``revenuecat:{transaction_id}``,
    ``stripe:{payment_intent}``, ``stripe:charge:{checkout session id}``)."""
    product_id = payment.product_id or (item.entitlement or {}).get("product_id")
    if not product_id:
        return None
    provider, _, transaction_id = payment.key.partition(":")
    if provider == "stripe":
        transaction_id = transaction_id.removeprefix("charge:")
    entitlement = str(item.entitlement["id"]) if item.entitlement else None
    return Receipt(str(product_id), transaction_id or payment.key, item.coins, dict(item.items), entitlement)
