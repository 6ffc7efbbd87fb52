"""RateLimiter.hit_many: several limits in one round trip on the library's own sliding-window counters,
so ``hit`` and ``limits``' own strategy read the same numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis as sync_redis
import redis.asyncio as redis
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from app.repositories.breaker import RedisBreaker
from app.repositories.rate_limits import RateLimiter, Verdict, parse_limits
from tests.app.conftest import Backends

T = TypeVar("T")


def with_limiter(url: str, body: Callable[[RateLimiter], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client = redis.Redis.from_url(url)
        try:
            return await body(RateLimiter(client, RedisBreaker(5, 10)))
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_hit_many_counts_every_limit_once(backends: Backends, clean: None) -> None:
    ip_limits, user_limits = parse_limits("5/minute;50/hour"), parse_limits("3/minute")

    async def body(limiter: RateLimiter) -> tuple[list[Verdict], list[int]]:
        checks = [(ip_limits, ("ip", "203.0.113.7")), (user_limits, ("user", "alice"))]
        verdicts = [await limiter.hit_many(checks) for _ in range(4)]
        strategy = SlidingWindowCounterRateLimiter(limiter._storage)  # the library's own view
        remaining = [
            (await strategy.get_window_stats(item, *ids)).remaining
            for limits, ids in checks
            for item in limits
        ]
        return verdicts, remaining

    verdicts, remaining = with_limiter(backends.redis_url, body)
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert 1 <= verdicts[-1].retry_after_s <= 60
    # The 4th request was refused by the user limit; the IP limits still counted it (documented).
    assert remaining == [1, 46, 0]


def test_hit_and_hit_many_share_counters(backends: Backends, clean: None) -> None:
    limits = parse_limits("3/minute")

    async def body(limiter: RateLimiter) -> list[bool]:
        return [
            (await limiter.hit(limits, "user", "bob")).allowed,
            (await limiter.hit_many([(limits, ("user", "bob"))])).allowed,
            (await limiter.hit(limits, "user", "bob")).allowed,
            (await limiter.hit_many([(limits, ("user", "bob"))])).allowed,
            (await limiter.hit(limits, "user", "carol")).allowed,
        ]

    assert with_limiter(backends.redis_url, body) == [True, True, True, False, True]


def test_hit_many_loads_the_script_into_a_flushed_redis(backends: Backends, clean: None) -> None:
    limits = parse_limits("2/minute")

    async def body(limiter: RateLimiter) -> list[bool]:
        first = (await limiter.hit_many([(limits, ("ip", "x"))])).allowed
        with sync_redis.Redis.from_url(backends.redis_url) as direct:
            direct.script_flush()
        rest = [(await limiter.hit_many([(limits, ("ip", "x"))])).allowed for _ in range(2)]
        return [first, *rest]

    # Counted exactly once per call across the reload: the retry after NOSCRIPT does not double count.
    assert with_limiter(backends.redis_url, body) == [True, True, False]
