"""Waiting for a condition in tests: poll it against a deadline, never sleep a guessed time.

A fixed ``time.sleep(1)`` is either too short on a loaded machine (a flaky failure) or too long everywhere
else (a slow suite). ``wait_until`` returns as soon as the condition holds and fails, naming it, when it
does not hold in time. Sleeps that are the thing under test (a request made slow on purpose) stay, with a
comment saying so; tests/test_test_suite.py keeps new sleeps out of tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    *,
    interval: float = 0.02,
    what: str | Callable[[], str] = "",
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that.

    Fails the test after ``timeout`` seconds with ``what`` (text, or a function giving the text at that
    moment, e.g. a log's tail). ``predicate`` may itself fail early (assert that a process is still alive).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = what() if callable(what) else what
            pytest.fail(f"not true within {timeout} s: {detail or getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


def wait_for_clock_past(timestamp_s: float) -> None:
    """Until the wall clock is past ``timestamp_s`` (seconds since the epoch).

    For stamps of whole-second granularity (Firebase Auth stamps a revocation in seconds): a test that needs
    a later stamp, or a token issued after one, waits for the next second instead of sleeping one.
    """
    wait_until(lambda: time.time() > timestamp_s, timeout=max(timestamp_s - time.time(), 0) + 5, what="clock")
