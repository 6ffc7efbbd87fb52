"""Firestore transactions retried from scratch when Firestore aborts them.

The client library retries a transaction only when its commit is aborted (googleapis/python-firestore#879).
A read inside a transaction can be aborted too: it waits on a lock another transaction holds (the
emulator's pessimistic locks, Firestore's lock timeouts) and fails after the client's own retries. That
reached the caller as a 500, for a request that only had to wait. ``run_transaction`` retries the whole
attempt, with jittered backoff, for at most ``RETRY_BUDGET_S``, then answers 503 with the caller's code.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.api_core.exceptions import Aborted, DeadlineExceeded
from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction

from app.core.metrics import firestore_timer
from app.repositories.errors import StoreBusyError

log = logging.getLogger("app.firestore")

T = TypeVar("T")

RETRY_BUDGET_S = 20.0
FIRST_DELAY_S = 0.05
MAX_DELAY_S = 2.0


BUSY_MESSAGE = "too many concurrent changes to the same data; retry"


async def run_transaction(
    db: firestore.AsyncClient,
    attempt: Callable[[AsyncTransaction], Awaitable[T]],
    busy_code: str,
    *,
    settled: Callable[[], Awaitable[T | None]] | None = None,
    budget_s: float = RETRY_BUDGET_S,
) -> T:
    """``attempt`` (an ``@firestore.async_transactional`` function) in a new transaction of ``db``, again
    from scratch while Firestore aborts it; ``StoreBusyError(busy_code)`` once ``budget_s`` is spent.

    Before each retry ``settled`` (a plain read, no locks) may answer instead: e.g. a concurrent request
    doing the same thing has committed, so this one need not take part in the contention again.
    """
    deadline = time.monotonic() + budget_s
    delay = FIRST_DELAY_S
    while True:
        try:
            with firestore_timer("transaction"):
                return await attempt(db.transaction(max_attempts=1))
        except (Aborted, DeadlineExceeded, ValueError) as exc:
            # With one attempt, an aborted commit comes back as a ValueError raised from the ``Aborted``
            # (the library wraps the last retryable error); any other ValueError is not contention.
            if isinstance(exc, ValueError) and not isinstance(exc.__cause__, Aborted):
                raise
            if time.monotonic() + delay > deadline:
                log.warning(
                    "firestore transaction gave up: contention",
                    extra={"event": "transaction_busy", "code": busy_code},
                )
                raise StoreBusyError(busy_code, BUSY_MESSAGE) from exc
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, MAX_DELAY_S)
        if settled is not None and (answer := await settled()) is not None:
            return answer
