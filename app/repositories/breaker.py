"""The circuit breaker around every Redis call (purgatory, state in this process's memory).

Redis is a cache and a rate-limit store, never the only copy of anything: while the breaker is open the
callers skip Redis at once (a miss, an allowed request, a recorded invalidation) instead of waiting for a
timeout on each call. After ``recovery_s`` the next call is a trial: success closes the breaker, failure
opens it again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState

log = logging.getLogger("app.breaker")

T = TypeVar("T")

CIRCUIT = "redis"


class BreakerOpenError(Exception):
    """The call was not made: the breaker is open."""


class RedisBreaker:
    def __init__(self, threshold: int, recovery_s: float) -> None:
        self._factory = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=recovery_s)
        self._factory.add_listener(self._on_event)
        self._state = "closed"
        self._on_recovered: list[Callable[[], None]] = []
        self._on_failure: list[Callable[[], None]] = []
        self._on_opened: list[Callable[[], None]] = []

    def on_recovered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the breaker closes again after being open (Redis is back).

        Called synchronously inside the call that closed it: a callback only sets a flag or schedules a task.
        """
        self._on_recovered.append(callback)

    def on_opened(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` each time the breaker opens (the analytics event ``breaker_opened``, passed in
        by the composition root: repositories do not import services). Synchronous, like ``on_recovered``."""
        self._on_opened.append(callback)

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on each failed Redis call through the breaker, whoever made it (the cache, the
        rate limiter, the boards); a call refused by the open breaker is not one. Synchronous, like
        ``on_recovered``."""
        self._on_failure.append(callback)

    def _on_event(self, name: str, event_type: str, event: object) -> None:
        if event_type == "failed":
            for callback in self._on_failure:
                callback()
            return
        if event_type != "state_changed":
            return
        state = str(getattr(event, "state", "unknown"))
        if state != self._state:
            level = logging.WARNING if state != "closed" else logging.INFO
            extra = {"event": "breaker_state", "state": state}
            log.log(level, "redis circuit breaker %s", state, extra=extra)
        recovered = state == "closed" and self._state != "closed"
        opened = state == "opened" and self._state != "opened"
        self._state = state
        if opened:
            for callback in self._on_opened:
                callback()
        if recovered:
            for callback in self._on_recovered:
                callback()

    @property
    def state(self) -> str:
        """``closed``, ``opened`` or ``half-opened`` (as purgatory names them)."""
        return self._state

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation through the breaker; raises ``BreakerOpenError`` or the failure."""
        breaker = await self._factory.get_breaker(CIRCUIT)
        try:
            async with breaker:
                return await operation()
        except OpenedState as exc:
            raise BreakerOpenError(str(exc)) from None
