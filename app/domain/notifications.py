"""Push notifications: the devices a player registers, and the messages a reward, a receipt, a review
decision or an event start sends them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from app.domain.live_events import ClaimRecord, LiveEvent

EVENTS_TOPIC = "live-events"
#: Devices kept per player (the most recently registered).
MAX_DEVICES = 10


class Platform(StrEnum):
    android = "android"
    ios = "ios"
    web = "web"


@dataclass(frozen=True, slots=True)
class Push:
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A purchase just granted: the product and what it gave, for the player's receipt."""

    product_id: str
    #: The store's transaction id (RevenueCat) or the Stripe PaymentIntent (or Checkout Session) id.
    transaction_id: str
    coins: int = 0
    items: Mapping[str, int] = field(default_factory=dict)
    entitlement: str | None = None


def device_id(token: str) -> str:
    """A stable id for a registration token that does not reveal it (the document id)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _granted(coins: int, items: Mapping[str, int]) -> list[str]:
    parts = [f"{coins} coins"] if coins else []
    return parts + [f"{count} x {item}" for item, count in sorted(items.items())]


def reward_push(event: LiveEvent, claim: ClaimRecord) -> Push:
    return Push(
        title="Reward unlocked",
        body=f"{event.name}: {', '.join(_granted(claim.coins, claim.items))}",
        data={"type": "event_reward", "event_id": event.event_id},
    )


def receipt_push(receipt: Receipt) -> Push:
    parts = _granted(receipt.coins, receipt.items)
    if receipt.entitlement:
        parts.append(f"{receipt.entitlement} access")
    return Push(
        title="Purchase complete",
        body=f"{receipt.product_id}: {', '.join(parts)}",
        data={
            "type": "purchase_receipt",
            "product_id": receipt.product_id,
            "transaction_id": receipt.transaction_id,
        },
    )


def start_push(event: LiveEvent) -> Push:
    return Push(
        title=f"{event.name} has started",
        body=event.description or f"Join before {event.ends_at:%Y-%m-%d %H:%M} UTC",
        data={"type": "event_started", "event_id": event.event_id},
    )


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """An admin's decision on a grant held for review (a purchase or an event reward)."""

    review_id: str
    approved: bool
    #: The held grant's source: ``purchase``, ``event_reward``, ...
    source: str


def decision_push(decision: ReviewDecision) -> Push:
    what = "purchase" if decision.source == "purchase" else "reward"
    return Push(
        title=f"Your {what} was {'approved' if decision.approved else 'declined'}",
        body=("It is in your inventory now." if decision.approved else f"Our review declined this {what}."),
        data={
            "type": "review_decided",
            "review_id": decision.review_id,
            "status": "approved" if decision.approved else "rejected",
        },
    )
