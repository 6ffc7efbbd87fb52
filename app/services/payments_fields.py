"""Reading a payment webhook's fields (absent, wrongly typed or oversized values read as "none"), and what
a catalog product grants and puts on its receipt."""

from __future__ import annotations

import math
from typing import Any

from app.domain.catalog import Product
from app.domain.notifications import Receipt
from app.services.grant_port import GrantRequest, GrantSource

MAX_ID = 256
#: Larger amounts than any product costs are clamped (they only ever make a refund count as full).
MAX_MINOR = 10**12


def text(value: Any, limit: int = MAX_ID) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def cents(value: Any) -> int:
    """A RevenueCat price (USD, a float; negative on refunds) in cents; 0 when absent."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return min(round(abs(value) * 100), MAX_MINOR)


def minor(value: Any) -> int:
    """A Stripe amount (an integer in minor units); 0 when absent or not one."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return min(max(value, 0), MAX_MINOR)


def ids(value: Any) -> list[str]:
    return [v for v in value if text(v)] if isinstance(value, list) else []


def product_grant(uid: str, source_id: str, product: Product, reason: str) -> GrantRequest:
    """What buying ``product`` grants: its coins and items."""
    return GrantRequest(
        uid=uid,
        source=GrantSource.PURCHASE,
        source_id=source_id,
        coins=product.coins,
        items=dict(product.items),
        reason=reason,
    )


def receipt_of(product: Product, transaction_id: str) -> Receipt:
    return Receipt(product.id, transaction_id, product.coins, dict(product.items), product.entitlement)
