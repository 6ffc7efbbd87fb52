"""Push notifications (Firebase Cloud Messaging behind ``PushGateway``): a granted event reward and a
purchase receipt go to the player's registered devices, an event start to the ``live-events`` topic.

A push is a courtesy: nothing here raises. A failure is logged (``event: push_failed``) and the request
that caused it has already been answered; tokens FCM reports as unregistered are forgotten.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from app.services.live_events_models import ClaimRecord, LiveEvent

log = logging.getLogger("app.push")

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


class PushGateway(Protocol):
    async def send_to_tokens(self, tokens: Sequence[str], push: Push) -> list[str]:
        """Send to each token; returns the tokens FCM says are no longer registered. Raises on failure."""
        ...

    async def send_to_topic(self, topic: str, push: Push) -> None: ...
    async def subscribe(self, tokens: Sequence[str], topic: str) -> None: ...


class DeviceStore(Protocol):
    async def register(
        self, uid: str, device_id: str, token: str, platform: Platform, now: datetime
    ) -> None: ...
    async def tokens(self, uid: str) -> list[str]: ...
    async def forget(self, uid: str, device_ids: Sequence[str]) -> int: ...


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


class Notifier:
    def __init__(self, gateway: PushGateway | None, devices: DeviceStore) -> None:
        """``gateway`` is None when push is off (dev without a fake FCM endpoint): tokens are still kept."""
        self._gateway = gateway
        self._devices = devices

    async def register_device(self, uid: str, token: str, platform: Platform) -> str:
        """Keep the token (idempotent) and subscribe it to the events topic (best effort)."""
        did = device_id(token)
        await self._devices.register(uid, did, token, platform, datetime.now(UTC))
        if self._gateway is not None:
            try:
                await self._gateway.subscribe([token], EVENTS_TOPIC)
            except Exception as exc:
                _failed("subscribe", exc)
        return did

    async def forget_device(self, uid: str, did: str) -> bool:
        return await self._devices.forget(uid, [did]) > 0

    async def reward_granted(self, uid: str, event: LiveEvent, claim: ClaimRecord) -> bool:
        return await self._to_player(uid, reward_push(event, claim), "reward")

    async def purchase_granted(self, uid: str, receipt: Receipt) -> bool:
        return await self._to_player(uid, receipt_push(receipt), "receipt")

    async def _to_player(self, uid: str, push: Push, kind: str) -> bool:
        """Send to the player's devices; True when at least one took it. Never raises."""
        if self._gateway is None:
            return False
        try:
            tokens = await self._devices.tokens(uid)
            if not tokens:
                return False
            gone = await self._gateway.send_to_tokens(tokens, push)
            if gone:
                await self._devices.forget(uid, [device_id(t) for t in gone])
            return len(gone) < len(tokens)
        except Exception as exc:
            _failed(kind, exc)
            return False

    async def event_started(self, event: LiveEvent) -> bool:
        if self._gateway is None:
            return False
        try:
            await self._gateway.send_to_topic(EVENTS_TOPIC, start_push(event))
        except Exception as exc:
            _failed("event_start", exc)
            return False
        return True


def _failed(kind: str, exc: Exception) -> None:
    log.warning("push failed: %s", type(exc).__name__, extra={"event": "push_failed", "push": kind})
