"""The analytics sink (app/repositories/analytics.py) on the real Pub/Sub emulator and redis-server.

Pub/Sub "down" here is a topic the emulator does not have (it refuses every publish at once) until the
test creates it; the emulator killed under API load is tests/app/repositories/test_analytics_flows.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import redis

from app.core.metrics import REGISTRY, render
from app.repositories.analytics import OUTBOX_KEY, PubSubSink, SessionMarks, Tuning, pubsub_publisher
from app.repositories.breaker import RedisBreaker
from app.repositories.clients import close_redis, redis_client
from scripts.services import free_port
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.pubsub import PubSubEmulator, Topic

TUNING = Tuning(publish_timeout_s=2.0, drain_interval_s=0.1, close_timeout_s=5.0)


def sample(result: str) -> float:
    return REGISTRY.get_sample_value("pog_analytics_events_total", {"result": result}) or 0.0


def envelope(n: int) -> dict[str, Any]:
    return {"event_id": f"test:{uuid.uuid4().hex}:{n}", "name": "store_viewed", "params": "{}"}


def encode(event: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(event), sort_keys=True).encode()


@asynccontextmanager
async def sink(
    backends: Backends, topic: str, *, outbox_max: int = 1000, redis_url: str | None = None
) -> AsyncIterator[PubSubSink]:
    overrides = {"redis_url": redis_url} if redis_url else {}
    client = redis_client(settings_for(backends, **overrides))
    sink = PubSubSink(
        pubsub_publisher(TUNING.batch_max), topic, client, RedisBreaker(5, 60), encode, outbox_max, TUNING
    )
    sink.start()
    try:
        yield sink
    finally:
        await sink.aclose()
        await close_redis(client)


async def until(check: Any, timeout_s: float = 30) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)  # polls a condition the sink's tasks on this loop make true

    await asyncio.wait_for(poll(), timeout_s)


def test_offered_events_are_published_with_their_event_id(
    backends: Backends, rds: redis.Redis, topic: Topic
) -> None:
    events = [envelope(n) for n in range(5)]
    published = sample("published")

    async def main() -> None:
        async with sink(backends, topic.topic) as s:
            s.offer(events)

    asyncio.run(main())  # aclose publishes what is queued
    topic.pull_until(5)
    assert topic.event_ids() == {e["event_id"] for e in events}
    assert sorted(json.loads(m.data)["event_id"] for m in topic.received) == sorted(
        e["event_id"] for e in events
    )
    assert sample("published") - published == 5
    assert rds.xlen(OUTBOX_KEY) == 0


def test_pubsub_down_sends_the_events_to_the_outbox_and_the_drain_publishes_them_when_it_returns(
    backends: Backends, rds: redis.Redis, pubsub: PubSubEmulator
) -> None:
    name = f"later-{uuid.uuid4().hex[:8]}"
    path = f"projects/{pubsub.project}/topics/{name}"  # not created yet: every publish is refused
    events = [envelope(n) for n in range(7)]
    outboxed = sample("outboxed")

    async def main() -> Topic:
        async with sink(backends, path) as s:
            s.offer(events)
            await until(lambda: rds.xlen(OUTBOX_KEY) == 7)
            assert s.down
            created = Topic(pubsub, *pubsub.create(name, f"{name}-pull"))
            await until(lambda: rds.xlen(OUTBOX_KEY) == 0)
            assert not s.down
            return created

    later = asyncio.run(main())
    assert sample("outboxed") - outboxed == 7
    later.pull_until(7)
    assert later.event_ids() == {e["event_id"] for e in events}
    assert b"pog_analytics_outbox_length 0.0" in render()


def test_a_full_outbox_drops_the_rest_and_counts_them(
    backends: Backends, rds: redis.Redis, pubsub: PubSubEmulator
) -> None:
    path = f"projects/{pubsub.project}/topics/missing-{uuid.uuid4().hex[:8]}"
    dropped, outboxed = sample("dropped"), sample("outboxed")

    async def main() -> None:
        async with sink(backends, path, outbox_max=4) as s:
            s.offer([envelope(n) for n in range(10)])
            await until(lambda: sample("dropped") - dropped == 6)

    asyncio.run(main())
    assert rds.xlen(OUTBOX_KEY) == 4
    assert sample("outboxed") - outboxed == 4
    assert sample("dropped") - dropped == 6
    assert f'pog_analytics_events_total{{result="dropped"}} {sample("dropped")}'.encode() in render()


def test_pubsub_and_redis_both_down_drop_and_count_without_raising(
    backends: Backends, pubsub: PubSubEmulator
) -> None:
    path = f"projects/{pubsub.project}/topics/missing-{uuid.uuid4().hex[:8]}"
    dropped = sample("dropped")

    async def main() -> None:
        async with sink(backends, path, redis_url=f"redis://127.0.0.1:{free_port()}/0") as s:
            s.offer([envelope(n) for n in range(3)])
            await until(lambda: sample("dropped") - dropped == 3)

    asyncio.run(main())
    assert sample("dropped") - dropped == 3


def test_a_full_queue_spills_to_the_outbox_without_blocking(
    backends: Backends, rds: redis.Redis, topic: Topic
) -> None:
    outboxed = sample("outboxed")
    events = [envelope(n) for n in range(5)]

    async def main() -> None:
        client = redis_client(settings_for(backends))
        tiny = Tuning(queue_max=2, publish_timeout_s=2.0, drain_interval_s=0.1)
        s = PubSubSink(pubsub_publisher(10), topic.topic, client, RedisBreaker(5, 60), encode, 100, tiny)
        s.offer(events)  # the loop has not run the publisher yet: 2 queued, 3 to the outbox
        await until(lambda: sample("outboxed") - outboxed == 3)
        await until(lambda: rds.xlen(OUTBOX_KEY) == 0)  # and the drain publishes them
        await s.aclose()
        await close_redis(client)

    asyncio.run(main())
    topic.pull_until(5)
    assert topic.event_ids() == {e["event_id"] for e in events}
    assert sample("outboxed") - outboxed == 3


def test_a_session_starts_once_per_mark_and_in_memory_while_redis_is_down(
    backends: Backends, rds: redis.Redis
) -> None:
    async def main() -> list[bool]:
        up = redis_client(settings_for(backends))
        down = redis_client(settings_for(backends, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
        marks, fallback = SessionMarks(up, RedisBreaker(5, 60)), SessionMarks(down, RedisBreaker(5, 60))
        try:
            return [
                await marks.first_in_session("alice"),
                await marks.first_in_session("alice"),
                await marks.first_in_session("bob"),
                await fallback.first_in_session("alice"),
                await fallback.first_in_session("alice"),
            ]
        finally:
            await close_redis(up)
            await close_redis(down)

    assert asyncio.run(main()) == [True, False, True, True, False]
    assert 0 < rds.ttl("analytics:session:alice") <= 1800
