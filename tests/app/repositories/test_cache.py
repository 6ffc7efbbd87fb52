"""RedisCache with durable invalidations (issue 18), two caches in one process standing for two instances.

The writer's Redis client points at a port nothing listens on (Redis is down for it alone, as in a
partition), the reader's at the real redis-server; both share the Firestore emulator. The cached copy
the reader serves stands for the copy cached before the writer's write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import redis
from google.cloud import firestore

from app.core.metrics import REGISTRY
from app.repositories.breaker import RedisBreaker
from app.repositories.cache import RedisCache
from app.repositories.cache_invalidations import COLLECTION, DurableInvalidations, record_id
from app.repositories.clients import close_firestore, close_redis, firestore_client, redis_client
from scripts.services import free_port
from tests.app.conftest import Backends, MakeClient, Mint, settings_for
from tests.waiting import wait_until

T = TypeVar("T")
KEY = "user:p1:profile"
KEY_ALICE = "user:alice:profile"


def dead_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@dataclass
class Instances:
    writer: RedisCache  # Redis is down for it
    reader: RedisCache
    reader_breaker: RedisBreaker


@asynccontextmanager
async def instances(backends: Backends) -> AsyncIterator[Instances]:
    async with AsyncExitStack() as stack:
        db = firestore_client(settings_for(backends))
        stack.push_async_callback(close_firestore, db)
        # The app's own client settings (short timeouts, no client retries).
        down = redis_client(settings_for(backends, redis_url=dead_redis_url()))
        up = redis_client(settings_for(backends))
        stack.push_async_callback(close_redis, down)
        stack.push_async_callback(close_redis, up)
        reader_breaker = RedisBreaker(threshold=5, recovery_s=60)
        writer = RedisCache(down, RedisBreaker(threshold=5, recovery_s=60), durable=DurableInvalidations(db))
        reader = RedisCache(up, reader_breaker, durable=DurableInvalidations(db))
        yield Instances(writer, reader, reader_breaker)


def run(backends: Backends, scenario: Callable[[Instances], Awaitable[T]]) -> T:
    async def main() -> T:
        async with instances(backends) as both:
            return await scenario(both)

    return asyncio.run(main())


def test_a_new_instance_applies_recorded_invalidations_before_its_first_cached_read(
    backends: Backends, rds: redis.Redis, db: firestore.Client
) -> None:
    """Failed before issue 18: a refused invalidation lived in the writer's memory only, so another
    instance served the copy cached before the write for up to the entry's TTL."""
    rds.set(KEY, b"old")

    async def scenario(both: Instances) -> bytes | None:
        await both.writer.delete(KEY)  # refused: recorded in Firestore
        return await both.reader.get(KEY)

    before = sample("pog_cache_invalidations_applied_total", trigger="catch_up")
    assert run(backends, scenario) is None
    assert rds.get(KEY) is None
    assert list(db.collection(COLLECTION).stream()) == []  # applied, then the record deleted
    assert sample("pog_cache_invalidations_applied_total", trigger="catch_up") == before + 1


def test_an_instance_that_saw_no_failure_drops_the_stale_copy_at_its_next_sweep(
    backends: Backends, rds: redis.Redis, db: firestore.Client
) -> None:
    """Failed before issue 18: the other instance served stale copies until their TTL ran out."""
    rds.set(KEY, b"old")

    async def scenario(both: Instances) -> tuple[bytes | None, bytes | None, bytes | None, bool]:
        first = await both.reader.get(KEY)  # caught up at its first read (nothing recorded yet)
        await both.writer.delete(KEY)
        # Staleness bound: until the reader's next sweep it still serves the copy (it saw nothing fail).
        before_sweep = await both.reader.get(KEY)
        swept = await both.reader.sweep()
        return first, before_sweep, await both.reader.get(KEY), swept

    recorded = sample("pog_cache_invalidations_recorded_total")
    applied = sample("pog_cache_invalidations_applied_total", trigger="sweep")
    first, before_sweep, after_sweep, swept = run(backends, scenario)
    assert (first, before_sweep, after_sweep, swept) == (b"old", b"old", None, True)
    assert rds.get(KEY) is None
    assert list(db.collection(COLLECTION).stream()) == []
    assert sample("pog_cache_invalidations_recorded_total") == recorded + 1
    assert sample("pog_cache_invalidations_applied_total", trigger="sweep") == applied + 1


def test_any_redis_failure_in_the_process_makes_the_next_cached_read_apply_the_records_first(
    backends: Backends, rds: redis.Redis
) -> None:
    """Failed before issue 18: after a Redis failure the reader served its cached copy of a key another
    instance had failed to invalidate meanwhile."""
    rds.set(KEY, b"old")

    async def scenario(both: Instances) -> tuple[bool, bytes | None, bool]:
        assert await both.reader.get(KEY) == b"old"
        # Another part of the reader's process (the rate limiter, say) fails a Redis call.
        lost = redis_client(settings_for(backends, redis_url=dead_redis_url()))
        try:
            await both.reader_breaker.call(lost.ping)
        except redis.ConnectionError:
            pass
        finally:
            await close_redis(lost)
        flagged = both.reader.must_catch_up
        await both.writer.delete(KEY)  # meanwhile, recorded by the writer
        value = await both.reader.get(KEY)
        return flagged, value, both.reader.must_catch_up

    flagged, value, still = run(backends, scenario)
    assert flagged
    assert value is None  # the record was applied before the read
    assert rds.get(KEY) is None
    assert not still


def test_a_refused_invalidation_stays_pending_in_the_writer_and_its_sets_of_that_key_are_skipped(
    backends: Backends, db: firestore.Client
) -> None:
    async def scenario(both: Instances) -> tuple[int, int]:
        await both.writer.delete(KEY, "user:p1:stats")
        failures = sample("pog_redis_failures_total", operation="set", reason="ConnectionError")
        await both.writer.set(KEY, b"older copy", 60)  # skipped: no Redis call at all
        after = sample("pog_redis_failures_total", operation="set", reason="ConnectionError")
        return both.writer.pending_invalidations, int(after - failures)

    pending, set_calls = run(backends, scenario)
    assert (pending, set_calls) == (2, 0)
    recorded = sorted(doc.to_dict()["key"] for doc in db.collection(COLLECTION).stream())  # type: ignore[index]
    assert recorded == ["user:p1:profile", "user:p1:stats"]


def test_the_api_sweeps_records_other_instances_wrote(
    make_client: MakeClient, auth: Mint, rds: redis.Redis, db: firestore.Client
) -> None:
    """Failed before issue 18: an instance that saw no Redis failure served the copy cached before another
    instance's write until the entry's TTL (24 h for profiles)."""
    client = make_client(cache_invalidation_sweep_s=0.2)
    alice = auth("alice")
    assert client.get("/v1/me", headers=alice).json()["display_name"] == "Player-alice"
    assert rds.exists(KEY_ALICE)
    # Another instance's write, whose DEL Redis refused: the profile changed and the key was recorded.
    db.collection("users").document("alice").update({"display_name": "Alice Elsewhere"})
    db.collection(COLLECTION).document(record_id(KEY_ALICE)).set(
        {"key": KEY_ALICE, "at": firestore.SERVER_TIMESTAMP}
    )
    assert client.get("/v1/me", headers=alice).json()["display_name"] == "Player-alice"  # until the sweep
    wait_until(
        lambda: client.get("/v1/me", headers=alice).json()["display_name"] == "Alice Elsewhere",
        timeout=10,
        interval=0.2,  # under the 120/minute rate limit for the whole timeout
        what="the sweep never applied the record",
    )
    assert client.get("/v1/me", headers=alice).json()["display_name"] == "Alice Elsewhere"
    wait_until(lambda: not list(db.collection(COLLECTION).stream()), timeout=10, what="record left")
