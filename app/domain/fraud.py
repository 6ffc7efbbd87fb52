"""Fraud checks: unusual patterns of a purchase against the player's history (pure functions).

Velocity (purchases, refunds, claims per user and per IP per window) is counted in Redis by
``app/repositories/ledger_velocity.py``, once per store payment (not per webhook event). Any hit holds
the grant for the manual review queue; none of these checks ever blocks a revocation.

When Redis is unavailable each kind fails its own way (docs/operations.md#when-redis-is-down-each-guard):

- purchases fail CLOSED: the player's purchases in the window are counted in the Firestore ledger
  (``over_windows`` here), and if that cannot be done the purchase is held (``velocity_unavailable``);
  a purchase is never granted blind;
- claims (event and leaderboard rewards) fail OPEN: our own jobs and rules decide them, each source is
  granted once by its marker, and holding every reward of an outage would bury the review queue;
- refunds are only counted, never held (no check blocks a revocation): uncounted during the outage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

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


#: The hold reason of a purchase whose velocity could be counted neither in Redis nor in the ledger.
VELOCITY_UNAVAILABLE = "velocity_unavailable"


@dataclass(frozen=True, slots=True)
class VelocityWindow:
    """At most ``amount`` per ``seconds``; ``label`` names it in a hold reason (``5 per 1 hour``)."""

    amount: int
    seconds: int
    label: str


def over_windows(
    kind: str, earlier: Sequence[datetime], windows: Sequence[VelocityWindow], now: datetime
) -> list[str]:
    """The per-user windows one more ``kind`` at ``now`` would exceed, given when the earlier ones were
    (each counted once); the reasons read as the Redis counters' (``velocity:purchase:user:5 per 1 hour``)."""
    reasons: list[str] = []
    for window in windows:
        since = now - timedelta(seconds=window.seconds)
        if sum(1 for at in earlier if at > since) + 1 > window.amount:
            reasons.append(f"velocity:{kind}:user:{window.label}")
    return reasons
