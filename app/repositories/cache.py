"""Redis as a cache (never the only copy of anything). A Redis failure is a miss, never an error.

Every call goes through the Redis circuit breaker (reads through the batcher's). An invalidation that
fails is remembered in this process and retried before the next cache read, so a value cached before a
write is not served after Redis comes back (until then every read goes to Firestore). Reads are batched
with the Redis commands of concurrent requests (``RedisBatcher``: one pipeline per event-loop iteration).
Keys carry no hash tag: on a Redis Cluster they spread over the shards by key (a several-key delete is
one ``DEL`` per slot there).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from app.core.metrics import REDIS_FAILURES, count_cache_lookup
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient
from app.repositories.redis_batch import RedisBatcher

log = logging.getLogger("app.cache")

#: Keys whose invalidation failed, kept until Redis takes the delete (bounded: oldest dropped first).
MAX_PENDING_INVALIDATIONS = 10_000

_FAILURES = (*REDIS_ERRORS, BreakerOpenError)


def _reason(exc: BaseException) -> str:
    return "breaker_open" if isinstance(exc, BreakerOpenError) else type(exc).__name__


class RedisCache:
    def __init__(
        self, client: RedisClient, breaker: RedisBreaker, batcher: RedisBatcher | None = None
    ) -> None:
        self._redis = client
        self._batcher = batcher or RedisBatcher(client, breaker)
        self._breaker = breaker
        self._pending: dict[str, None] = {}  # insertion-ordered set

    @property
    def pending_invalidations(self) -> int:
        return len(self._pending)

    async def _flush_pending(self) -> bool:
        keys = list(self._pending)
        try:
            await self._breaker.call(lambda: self._redis.delete(*keys))
        except _FAILURES as exc:
            REDIS_FAILURES.labels(operation="invalidate", reason=_reason(exc)).inc()
            return False
        for key in keys:
            self._pending.pop(key, None)
        log.info("retried %d cache invalidation(s)", len(keys), extra={"event": "cache_invalidation_retried"})
        return True

    def get(self, key: str) -> Coroutine[Any, Any, bytes | None]:
        """The cached value, or None on a miss or a Redis failure.

        The GET is queued when this is called (unless an invalidation must be retried first), not when
        its result is awaited: commands queued before the await (rate limits) share the round trip.
        """
        if self._pending:
            return self._get_after_invalidations(key)
        return self._lookup(key, self._batcher.submit([("GET", key)]))

    async def _get_after_invalidations(self, key: str) -> bytes | None:
        if not await self._flush_pending():
            return self._count(key, None)
        return await self._lookup(key, self._batcher.submit([("GET", key)]))

    async def _lookup(self, key: str, pending: asyncio.Future[list[Any]]) -> bytes | None:
        try:
            (value,) = await pending
        except _FAILURES as exc:
            REDIS_FAILURES.labels(operation="get", reason=_reason(exc)).inc()
            if not isinstance(exc, BreakerOpenError):
                log.warning("cache get failed: %s", type(exc).__name__)
            value = None
        if isinstance(value, Exception):  # a command error, e.g. WRONGTYPE: a miss
            REDIS_FAILURES.labels(operation="get", reason=type(value).__name__).inc()
            value = None
        return self._count(key, value)

    @staticmethod
    def _count(key: str, value: object) -> bytes | None:
        hit = isinstance(value, bytes)
        count_cache_lookup(key, hit)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if key in self._pending:
            return  # an older copy may still be in Redis: leave it to the retried delete
        try:
            await self._breaker.call(lambda: self._redis.set(key, value, ex=ttl_s))
        except _FAILURES as exc:
            REDIS_FAILURES.labels(operation="set", reason=_reason(exc)).inc()
            if not isinstance(exc, BreakerOpenError):
                log.warning("cache set failed: %s", type(exc).__name__)

    async def delete(self, *keys: str) -> None:
        try:
            await self._breaker.call(lambda: self._redis.delete(*keys))
        except _FAILURES as exc:
            REDIS_FAILURES.labels(operation="invalidate", reason=_reason(exc)).inc()
            for key in keys:
                self._pending[key] = None
            while len(self._pending) > MAX_PENDING_INVALIDATIONS:
                dropped = next(iter(self._pending))
                del self._pending[dropped]
                log.error("pending cache invalidation dropped", extra={"event": "cache_invalidation_dropped"})
            # The write has committed; the request succeeds. Logged (with a count) so it can be alerted on.
            log.error(
                "cache invalidation failed: %s",
                _reason(exc),
                extra={"event": "cache_invalidation_failed", "keys": len(keys)},
            )
