"""What the server tells a player: a granted event reward, a purchase receipt, a review decision, and
an event start (to everyone).

A player's message goes first to their queue on the Realtime Database (``MessageQueue``: always, when it
is configured), then to their registered devices through Firebase Cloud Messaging (``PushGateway``) unless
their presence says their client is connected and the queue took it: FCM is for players who are offline.
An event start is written on every shard (``/broadcast``) and sent to the ``live-events`` topic.

A push is a courtesy: nothing here raises. A failure is logged (``event: push_failed``,
``realtime_message_failed``) and the request that caused it has already been answered; tokens FCM reports
as unregistered are forgotten.
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
    ReviewDecision,
    decision_push,
    device_id,
    receipt_push,
    reward_push,
    start_push,
)
from app.domain.realtime import Message, MessageKind

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


class MessageQueue(Protocol):
    async def deliver(self, uid: str, message: Message) -> bool:
        """Queue it for the player; True when queued and their client is connected. Never raises."""
        ...

    async def broadcast_event(self, event: LiveEvent) -> bool: ...


def _message(kind: MessageKind, push: Push) -> Message:
    return Message(kind, push.title, push.body, dict(push.data))


class Notifier:
    def __init__(
        self, gateway: PushGateway | None, devices: DeviceStore, queue: MessageQueue | None = None
    ) -> None:
        """``gateway`` is None when push is off (dev without a fake FCM endpoint): tokens are still kept.
        ``queue`` is None when the Realtime Database is off (local runs and tests only)."""
        self._gateway = gateway
        self._devices = devices
        self._queue = queue

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
        return await self._to_player(uid, reward_push(event, claim), MessageKind.reward_granted, "reward")

    async def purchase_granted(self, uid: str, receipt: Receipt) -> bool:
        return await self._to_player(uid, receipt_push(receipt), MessageKind.purchase_granted, "receipt")

    async def review_decided(self, uid: str, decision: ReviewDecision) -> bool:
        return await self._to_player(uid, decision_push(decision), MessageKind.review_decided, "review")

    async def _to_player(self, uid: str, push: Push, message: MessageKind, kind: str) -> bool:
        """Queue it on the Realtime Database, then send to the player's devices unless their connected
        client has it; True when it reached them either way. Never raises."""
        if self._queue is not None and await self._queue.deliver(uid, _message(message, push)):
            return True
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
        """On every shard's ``/broadcast`` and to the topic; True when either took it."""
        broadcast = await self._queue.broadcast_event(event) if self._queue is not None else False
        if self._gateway is None:
            return broadcast
        try:
            await self._gateway.send_to_topic(EVENTS_TOPIC, start_push(event))
        except Exception as exc:
            _failed("event_start", exc)
            return broadcast
        return True


def _failed(kind: str, exc: Exception) -> None:
    log.warning("push failed: %s", type(exc).__name__, extra={"event": "push_failed", "push": kind})
