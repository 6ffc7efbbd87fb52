"""RedisBatcher against a real redis-server: concurrent callers share one pipeline, errors stay with
their own caller, a connection failure reaches every caller, a cancelled caller harms no one, reads queued
by one coroutine share a round trip, and the breaker counts a failed round trip once."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis as sync_redis
import redis.asyncio as redis
from limits.aio.storage.redis.bridge import RedisBridge
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from app.repositories.breaker import RedisBreaker
from app.repositories.cache import RedisCache
from app.repositories.rate_limits import RateLimiter, parse_limits
from app.repositories.redis_batch import RedisBatcher
from scripts.services import free_port
from tests.app.conftest import Backends

T = TypeVar("T")


@pytest.fixture
def url(backends: Backends, clean: None) -> str:
    with sync_redis.Redis.from_url(backends.redis_url) as r:
        r.set("a", b"1")
        r.set("b", b"2")
        r.rpush("list", b"x")
    return backends.redis_url


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def test_concurrent_callers_share_one_connection(url: str) -> None:
    async def scenario() -> tuple[list[list[object]], int]:
        client = redis.Redis.from_url(url)
        batcher = RedisBatcher(client)
        results = await asyncio.gather(*(batcher.execute([("GET", "a"), ("GET", "b")]) for _ in range(50)))
        connections = len(client.connection_pool._available_connections)
        await client.aclose()
        return list(results), connections

    results, connections = run(scenario())
    assert results == [[b"1", b"2"]] * 50
    assert connections == 1  # 100 commands of 50 callers: one pipeline, one connection


def test_a_lone_command_is_sent_without_waiting_for_company(url: str) -> None:
    async def scenario() -> object:
        client = redis.Redis.from_url(url)
        try:
            return await RedisBatcher(client).execute([("GET", "a")])
        finally:
            await client.aclose()

    assert run(scenario()) == [b"1"]


def test_a_command_error_reaches_only_its_caller(url: str) -> None:
    async def scenario() -> list[object]:
        client = redis.Redis.from_url(url)
        batcher = RedisBatcher(client)
        outcomes = await asyncio.gather(
            batcher.execute([("GET", "a")]),
            batcher.execute([("GET", "list"), ("GET", "b")]),  # WRONGTYPE on a list
            batcher.execute([("GET", "b")]),
            return_exceptions=True,
        )
        await client.aclose()
        return list(outcomes)

    first, failed, third = run(scenario())
    assert first == [b"1"]
    assert isinstance(failed, ResponseError)
    assert "WRONGTYPE" in str(failed)
    assert third == [b"2"]


def test_a_connection_failure_reaches_every_caller() -> None:
    async def scenario() -> list[object]:
        client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
        batcher = RedisBatcher(client)
        outcomes = await asyncio.gather(
            *(batcher.execute([("GET", "a")]) for _ in range(3)), return_exceptions=True
        )
        await client.aclose()
        return list(outcomes)

    outcomes = run(scenario())
    assert len(outcomes) == 3
    assert all(isinstance(o, RedisConnectionError) for o in outcomes)


def test_a_cancelled_caller_leaves_the_others_their_answers(url: str) -> None:
    async def scenario() -> tuple[list[object], bool]:
        client = redis.Redis.from_url(url)
        batcher = RedisBatcher(client)
        doomed = asyncio.ensure_future(batcher.execute([("GET", "a")]))
        others = [asyncio.ensure_future(batcher.execute([("GET", "b")])) for _ in range(3)]
        await asyncio.sleep(0)  # every caller has queued its command
        doomed.cancel()
        results = await asyncio.gather(*others)
        await client.aclose()
        return list(results), doomed.cancelled()

    results, cancelled = run(scenario())
    assert results == [[b"2"]] * 3
    assert cancelled


class PipelineCounter:
    """Counts the round trips a client makes: pipelines, and lone commands sent outside one."""

    def __init__(self, client: redis.Redis) -> None:
        self.pipelines: list[int] = []
        self.lone = 0
        pipeline, execute_command = client.pipeline, client.execute_command

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            execute = pipe.execute

            async def counted_execute(*a: Any, **kw: Any) -> Any:
                self.pipelines.append(len(pipe.command_stack))
                return await execute(*a, **kw)

            pipe.execute = counted_execute  # type: ignore[method-assign]
            return pipe

        async def counted_command(*args: Any, **kwargs: Any) -> Any:
            self.lone += 1
            return await execute_command(*args, **kwargs)

        client.pipeline = counted_pipeline  # type: ignore[method-assign]
        client.execute_command = counted_command  # type: ignore[method-assign]


def test_submissions_of_one_coroutine_share_one_pipeline_without_tasks(url: str) -> None:
    async def scenario() -> tuple[list[object], list[int], int]:
        client = redis.Redis.from_url(url)
        counter = PipelineCounter(client)
        batcher = RedisBatcher(client)
        first = batcher.submit([("GET", "a")])  # queued at once: nothing awaited in between
        second = batcher.submit([("GET", "list"), ("GET", "b")])
        results = [await first, await second]
        await client.aclose()
        return results, counter.pipelines, counter.lone

    (first, second), pipelines, lone = run(scenario())
    assert first == [b"1"]
    wrongtype, b = second  # type: ignore[misc]
    assert isinstance(wrongtype, ResponseError)  # a command's error is a value of its own submission
    assert b == b"2"
    assert (pipelines, lone) == ([3], 0)


def test_rate_limits_and_a_cache_read_queued_together_take_one_round_trip(url: str) -> None:
    async def scenario() -> tuple[bool, bytes | None, list[int], int]:
        client = redis.Redis.from_url(url)
        breaker = RedisBreaker(5, 10)
        batcher = RedisBatcher(client, breaker)
        limiter = RateLimiter(client, breaker, batcher=batcher)
        cache = RedisCache(client, breaker, batcher=batcher)
        await client.script_load(RedisBridge.SCRIPT_ACQUIRE_SLIDING_WINDOW)
        counter = PipelineCounter(client)
        verdict = limiter.hit_many(
            [(parse_limits("5/minute"), ("ip", "x")), (parse_limits("3/minute"), ("u", "y"))]
        )
        cached = cache.get("a")
        allowed = (await verdict).allowed
        value = await cached
        await client.aclose()
        return allowed, value, counter.pipelines, counter.lone

    allowed, value, pipelines, lone = run(scenario())
    assert allowed
    assert value == b"1"
    assert (pipelines, lone) == ([3], 0)  # two EVALSHA and one GET


def test_the_breaker_counts_a_failed_batch_once_and_then_fails_batches_without_a_connection() -> None:
    async def scenario() -> tuple[list[str], list[str], int]:
        client = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
        breaker = RedisBreaker(threshold=2, recovery_s=60)
        batcher = RedisBatcher(client, breaker)
        counter = PipelineCounter(client)
        outcomes, states = [], []
        for _ in range(3):
            batch = await asyncio.gather(
                *(batcher.execute([("GET", "a"), ("GET", "b")]) for _ in range(10)), return_exceptions=True
            )
            outcomes.append({type(o).__name__ for o in batch}.pop())
            states.append(breaker.state)
        await client.aclose()
        return outcomes, states, len(counter.pipelines)

    outcomes, states, pipelines = run(scenario())
    # Ten callers in one failed round trip are one failure: the breaker opens on the second batch.
    assert outcomes == ["ConnectionError", "ConnectionError", "BreakerOpenError"]
    assert states == ["closed", "opened", "opened"]
    assert pipelines == 2  # the third batch never reached for a connection
