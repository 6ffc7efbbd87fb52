"""Per-user and per-IP rate limits in Redis with ``limits`` (sliding window counters).

``hit`` counts one request against a list of limits through the library's strategy, one Redis call per
limit. ``hit_many`` counts it against several lists (the caller's IP and user) in one round trip, batched
with the commands of concurrent requests (``RedisBatcher``): each limit is the library's own
sliding-window Lua script on the library's own keys, so both paths share counters and the library's
``get_window_stats`` reads them (for ``Retry-After``).

The library's two window keys of a limit share a hash tag (the limit and the identifier), so on a Redis
Cluster each limit's script runs on one slot and the limits of different players and IPs spread over the
shards. There the library's calls go through its own cluster storage (``limits_storage``): ``aclose``
closes it.

When Redis is unavailable (an error, a timeout, the breaker open) the limits FAIL CLOSED per instance:
the same limits and the same strategy count in this process's memory (``limits``' ``MemoryStorage``)
instead of letting everything through. Each instance counts only what it serves, so during an outage a
player or an IP may get up to N times the limit with N instances (Cloud Run may route one player to
several of them; docs/operations.md#when-redis-is-down-each-guard). The memory storage expires its keys
itself (a key lives twice its window), so it holds only the identifiers seen in the last two windows.
Every check made in memory counts in ``pog_guard_fallback_total{guard="rate_limit",mode="memory"}``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage
from limits.aio.storage.redis.bridge import RedisBridge
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import NoScriptError

from app.core.metrics import REDIS_FAILURES, count_guard_fallback
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient, close_limits_storage, limits_storage
from app.repositories.redis_batch import Command, RedisBatcher

log = logging.getLogger("app.ratelimit")


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0


#: Limits and the identifiers they are counted under, e.g. ``(ip_limits, ("ip", "203.0.113.7"))``.
LimitCheck = tuple[Sequence[RateLimitItem], tuple[str, ...]]


class RateLimiter:
    def __init__(
        self,
        client: RedisClient,
        breaker: RedisBreaker,
        key_prefix: str = "ratelimit",
        batcher: RedisBatcher | None = None,
    ) -> None:
        self._client = client
        self._batcher = batcher or RedisBatcher(client, breaker)
        self._breaker = breaker
        self._key_prefix = key_prefix
        self._acquire = client.register_script(RedisBridge.SCRIPT_ACQUIRE_SLIDING_WINDOW)
        self._storage = limits_storage(client, key_prefix)
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        #: While Redis is unavailable: the same strategy on this instance's memory.
        self._memory = SlidingWindowCounterRateLimiter(MemoryStorage())

    async def aclose(self) -> None:
        await close_limits_storage(self._storage)

    async def _check(
        self, limits: Sequence[RateLimitItem], identifiers: tuple[str, ...], memory: bool = False
    ) -> Verdict:
        limiter = self._memory if memory else self._limiter
        for item in limits:
            if not await limiter.hit(item, *identifiers):
                return await self._refused(item, identifiers, memory)
        return Verdict(True)

    async def _refused(
        self, item: RateLimitItem, identifiers: tuple[str, ...], memory: bool = False
    ) -> Verdict:
        limiter = self._memory if memory else self._limiter
        stats = await limiter.get_window_stats(item, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))

    async def _in_memory(
        self, exc: Exception, hits: Sequence[tuple[RateLimitItem, tuple[str, ...]]]
    ) -> Verdict:
        """Redis failed: count the same hits in this instance's memory, as ``hit_many`` would in Redis
        (every limit taken on its own; the first refused one answers)."""
        _count_failure(exc)
        count_guard_fallback("rate_limit", "memory")
        refused: Verdict | None = None
        for item, identifiers in hits:
            if not await self._memory.hit(item, *identifiers) and refused is None:
                refused = await self._refused(item, identifiers, memory=True)
        return refused or Verdict(True)

    async def _refused_in_redis(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Verdict:
        """Redis refused the hit; if its window then cannot be read, wait a whole window to be safe."""
        try:
            return await self._breaker.call(partial(self._refused, item, identifiers))
        except _FAILURES:
            return Verdict(False, item.get_expiry())

    def _window_keys(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> tuple[str, str]:
        """The previous and current window keys the library's sliding window counter uses.

        The library documents them (``{key}/-1`` and ``{key}``, prefixed; ``RedisStorage``'s sliding window)
        but builds them only in private methods, so they are spelled out here;
        tests/app/repositories/test_rate_limits.py checks that both paths count on the same keys.
        """
        current = self._storage.bridge.prefixed_key(f"{{{item.key_for(*identifiers)}}}")
        return f"{current}/-1", current

    def _acquire_commands(self, hits: Sequence[tuple[RateLimitItem, tuple[str, ...]]]) -> list[Command]:
        commands: list[Command] = []
        for item, identifiers in hits:
            previous, current = self._window_keys(item, identifiers)
            commands.append(
                ("EVALSHA", self._acquire.sha, 2, previous, current, item.amount, item.get_expiry(), 1)
            )
        return commands

    async def _verdict(
        self, hits: list[tuple[RateLimitItem, tuple[str, ...]]], pending: asyncio.Future[list[Any]]
    ) -> Verdict:
        try:
            results = await pending
            if any(isinstance(result, NoScriptError) for result in results):
                # A new or flushed Redis: every call of the script failed alike, so none was counted.
                await self._breaker.call(lambda: self._client.script_load(self._acquire.script))
                results = await self._batcher.execute(self._acquire_commands(hits))
            for (item, identifiers), acquired in zip(hits, results, strict=True):
                if isinstance(acquired, Exception):
                    raise acquired
                if not acquired:
                    return await self._refused_in_redis(item, identifiers)
            return Verdict(True)
        except _FAILURES as exc:
            return await self._in_memory(exc, hits)

    async def hit(self, limits: list[RateLimitItem], *identifiers: str) -> Verdict:
        """Count one request against every limit; in this instance's memory when Redis is unavailable or
        the breaker open."""
        try:
            return await self._breaker.call(lambda: self._check(limits, identifiers))
        except _FAILURES as exc:
            _count_failure(exc)
            count_guard_fallback("rate_limit", "memory")
            return await self._check(limits, identifiers, memory=True)

    def hit_many(self, checks: Sequence[LimitCheck]) -> Coroutine[Any, Any, Verdict]:
        """Count one request against every limit of every check in one Redis round trip (in this
        instance's memory when Redis is unavailable).

        The commands are queued when this is called, not when its result is awaited: commands queued
        before the await (a cache read) share the round trip.

        Each limit is taken atomically (a refused one is not counted) but the limits are not taken as a
        whole: a request refused by one may still count against the others of the same call.
        """
        hits = [(item, identifiers) for limits, identifiers in checks for item in limits]
        return self._verdict(hits, self._batcher.submit(self._acquire_commands(hits)))


#: ``wrap_exceptions=True``: the library's calls fail mostly with ``StorageError``.
_FAILURES = (BreakerOpenError, StorageError, *REDIS_ERRORS)


def _count_failure(exc: Exception) -> None:
    if isinstance(exc, BreakerOpenError):
        REDIS_FAILURES.labels(operation="rate_limit", reason="breaker_open").inc()
    else:
        REDIS_FAILURES.labels(operation="rate_limit", reason=type(exc).__name__).inc()
        log.warning("rate limiter unavailable, counting in this instance's memory: %s", type(exc).__name__)


def parse_limits(notation: str) -> list[RateLimitItem]:
    return parse_many(notation)
