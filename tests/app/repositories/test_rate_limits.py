"""RateLimiter.hit_many: several limits in one round trip on the library's own sliding-window counters,
so ``hit`` and ``limits``' own strategy read the same numbers; with Redis down, the same limits in this
instance's memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis as sync_redis
import redis.asyncio as redis
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.metrics import REGISTRY
from app.repositories.breaker import RedisBreaker
from app.repositories.rate_limits import RateLimiter, Verdict, parse_limits
from scripts.services import free_port
from tests.app.conftest import Backends, MakeClient, Mint
from tests.waiting import wait_until

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


# --- Redis down: the limits count in this instance's memory (issue 18) ----------------------------------


def fallbacks() -> float:
    labels = {"guard": "rate_limit", "mode": "memory"}
    return REGISTRY.get_sample_value("pog_guard_fallback_total", labels) or 0.0


def test_redis_down_the_user_limit_holds_on_one_instance(make_client: MakeClient, auth: Mint) -> None:
    """Failed before issue 18: 150 of 150 requests passed a 120/minute user limit with Redis down.

    The window is an hour here, the same 120 as the default's minute, so that it cannot slide during the
    test and the count is exact."""
    client = make_client(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_user="120/hour",
        rate_limit_ip="100000/minute",
        redis_breaker_threshold=3,
        redis_breaker_recovery_s=60,
    )
    alice = auth("alice")
    before = fallbacks()
    statuses = [client.get("/v1/me", headers=alice).status_code for _ in range(150)]
    print(f"\nRedis down, 150 requests against 120/hour: {statuses.count(200)} passed")
    assert statuses.count(200) == 120
    assert statuses.count(429) == 30
    # Both the first request's separate hits (ip, then user) and later ones' hit_many counted in memory.
    assert fallbacks() - before >= 150
    refused = client.get("/v1/me", headers=alice)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert client.get("/v1/me", headers=auth("bob")).status_code == 200


def unreachable_limiter(body: Callable[[RateLimiter], Awaitable[T]]) -> T:
    async def scenario() -> T:
        client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
        try:
            return await body(RateLimiter(client, RedisBreaker(2, 60)))
        finally:
            await client.aclose()

    return asyncio.run(scenario())


def test_without_redis_hit_and_hit_many_share_the_memory_counters() -> None:
    """Failed before issue 18: every call was allowed while Redis was down."""
    limits = parse_limits("3/minute")
    before = fallbacks()

    async def body(limiter: RateLimiter) -> list[bool]:
        return [
            (await limiter.hit(limits, "user", "bob")).allowed,  # a connection error
            (await limiter.hit_many([(limits, ("user", "bob"))])).allowed,  # the breaker opens
            (await limiter.hit(limits, "user", "bob")).allowed,  # the breaker is open
            (await limiter.hit_many([(limits, ("user", "bob"))])).allowed,
            (await limiter.hit(limits, "user", "carol")).allowed,
        ]

    assert unreachable_limiter(body) == [True, True, True, False, True]
    assert fallbacks() - before == 5


def test_without_redis_hit_many_counts_every_limit_as_redis_would() -> None:
    ip_limits, user_limits = parse_limits("5/minute"), parse_limits("2/minute")

    async def body(limiter: RateLimiter) -> tuple[list[Verdict], list[int]]:
        checks = [(ip_limits, ("ip", "203.0.113.7")), (user_limits, ("user", "alice"))]
        verdicts = [await limiter.hit_many(checks) for _ in range(3)]
        memory = limiter._memory  # this instance's counters
        remaining = [
            (await memory.get_window_stats(item, *ids)).remaining for limits, ids in checks for item in limits
        ]
        return verdicts, remaining

    verdicts, remaining = unreachable_limiter(body)
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert 1 <= verdicts[-1].retry_after_s <= 60
    # As in Redis: the refused 3rd request still counted against the IP limit.
    assert remaining == [2, 0]


def test_the_memory_counters_forget_identifiers_after_their_windows() -> None:
    """Memory stays bounded during an outage: a key lives twice its window, then the storage drops it."""
    limits = parse_limits("1/second")
    loop = asyncio.new_event_loop()
    client = redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        limiter = RateLimiter(client, RedisBreaker(1, 60))
        storage = limiter._memory.storage
        assert isinstance(storage, MemoryStorage)
        for n in range(50):
            loop.run_until_complete(limiter.hit(limits, "user", f"player-{n}"))
        assert len(storage.storage) == 50

        def forgotten() -> bool:
            # Each hit schedules the storage's own sweep of expired keys; the probe's key stays.
            loop.run_until_complete(limiter.hit(limits, "user", "probe"))
            return len(storage.storage) <= 2

        wait_until(forgotten, timeout=10, interval=0.2, what=lambda: f"{len(storage.storage)} keys left")
    finally:
        loop.run_until_complete(client.aclose())
        loop.close()
