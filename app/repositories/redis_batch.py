"""Redis commands of concurrent requests, sent together: one pipeline per event-loop iteration.

One worker serves many requests at once, and each sends a few small commands (rate limits, a cache read).
With redis-py every command costs tens of microseconds of Python work (a pool checkout, a send, a
timeout, a parse) and a round trip of its own. ``RedisBatcher`` queues the commands issued while the
event loop runs its ready callbacks and sends them all in the next iteration as one pipeline on one
connection (the idea of ioredis' auto-pipelining). A lone request still sends its commands at once: a
batch waits for no timer, only for the callbacks already ready to run.

``submit`` queues synchronously and returns a future, so one coroutine can put several independent reads
into the same round trip without a task per read. The circuit breaker is taken once per pipeline: one
failed round trip is one failure, however many callers it carried.

Semantics per command are those of a non-transactional pipeline: each command runs on its own, in
order; a command's error (``ResponseError``, ``NoScriptError``) reaches its own caller only, and a
connection error, a timeout or an open breaker every caller of the batch. On a Redis Cluster the pipeline
is split per node (sent in parallel, MOVED and ASK followed per command); a node that fails there fails
the whole batch as well, so that the breaker counts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ClusterError, ResponseError

from app.repositories.breaker import RedisBreaker
from app.repositories.clients import RedisClient

#: Commands per pipeline at most; a busier iteration sends several pipelines.
MAX_BATCH = 256

Command = tuple[Any, ...]
#: One caller's commands and the future of their results.
_Submission = tuple[Sequence[Command], "asyncio.Future[list[Any]]"]


class RedisBatcher:
    def __init__(
        self, client: RedisClient, breaker: RedisBreaker | None = None, max_batch: int = MAX_BATCH
    ) -> None:
        self._client = client
        self._breaker = breaker
        self._max_batch = max_batch
        self._queue: list[_Submission] = []
        self._sending: set[asyncio.Task[None]] = set()

    def submit(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Queue ``commands`` (e.g. ``("GET", key)``) now for the next batch.

        The future's result holds one entry per command, in order: its reply, or the ``ResponseError``
        it raised (as a value). The future itself fails with a connection error, a timeout or
        ``BreakerOpenError``. Cancelling it withdraws the commands if the batch has not gone yet.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        if not self._queue:
            # The task's first step runs in the next iteration, after every callback already ready:
            # whatever they queue meanwhile goes in the same batch.
            self._start(loop.create_task(self._send_queued()))
        self._queue.append((commands, future))
        return future

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """``submit``, awaited: the replies in order; raises the first command's error after all ran."""
        results = await self.submit(commands)
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    def _start(self, task: asyncio.Task[None]) -> None:
        self._sending.add(task)  # a strong reference until it is done
        task.add_done_callback(self._sending.discard)

    async def _send_queued(self) -> None:
        queue, self._queue = self._queue, []
        batches: list[list[_Submission]] = [[]]
        size = 0
        for commands, future in queue:
            if future.done():  # cancelled before it went
                continue
            if size and size + len(commands) > self._max_batch:
                batches.append([])
                size = 0
            batches[-1].append((commands, future))
            size += len(commands)
        for extra in batches[1:]:
            self._start(asyncio.ensure_future(self._send(extra)))
        await self._send(batches[0])

    async def _send(self, batch: list[_Submission]) -> None:
        commands = [command for submitted, _future in batch for command in submitted]
        if not commands:
            return
        try:
            if self._breaker is None:
                replies = await self._round_trip(commands)
            else:
                replies = await self._breaker.call(lambda: self._round_trip(commands))
        except asyncio.CancelledError:
            for _commands, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # a connection error, a timeout, an open breaker: every caller gets it
            for _commands, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for submitted, future in batch:
            end = start + len(submitted)
            if not future.done():
                future.set_result(replies[start:end])
            start = end

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        if len(commands) == 1:  # a lone command: no pipeline to build
            try:
                return [await self._client.execute_command(*commands[0])]
            except ResponseError as exc:
                if not _command_error(exc):
                    raise
                return [exc]
        async with self._client.pipeline(transaction=False) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            replies = list(await pipe.execute(raise_on_error=False))
        # A cluster pipeline returns a node's connection error or timeout in place of its replies.
        failure = next((r for r in replies if isinstance(r, Exception) and not _command_error(r)), None)
        if failure is not None:
            raise failure
        return replies


def _command_error(exc: Exception) -> bool:
    """An error of the command itself (WRONGTYPE, NOSCRIPT, ...), not of the server (CLUSTERDOWN)."""
    return isinstance(exc, ResponseError) and not isinstance(exc, ClusterError)
