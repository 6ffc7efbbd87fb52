"""Redis as a cache (never the only copy of anything). A Redis failure is a miss, never an error.

Every call goes through the Redis circuit breaker (reads through the batcher's). Reads are batched with
the Redis commands of concurrent requests (``RedisBatcher``: one pipeline per event-loop iteration). Keys
carry no hash tag: on a Redis Cluster they spread over the shards by key (a several-key delete is one
``DEL`` per slot there).

Invalidations that Redis refused (issue 18) are kept twice: in this process (``_pending``, the fast path,
retried before the next cache read) and in Firestore (``DurableInvalidations``), so that they survive this
instance and reach the others, whose Redis may hold the same stale copy:

- An instance that saw Redis fail (any failed call through the breaker, by anyone in this process, or the
  breaker closing again) *catches up* before it serves a cached read again: it ``DEL``\\ s its own pending
  keys (the first Redis call, so that nothing reaches Firestore while Redis is still down), then every
  recorded key, then deletes those records. Until that succeeds every read is a miss (Firestore). A new
  instance catches up before its first cached read too. Staleness for it: none.
- Every instance also *sweeps* the records every ``POG_CACHE_INVALIDATION_SWEEP_S`` seconds (5): one
  query with a ``limit``, which returns nothing while Redis is healthy. The ``DEL`` is global, so the
  first sweep of any instance after Redis returns clears the stale copy for all of them: an instance that
  never saw Redis fail serves a copy cached before a write for at most one sweep interval (plus the
  query's latency) after Redis is back, instead of the entry's TTL (24 h for profiles).
- ``set`` does not cache a key whose invalidation is pending here (its own, or a record being applied):
  a copy read before the write could otherwise land after the ``DEL``.

Cost of the sweep: a query that matches nothing is billed as one document read, so N instances cost
N / S reads per second (100 instances every 5 s: 20 reads/s, about 1.7 M reads a day).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from app.core.metrics import (
    CACHE_INVALIDATIONS_APPLIED,
    CACHE_INVALIDATIONS_RECORDED,
    REDIS_FAILURES,
    count_cache_lookup,
)
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.cache_invalidations import PAGE, DurableInvalidations, PendingInvalidation
from app.repositories.clients import REDIS_ERRORS, RedisClient
from app.repositories.redis_batch import RedisBatcher

log = logging.getLogger("app.cache")

#: Keys whose invalidation failed, kept until Redis takes the delete (bounded: oldest dropped first).
MAX_PENDING_INVALIDATIONS = 10_000
#: Pages of records one catch-up applies at most before it gives up until the next read (or sweep).
MAX_CATCH_UP_PAGES = 25

_FAILURES = (*REDIS_ERRORS, BreakerOpenError)


def _reason(exc: BaseException) -> str:
    return "breaker_open" if isinstance(exc, BreakerOpenError) else type(exc).__name__


class RedisCache:
    def __init__(
        self,
        client: RedisClient,
        breaker: RedisBreaker,
        batcher: RedisBatcher | None = None,
        durable: DurableInvalidations | None = None,
    ) -> None:
        self._redis = client
        self._batcher = batcher or RedisBatcher(client, breaker)
        self._breaker = breaker
        self._pending: dict[str, None] = {}  # insertion-ordered set
        self._durable = durable
        # Set by any Redis failure (and at start): catch up before the next cached read. ``_epoch`` counts
        # the failures, so that a catch-up that overlapped one does not clear the flag, nor a GET in
        # flight across one serve its value.
        self._must_catch_up = durable is not None
        self._epoch = 0
        self._catch_up_task: asyncio.Task[bool] | None = None
        if durable is not None:
            breaker.on_failure(self._redis_failed)
            breaker.on_recovered(self._redis_failed)

    @property
    def pending_invalidations(self) -> int:
        return len(self._pending)

    @property
    def must_catch_up(self) -> bool:
        """True while cached reads are misses: a Redis failure was seen and the records not applied yet."""
        return self._must_catch_up

    def _redis_failed(self) -> None:
        self._epoch += 1
        if self._durable is not None:
            self._must_catch_up = True

    # --- reads ------------------------------------------------------------------------------------

    def get(self, key: str) -> Coroutine[Any, Any, bytes | None]:
        """The cached value, or None on a miss or a Redis failure.

        The GET is queued when this is called (unless invalidations must be applied first), not when its
        result is awaited: commands queued before the await (rate limits) share the round trip.
        """
        if self._pending or self._must_catch_up:
            return self._get_after_catch_up(key)
        return self._lookup(key, self._batcher.submit([("GET", key)]), self._epoch)

    async def _get_after_catch_up(self, key: str) -> bytes | None:
        if not await self._catch_up():
            # Skipped: Redis may still hold a copy older than a write this instance has not applied.
            reason = "breaker_open" if self._breaker.state == "opened" else "not_caught_up"
            REDIS_FAILURES.labels(operation="get", reason=reason).inc()
            return self._count(key, None)
        return await self._lookup(key, self._batcher.submit([("GET", key)]), self._epoch)

    async def _lookup(self, key: str, pending: asyncio.Future[list[Any]], epoch: int) -> bytes | None:
        try:
            (value,) = await pending
        except _FAILURES as exc:
            self._redis_failed()
            REDIS_FAILURES.labels(operation="get", reason=_reason(exc)).inc()
            if not isinstance(exc, BreakerOpenError):
                log.warning("cache get failed: %s", type(exc).__name__)
            value = None
        if isinstance(value, Exception):  # a command error, e.g. WRONGTYPE: a miss
            REDIS_FAILURES.labels(operation="get", reason=type(value).__name__).inc()
            value = None
        if epoch != self._epoch:
            value = None  # Redis failed (or came back) while this GET was in flight: not applied yet
        return self._count(key, value)

    @staticmethod
    def _count(key: str, value: object) -> bytes | None:
        hit = isinstance(value, bytes)
        count_cache_lookup(key, hit)
        return value if isinstance(value, bytes) else None

    # --- writes -----------------------------------------------------------------------------------

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if key in self._pending:
            return  # an older copy may still be in Redis: leave it to the retried delete
        try:
            await self._breaker.call(lambda: self._redis.set(key, value, ex=ttl_s))
        except _FAILURES as exc:
            self._redis_failed()
            REDIS_FAILURES.labels(operation="set", reason=_reason(exc)).inc()
            if not isinstance(exc, BreakerOpenError):
                log.warning("cache set failed: %s", type(exc).__name__)

    async def delete(self, *keys: str) -> None:
        try:
            await self._breaker.call(lambda: self._redis.delete(*keys))
        except _FAILURES as exc:
            self._redis_failed()
            REDIS_FAILURES.labels(operation="invalidate", reason=_reason(exc)).inc()
            self._remember(keys)
            await self._record(keys)
            # The write has committed; the request succeeds. Logged (with a count) so it can be alerted on.
            log.error(
                "cache invalidation failed: %s",
                _reason(exc),
                extra={"event": "cache_invalidation_failed", "keys": len(keys)},
            )

    def _remember(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._pending[key] = None
        while len(self._pending) > MAX_PENDING_INVALIDATIONS:
            dropped = next(iter(self._pending))
            del self._pending[dropped]
            log.error("pending cache invalidation dropped", extra={"event": "cache_invalidation_dropped"})

    async def _record(self, keys: Sequence[str]) -> None:
        if self._durable is None:
            return
        try:
            await self._durable.record(keys)
        except Exception:  # the write has committed: the request must not fail for its cache
            log.exception(
                "cache invalidation not recorded in firestore: only this instance will retry it",
                extra={"event": "cache_invalidation_unrecorded", "keys": len(keys)},
            )
            return
        CACHE_INVALIDATIONS_RECORDED.inc(len(keys))

    # --- applying pending invalidations -----------------------------------------------------------

    async def _flush_pending(self, probe: bool = False) -> bool:
        """``DEL`` this process's pending keys (a ``PING`` when there are none and ``probe``)."""
        keys = list(self._pending)
        if not keys and not probe:
            return True
        try:
            if keys:
                await self._breaker.call(lambda: self._redis.delete(*keys))
            else:
                await self._breaker.call(self._redis.ping)
        except _FAILURES as exc:
            self._redis_failed()
            operation = "invalidate" if keys else "catch_up"
            REDIS_FAILURES.labels(operation=operation, reason=_reason(exc)).inc()
            return False
        for key in keys:
            self._pending.pop(key, None)
        if keys:
            log.info(
                "retried %d cache invalidation(s)", len(keys), extra={"event": "cache_invalidation_retried"}
            )
        return True

    async def _catch_up(self) -> bool:
        """One catch-up at a time per process: concurrent reads wait for the same one."""
        task = self._catch_up_task
        if task is None or task.done():
            task = self._catch_up_task = asyncio.get_running_loop().create_task(self._run_catch_up())
        return await asyncio.shield(task)

    async def _run_catch_up(self) -> bool:
        epoch = self._epoch
        if not self._must_catch_up:
            return await self._flush_pending()
        # Redis first: while it is still down this costs no Firestore read (an open breaker refuses at once).
        if not await self._flush_pending(probe=True):
            return False
        if not await self._apply_durable("catch_up"):
            return False
        if epoch == self._epoch:
            self._must_catch_up = False
            log.info("cache caught up with recorded invalidations", extra={"event": "cache_caught_up"})
        return True

    async def sweep(self) -> bool:
        """Apply the invalidations other instances recorded (the periodic sweep); False when Redis or
        Firestore failed (the records stay for the next sweep)."""
        if self._durable is None:
            return True
        if self._must_catch_up:
            return await self._catch_up()
        return await self._apply_durable("sweep")

    async def sweep_forever(self, interval_s: float, stop: asyncio.Event) -> None:
        """``sweep`` now and then every ``interval_s`` seconds until ``stop`` is set (the API's lifespan).

        Stopping waits for a sweep in flight instead of cancelling it: a Firestore call cancelled mid-way
        leaves gRPC a callback for a loop that is closing (a traceback in the shutdown's log)."""
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception:  # a sweep must never end the loop
                log.exception("cache invalidation sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def _apply_durable(self, trigger: str) -> bool:
        durable = self._durable
        if durable is None:
            return True
        for _ in range(MAX_CATCH_UP_PAGES):
            page = await _read_records(durable)
            if page is None:
                return False
            if not page:
                return True
            self._remember([item.key for item in page])  # ``set`` skips them until the DEL went through
            if not await self._flush_pending():
                return False
            CACHE_INVALIDATIONS_APPLIED.labels(trigger=trigger).inc(len(page))
            log.warning(
                "applied %d recorded cache invalidation(s)",
                len(page),
                extra={"event": "cache_invalidation_applied", "keys": len(page), "trigger": trigger},
            )
            if not await _clear_records(durable, page):
                return len(page) < PAGE  # Redis is clean; the records go on a later sweep
            if len(page) < PAGE:
                return True
        return False


async def _read_records(durable: DurableInvalidations) -> list[PendingInvalidation] | None:
    try:
        return await durable.pending()
    except Exception:  # Firestore unreachable: reads stay misses, the records stay for later
        log.exception("reading recorded cache invalidations failed")
        return None


async def _clear_records(durable: DurableInvalidations, page: Sequence[PendingInvalidation]) -> bool:
    try:
        await durable.clear(page)
    except Exception:
        log.exception("clearing applied cache invalidation records failed")
        return False
    return True
