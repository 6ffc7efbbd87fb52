"""Analytics events to Pub/Sub off the request path, with a durable outbox in Redis (issue 21).

Analytics FAILS OPEN: it never fails nor slows a request. ``offer`` only puts the envelopes on a bounded
in-process queue (no I/O, no await, no exception); a background task publishes them with
google-cloud-pubsub's batching publisher, never inside a Firestore transaction (the services emit after
their commit). Why open: an event is a measurement, not a record of the game: the ledger, the games and the
audit log are the truth, and a finish or a purchase refused because a metric could not be written would
cost players what the metric is about. What is lost is counted instead.

When Pub/Sub does not answer (down, a timeout) the events wait in a Redis stream, ``analytics:outbox``
(shared by every instance, bounded at ``outbox_max`` entries); the drain publishes from it once Pub/Sub
answers again and deletes only the entries Pub/Sub acknowledged. Delivery is at least once (an instance may
publish an entry and die before deleting it): ``event_id`` is the deduplication key downstream. An event
that neither Pub/Sub nor the outbox takes (the outbox full, Redis down too) is dropped and counted:
``pog_analytics_events_total{result="dropped"}`` (alert: monitoring/alerts/analytics-dropped.yaml).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from app.core.metrics import count_analytics, set_analytics_outbox
from app.repositories.breaker import BreakerOpenError, RedisBreaker
from app.repositories.clients import REDIS_ERRORS, RedisClient

log = logging.getLogger("app.analytics")

OUTBOX_KEY = "analytics:outbox"
#: One drain at a time across instances (two would publish the same entries twice: harmless, wasteful).
DRAIN_LOCK_KEY = "analytics:outbox:drain"
#: ``session_started``'s marks: ``analytics:session:{uid}``, set NX for ``SESSION_S``.
SESSION_KEY = "analytics:session:{uid}"
SESSION_S = 1800

#: Adds what fits under the bound and returns how many it added: an event refused here is counted as
#: dropped, where ``MAXLEN ~`` alone would trim the oldest ones uncounted (it stays as the hard bound).
OUTBOX_SCRIPT = """
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
local added = 0
for i = 2, #ARGV do
  if added >= room then break end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
  added = added + 1
end
return added
"""

UNLOCK_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Envelope = Mapping[str, Any]


class Publisher(Protocol):
    """What this module uses of ``google.cloud.pubsub_v1.PublisherClient``."""

    def publish(
        self, topic: str, data: bytes, *, retry: Any, timeout: float, event_id: str
    ) -> concurrent.futures.Future[str]: ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Tuning:
    #: Envelopes waiting in this process for the publisher; beyond, ``offer`` sends them to the outbox.
    queue_max: int = 10_000
    #: Envelopes taken from the queue (or the outbox) per publish round.
    batch_max: int = 500
    #: A publish that has no answer in this time failed: the events go to the outbox.
    publish_timeout_s: float = 5.0
    #: How often the outbox's length is read and, when it holds events, a drain tried.
    drain_interval_s: float = 1.0
    #: Publish rounds in flight at once.
    in_flight_max: int = 8
    #: Outbox writes of a full queue in flight at once; beyond, the events are dropped.
    spill_max: int = 64
    #: What ``aclose`` waits for the queue's last events (Cloud Run allows 10 s after SIGTERM).
    close_timeout_s: float = 5.0


#: How long the publisher holds a message to batch it with others. Each publish call costs the process
#: about a millisecond of CPU whatever its size (bench/README.md, analytics): at 0.05 s a game's two
#: events went in two calls; half a second gathers a busy instance's events into one, and a delay of half
#: a second means nothing to a warehouse.
PUBLISH_MAX_LATENCY_S = 0.5


def pubsub_publisher(batch_max: int, max_latency_s: float = PUBLISH_MAX_LATENCY_S) -> Publisher:
    """The batching publisher (``PUBSUB_EMULATOR_HOST``, when set, points it at the emulator)."""
    # Imported only when analytics is on (a large import); the library ships no type information.
    pubsub_v1: Any = importlib.import_module("google.cloud.pubsub_v1")
    settings = pubsub_v1.types.BatchSettings(max_messages=batch_max, max_latency=max_latency_s)
    publisher: Publisher = pubsub_v1.PublisherClient(batch_settings=settings)
    return publisher


def _retry(timeout_s: float) -> Any:
    from google.api_core.retry import Retry

    # The library's default retries a publish for 600 s: here a publish that fails for publish_timeout_s
    # goes to the outbox, whose drain is the retry.
    return Retry(initial=0.1, maximum=1.0, multiplier=2.0, timeout=timeout_s)


class PubSubSink:
    """The ``EventSink`` of app/services/analytics.py: Pub/Sub, then the Redis outbox, then dropped."""

    def __init__(
        self,
        publisher: Publisher,
        topic: str,
        redis: RedisClient,
        breaker: RedisBreaker,
        encode: Callable[[Envelope], bytes],
        outbox_max: int,
        tuning: Tuning | None = None,
    ) -> None:
        self._publisher = publisher
        self._topic = topic
        self._redis = redis
        self._breaker = breaker
        self._encode = encode
        self._outbox_max = outbox_max
        self._tuning = tuning or Tuning()
        self._retry = _retry(self._tuning.publish_timeout_s)
        self._add = redis.register_script(OUTBOX_SCRIPT)
        self._unlock = redis.register_script(UNLOCK_SCRIPT)
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue(self._tuning.queue_max)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._in_flight: asyncio.Semaphore | None = None
        #: A batch the publish loop held when it was cancelled (aclose delivers it).
        self._held: list[Envelope] = []
        self._stopping = asyncio.Event()
        self._closed = False
        #: Pub/Sub failed last: new events go straight to the outbox and the drain probes with its oldest.
        self.down = False

    # --- the request path -------------------------------------------------------------------------

    def offer(self, events: Sequence[Envelope]) -> None:
        """Queues the envelopes; never blocks, never raises (a full queue sends them to the outbox)."""
        try:
            if self._closed:
                count_analytics("dropped", len(events))
                return
            self.start()
            spill: list[Envelope] = []
            for event in events:
                try:
                    self._queue.put_nowait(event)
                except asyncio.QueueFull:
                    spill.append(event)
            if spill:
                self._spill(spill)
        except Exception:  # fails open: see the module's docstring
            log.exception("analytics offer failed")
            count_analytics("dropped", len(events))

    def _spill(self, events: list[Envelope]) -> None:
        spilling = sum(1 for task in self._tasks if task.get_name() == "analytics-spill")
        if spilling >= self._tuning.spill_max or not self._loops:  # too many writes, or no loop to run one
            count_analytics("dropped", len(events))
            return
        self._spawn(self.to_outbox(events), "analytics-spill")

    def _spawn(self, work: Any, name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)  # the loop holds tasks weakly
        task.add_done_callback(self._tasks.discard)
        return task

    # --- the background -----------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the publisher and the drain on the running loop (the API's lifespan; a job's first
        ``offer``); once."""
        if self._loops or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: the events wait in the queue for one
            return
        self._in_flight = asyncio.Semaphore(self._tuning.in_flight_max)
        self._loops = [
            loop.create_task(self._publish_forever(), name="analytics-publish"),
            loop.create_task(self._drain_forever(), name="analytics-drain"),
        ]

    async def _publish_forever(self) -> None:
        assert self._in_flight is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._tuning.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._in_flight.acquire()
            except asyncio.CancelledError:
                # Closing while every slot is busy: the batch taken from the queue goes to aclose, which
                # delivers it with the rest (cancelled here it would be lost: neither published nor outboxed).
                self._held = batch
                raise
            task = self._spawn(self._deliver(batch), "analytics-deliver")
            task.add_done_callback(lambda _task: self._release())

    def _release(self) -> None:
        if self._in_flight is not None:
            self._in_flight.release()

    async def _deliver(self, batch: list[Envelope]) -> None:
        if self.down:  # spares each batch the timeout while Pub/Sub is known to be down
            await self.to_outbox(batch)
            return
        try:
            failed = await self.publish(batch)
        except asyncio.CancelledError:
            # aclose ran out of time waiting for Pub/Sub: the batch waits in the outbox (what Pub/Sub did
            # take too: at least once, the event id deduplicates).
            await self.to_outbox(batch)
            raise
        if failed:
            self.down = True
            await self.to_outbox(failed)

    async def publish(self, events: Sequence[Envelope]) -> list[Envelope]:
        """Publishes the events; returns those Pub/Sub did not acknowledge (an encoding error drops one)."""
        pending: list[tuple[Envelope, asyncio.Future[str]]] = []
        failed: list[Envelope] = []
        reason = ""
        for event in events:
            try:
                data = self._encode(event)
            except Exception:  # a bad envelope is a bug: it would fail again from the outbox
                log.exception("analytics event not encodable: %s", event.get("name"))
                count_analytics("dropped")
                continue
            try:
                future = self._publisher.publish(
                    self._topic,
                    data,
                    retry=self._retry,
                    timeout=self._tuning.publish_timeout_s,
                    event_id=str(event["event_id"]),
                )
            except Exception:  # the client refuses (stopped, a message too large): not published
                failed.append(event)
                continue
            pending.append((event, asyncio.wrap_future(future)))
        if pending:
            # The retry's timeout bounds each future; this bounds them all (the library's threads answer).
            done, _ = await asyncio.wait([f for _e, f in pending], timeout=self._tuning.publish_timeout_s + 5)
            for event, answer in pending:
                if answer in done and not answer.cancelled() and answer.exception() is None:
                    count_analytics("published")
                else:
                    failed.append(event)
                    if reason == "" and answer in done and not answer.cancelled():
                        error = answer.exception()
                        reason = f"{type(error).__name__}: {str(error)[:300]}"
        if failed:
            # Pub/Sub's own words for the first failure (a missing permission, a schema mismatch): the
            # analytics-dropped runbook reads them.
            log.warning(
                "pubsub refused %d analytics events: %s",
                len(failed),
                reason or "no answer in time",
                extra={"event": "analytics_down"},
            )
        return failed

    async def to_outbox(self, events: Sequence[Envelope]) -> None:
        """Adds the events to the outbox; what it refuses (full, Redis down) is dropped and counted."""
        added = 0
        try:
            for start in range(0, len(events), self._tuning.batch_max):
                chunk = events[start : start + self._tuning.batch_max]
                payloads = [json.dumps(dict(e), separators=(",", ":"), sort_keys=True) for e in chunk]
                added += int(
                    await self._breaker.call(partial(self._add, [OUTBOX_KEY], [self._outbox_max, *payloads]))
                )
        except (BreakerOpenError, *REDIS_ERRORS):
            log.warning("analytics outbox unavailable", extra={"event": "analytics_outbox_down"})
        count_analytics("outboxed", added)
        count_analytics("dropped", len(events) - added)

    async def _drain_forever(self) -> None:
        while not self._stopping.is_set():
            more = False
            try:
                more = await self.drain()
            except Exception:  # the next interval tries again
                log.exception("analytics outbox drain failed")
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._tuning.drain_interval_s)

    async def drain(self) -> bool:
        """One drain round: publishes the outbox's oldest entries and deletes those acknowledged; returns
        whether more are waiting. With an empty outbox, clears ``down`` (the next batch is the probe)."""
        try:
            length = int(await self._breaker.call(lambda: self._redis.xlen(OUTBOX_KEY)))
        except (BreakerOpenError, *REDIS_ERRORS):
            return False
        set_analytics_outbox(length)
        if length == 0:
            self.down = False
            return False
        token = secrets.token_hex(8)
        lock_ms = int((self._tuning.publish_timeout_s + 5) * 1000)
        try:
            locked = await self._breaker.call(
                lambda: self._redis.set(DRAIN_LOCK_KEY, token, nx=True, px=lock_ms)
            )
            if not locked:
                return False
            read = await self._breaker.call(
                lambda: self._redis.xrange(OUTBOX_KEY, "-", "+", count=self._tuning.batch_max)
            )
        except (BreakerOpenError, *REDIS_ERRORS):
            return False
        try:
            return await self._drain_entries([(i, f or {}) for i, f in read or []], length)
        finally:
            with contextlib.suppress(BreakerOpenError, *REDIS_ERRORS):  # ours only (it may have expired)
                await self._breaker.call(partial(self._unlock, [DRAIN_LOCK_KEY], [token]))

    async def _drain_entries(self, entries: list[tuple[Any, dict[Any, Any]]], length: int) -> bool:
        events: list[Envelope] = [json.loads(fields.get(b"e") or fields["e"]) for _id, fields in entries]
        # Two entries may carry one event_id (a retried request): match them by identity, not by id.
        ids = [entry_id for entry_id, _fields in entries]
        failed = {id(e) for e in await self.publish(events)}
        acked = [entry_id for entry_id, event in zip(ids, events, strict=True) if id(event) not in failed]
        if acked:
            await self._breaker.call(lambda: self._redis.xdel(OUTBOX_KEY, *acked))
            set_analytics_outbox(length - len(acked))
        self.down = bool(failed)
        if acked:
            log.info("analytics outbox drained %d", len(acked), extra={"event": "analytics_drained"})
        return not failed and len(entries) == self._tuning.batch_max

    async def aclose(self) -> None:
        """Publishes what the queue still holds (else outboxes it), within ``close_timeout_s``."""
        self._closed = True
        self._stopping.set()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        rest: list[Envelope] = self._held
        self._held = []
        while not self._queue.empty():
            rest.append(self._queue.get_nowait())
        if rest:
            self._spawn(self._deliver(rest), "analytics-deliver")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self._tuning.close_timeout_s)
        for task in set(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._publisher.stop)


class SessionMarks:
    """Whether a player starts a session: no mark in the last ``SESSION_S`` (Redis ``SET NX EX``).

    Redis down: the marks are kept in this process's memory instead (bounded), like the rate limits, so a
    Redis outage over-counts sessions by at most the number of instances a player reaches, where emitting
    on every ``GET /v1/me`` would count each call and emitting none would lose every session of the outage.
    """

    def __init__(self, redis: RedisClient, breaker: RedisBreaker, memory_max: int = 100_000) -> None:
        self._redis = redis
        self._breaker = breaker
        self._memory: OrderedDict[str, float] = OrderedDict()
        self._memory_max = memory_max

    async def first_in_session(self, uid: str) -> bool:
        key = SESSION_KEY.format(uid=uid)
        try:
            return bool(await self._breaker.call(lambda: self._redis.set(key, 1, nx=True, ex=SESSION_S)))
        except (BreakerOpenError, *REDIS_ERRORS):
            return self._first_in_memory(uid)

    def _first_in_memory(self, uid: str) -> bool:
        now = time.monotonic()
        until = self._memory.get(uid)
        if until is not None and until > now:
            return False
        self._memory[uid] = now + SESSION_S
        self._memory.move_to_end(uid)
        while len(self._memory) > self._memory_max:
            self._memory.popitem(last=False)
        return True
