"""Redis as a cache (never the only copy of anything). A Redis failure is a miss, never an error.

Every call goes through the Redis circuit breaker. An invalidation that fails is remembered in this
process and retried before the next cache read, so a value cached before a write is not served after
Redis comes back (until then every read goes to Firestore). Reads are batched with the Redis commands of
concurrent requests (``RedisBatcher``: one pipeline per event-loop iteration).
"""

from __future__ import annotations

import logging

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.core.metrics import REDIS_FAILURES, count_cache_lookup
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.redis_batch import RedisBatcher

log = logging.getLogger("app.cache")

#: Keys whose invalidation failed, kept until Redis takes the delete (bounded: oldest dropped first).
MAX_PENDING_INVALIDATIONS = 10_000

_FAILURES = (RedisError, OSError, BreakerOpenError)


def _reason(exc: BaseException) -> str:
    return "breaker_open" if isinstance(exc, BreakerOpenError) else type(exc).__name__


class RedisCache:
    def __init__(
        self, client: redis.Redis, breaker: RedisBreaker, batcher: RedisBatcher | None = None
    ) -> None:
        self._redis = client
        self._batcher = batcher or RedisBatcher(client)
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

    async def get(self, key: str) -> bytes | None:
        value: object = None
        if not self._pending or await self._flush_pending():
            try:
                value = (await self._breaker.call(lambda: self._batcher.execute([("GET", key)])))[0]
            except _FAILURES as exc:
                REDIS_FAILURES.labels(operation="get", reason=_reason(exc)).inc()
                if not isinstance(exc, BreakerOpenError):
                    log.warning("cache get failed: %s", type(exc).__name__)
                value = None
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
