"""Fraud checks: unusual patterns of a purchase against the player's history (pure functions).

Velocity (purchases, refunds, claims per user and per IP per window) is counted in Redis by
``app/repositories/ledger_velocity.py``. Any hit holds the grant for the manual review queue; none of
these checks ever blocks a revocation.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.domain.ledger import Wallet


@dataclass(frozen=True, slots=True)
class Thresholds:
    amount_factor: float = 10.0
    refund_ratio: float = 0.3
    min_history: int = 3
    country_check: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            amount_factor=settings.fraud_amount_factor,
            refund_ratio=settings.fraud_refund_ratio,
            min_history=settings.fraud_min_history,
            country_check=settings.fraud_country_check,
        )


@dataclass(frozen=True, slots=True)
class PurchaseFacts:
    price_usd_cents: int
    #: ISO 3166 alpha-2 of the purchase (store country, card country), when the provider tells.
    country: str | None = None


def unusual_patterns(wallet: Wallet, purchase: PurchaseFacts, limits: Thresholds) -> list[str]:
    reasons: list[str] = []
    country = (purchase.country or "").upper() or None
    if limits.country_check and country and wallet.country and country != wallet.country.upper():
        reasons.append(f"country_mismatch:{country}!={wallet.country.upper()}")
    if wallet.purchases >= limits.min_history:
        average = wallet.spent_usd_cents / wallet.purchases
        if average > 0 and purchase.price_usd_cents > limits.amount_factor * average:
            reasons.append(
                f"amount_outlier:{purchase.price_usd_cents}>{limits.amount_factor:g}x{average:.0f}"
            )
        if wallet.refunds / wallet.purchases > limits.refund_ratio:
            reasons.append(f"refund_ratio:{wallet.refunds}/{wallet.purchases}")
    return reasons
