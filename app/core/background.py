"""One background run at a time in this process, started from synchronous code.

The leaderboards' rebuild (when the boards are found lost) and the reconcile (when the Redis breaker closes
again) are started by callbacks that cannot await; ``OneRunAtATime`` schedules the work on the running
loop, starts none while one runs, keeps a reference to its task (the loop holds tasks weakly) and cancels
it before the clients it uses close.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("app.background")


class OneRunAtATime:
    def __init__(self, work: Callable[[], Awaitable[object]], what: str) -> None:
        self._work = work
        self._what = what
        self.task: asyncio.Task[object] | None = None

    def __call__(self) -> None:
        if self.task is not None and not self.task.done():
            return
        try:
            self.task = asyncio.get_running_loop().create_task(self._run())
        except RuntimeError:  # no running loop: nothing to schedule on
            self.task = None

    async def _run(self) -> object:
        try:
            return await self._work()
        except Exception:  # a background run must not end silently, nor take the process down
            log.exception("%s failed", self._what)
            return None

    async def cancel(self) -> None:
        """Stops a running run, so that it is finished before the clients close."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
