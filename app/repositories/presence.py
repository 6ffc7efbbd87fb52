"""Online status in Redis: ``presence:<uid>`` holds the last heartbeat, expiring after the TTL.

No hash tag: on a Redis Cluster the keys spread over the shards by player, like the heartbeats' load. A
friends list is then read with one ``MGET`` per slot, pipelined per node (``read_many``): one round trip
per shard holding some of them, sent in parallel. A single Redis answers one ``MGET``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from app.domain.presence import Heartbeat
from app.repositories.breaker import RedisBreaker
from app.repositories.clients import RedisClient, read_many
from app.repositories.errors import PresenceUnavailableError
from app.repositories.leaderboard_sets import FAILURES


def presence_key(uid: str) -> str:
    return f"presence:{uid}"


class RedisPresence:
    def __init__(self, client: RedisClient, breaker: RedisBreaker) -> None:
        self._redis = client
        self._breaker = breaker

    async def beat(self, uid: str, beat: Heartbeat, ttl_s: int) -> None:
        value = orjson.dumps({"status": beat.status, "at": beat.at.isoformat()})
        try:
            await self._breaker.call(lambda: self._redis.set(presence_key(uid), value, ex=ttl_s))
        except FAILURES as exc:
            raise PresenceUnavailableError(type(exc).__name__) from exc

    async def forget(self, uid: str) -> None:
        """Drops the live heartbeat (a player who hides their presence)."""
        try:
            await self._breaker.call(lambda: self._redis.delete(presence_key(uid)))
        except FAILURES as exc:
            raise PresenceUnavailableError(type(exc).__name__) from exc

    async def beats(self, uids: Sequence[str]) -> list[Heartbeat | None]:
        if not uids:
            return []
        keys = [presence_key(uid) for uid in uids]
        try:
            values = await self._breaker.call(lambda: read_many(self._redis, keys))
        except FAILURES as exc:
            raise PresenceUnavailableError(type(exc).__name__) from exc
        out: list[Heartbeat | None] = []
        for value in values:
            if isinstance(value, bytes):
                data = orjson.loads(value)
                out.append(Heartbeat(status=data["status"], at=datetime.fromisoformat(data["at"])))
            else:
                out.append(None)
        return out
