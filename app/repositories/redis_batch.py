"""Redis commands of concurrent requests, sent together: one pipeline per event-loop iteration.

One worker serves many requests at once, and each sends a few small commands (rate limits, a cache read).
With redis-py every command costs tens of microseconds of Python work (a pool checkout, a send, a
timeout, a parse) and a round trip of its own. ``RedisBatcher`` queues the commands issued while the
event loop runs its ready callbacks and sends them all at the end of that iteration as one pipeline on
one connection (the idea of ioredis' auto-pipelining). A lone request still sends its commands at once:
a batch waits for no timer, only for the callbacks already ready to run.

Semantics per command are those of a non-transactional pipeline: each command runs on its own, in
order; a command's error (``ResponseError``, ``NoScriptError``) is raised to its own caller only, and a
connection error or timeout to every caller of the batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import ResponseError

#: Commands per pipeline at most; a busier iteration sends several pipelines.
MAX_BATCH = 256

Command = tuple[Any, ...]


class RedisBatcher:
    def __init__(self, client: redis.Redis, max_batch: int = MAX_BATCH) -> None:
        self._client = client
        self._max_batch = max_batch
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Run ``commands`` (e.g. ``("GET", key)``) in the next batch; their results, in order.

        Raises the first command's error, if any, after all of them ran.
        """
        loop = asyncio.get_running_loop()
        futures = []
        for command in commands:
            future: asyncio.Future[Any] = loop.create_future()
            self._queue.append((command, future))
            futures.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        results: list[Any] = []
        error: Exception | None = None
        try:
            for future in futures:
                try:
                    results.append(await future)
                except Exception as exc:  # every future is awaited, so none leaves an unread error
                    error = error or exc
                    results.append(None)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()  # not sent if the batch has not gone yet
            raise
        if error is not None:
            raise error
        return results

    def _flush(self) -> None:
        queue, self._queue, self._scheduled = self._queue, [], False
        for start in range(0, len(queue), self._max_batch):
            task = asyncio.ensure_future(self._send(queue[start : start + self._max_batch]))
            self._sending.add(task)  # a strong reference until it is done
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Command, asyncio.Future[Any]]]) -> None:
        live = [(command, future) for command, future in batch if not future.done()]
        if not live:
            return
        try:
            if len(live) == 1:  # a lone command: no pipeline to build
                try:
                    results = [await self._client.execute_command(*live[0][0])]  # type: ignore[no-untyped-call]
                except ResponseError as exc:
                    results = [exc]
            else:
                async with self._client.pipeline(transaction=False) as pipe:
                    for command, _future in live:
                        pipe.execute_command(*command)
                    results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _command, future in live:
                future.cancel()
            raise
        except Exception as exc:  # a connection error or timeout: every caller of the batch gets it
            for _command, future in live:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_command, future), result in zip(live, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
