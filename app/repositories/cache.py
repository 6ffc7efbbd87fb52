"""Redis as a cache (never the only copy of anything). A Redis failure is a miss, never an error."""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger("app.cache")


class RedisCache:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(key)
        except (RedisError, OSError) as exc:
            log.warning("cache get failed: %s", type(exc).__name__)
            return None
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            await self._redis.set(key, value, ex=ttl_s)
        except (RedisError, OSError) as exc:
            log.warning("cache set failed: %s", type(exc).__name__)

    async def delete(self, *keys: str) -> None:
        try:
            await self._redis.delete(*keys)
        except (RedisError, OSError) as exc:
            # The entry may now outlive the write by up to its TTL; logged so it can be alerted on.
            log.error("cache invalidation failed for %s: %s", ",".join(keys), type(exc).__name__)
