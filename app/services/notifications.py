"""Push notifications (Firebase Cloud Messaging behind ``PushGateway``): a granted event reward and a
purchase receipt go to the player's registered devices, an event start to the ``live-events`` topic.

A push is a courtesy: nothing here raises. A failure is logged (``event: push_failed``) and the request
that caused it has already been answered; tokens FCM reports as unregistered are forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from app.domain.live_events import ClaimRecord, LiveEvent
from app.domain.notifications import (
    EVENTS_TOPIC,
    Platform,
    Push,
    Receipt,
    device_id,
    receipt_push,
    reward_push,
    start_push,
)

log = logging.getLogger("app.push")


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
