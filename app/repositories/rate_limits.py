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
from limits.aio.storage.redis.bridge import RedisBridge
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import NoScriptError

from app.core.metrics import REDIS_FAILURES
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

    async def aclose(self) -> None:
        await close_limits_storage(self._storage)

    async def _check(self, limits: list[RateLimitItem], identifiers: tuple[str, ...]) -> Verdict:
        for item in limits:
            if not await self._limiter.hit(item, *identifiers):
                return await self._refused(item, identifiers)
        return Verdict(True)

    async def _refused(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Verdict:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))

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
                    return await self._breaker.call(partial(self._refused, item, identifiers))
            return Verdict(True)
        except _FAILURES as exc:
            return _fail_open(exc)

    async def hit(self, limits: list[RateLimitItem], *identifiers: str) -> Verdict:
        """Count one request against every limit; fail open when Redis is unavailable or the breaker open."""
        try:
            return await self._breaker.call(lambda: self._check(limits, identifiers))
        except _FAILURES as exc:
            return _fail_open(exc)

    def hit_many(self, checks: Sequence[LimitCheck]) -> Coroutine[Any, Any, Verdict]:
        """Count one request against every limit of every check in one Redis round trip; fails open.

        The commands are queued when this is called, not when its result is awaited: commands queued
        before the await (a cache read) share the round trip.

        Each limit is taken atomically (a refused one is not counted) but the limits are not taken as a
        whole: a request refused by one may still count against the others of the same call.
        """
        hits = [(item, identifiers) for limits, identifiers in checks for item in limits]
        return self._verdict(hits, self._batcher.submit(self._acquire_commands(hits)))


#: ``wrap_exceptions=True``: the library's calls fail mostly with ``StorageError``.
_FAILURES = (BreakerOpenError, StorageError, *REDIS_ERRORS)


def _fail_open(exc: Exception) -> Verdict:
    if isinstance(exc, BreakerOpenError):
        REDIS_FAILURES.labels(operation="rate_limit", reason="breaker_open").inc()
    else:
        REDIS_FAILURES.labels(operation="rate_limit", reason=type(exc).__name__).inc()
        log.warning("rate limiter unavailable, allowing: %s", type(exc).__name__)
    return Verdict(True)


def parse_limits(notation: str) -> list[RateLimitItem]:
    return parse_many(notation)
