"""RedisBatcher against a real redis-server: concurrent callers share one pipeline, errors stay with
their own caller, a connection failure reaches every caller, a cancelled caller harms no one."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
import redis as sync_redis
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

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
