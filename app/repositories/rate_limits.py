"""Per-user and per-IP rate limits in Redis with ``limits`` (sliding window counters)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from app.core.metrics import REDIS_FAILURES
from app.repositories.breaker import BreakerOpenError, RedisBreaker

log = logging.getLogger("app.ratelimit")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


class RateLimiter:
    def __init__(self, client: redis.Redis, breaker: RedisBreaker, key_prefix: str = "ratelimit") -> None:
        self._breaker = breaker
        # Shares the cache's connection pool (and its timeouts); the URI only selects the storage.
        options: dict[str, Any] = {"connection_pool": client.connection_pool}
        self._storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True, **options
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)

    async def _check(self, limits: list[RateLimitItem], identifiers: tuple[str, ...]) -> Verdict:
        for item in limits:
            if not await self._limiter.hit(item, *identifiers):
                stats = await self._limiter.get_window_stats(item, *identifiers)
                return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))
        return Verdict(True)

    async def hit(self, limits: list[RateLimitItem], *identifiers: str) -> Verdict:
        """Count one request against every limit; fail open when Redis is unavailable or the breaker open."""
        try:
            return await self._breaker.call(lambda: self._check(limits, identifiers))
        except BreakerOpenError:
            REDIS_FAILURES.labels(operation="rate_limit", reason="breaker_open").inc()
        except (StorageError, RedisError, OSError) as exc:  # wrap_exceptions=True: mostly StorageError
            REDIS_FAILURES.labels(operation="rate_limit", reason=type(exc).__name__).inc()
            log.warning("rate limiter unavailable, allowing: %s", type(exc).__name__)
        return Verdict(True)


def parse_limits(notation: str) -> list[RateLimitItem]:
    return parse_many(notation)
