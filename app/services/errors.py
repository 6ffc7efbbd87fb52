"""The ways a request can fail in the game's rules, named by what went wrong and never by a transport.

A service raises ``ServiceError(Failure.X, code, message)``: ``code`` is stable for clients, ``message`` says
what to do. Which HTTP status each ``Failure`` becomes is decided in ``app/api/errors.py`` alone, so the
same rules serve the API, the ops commands and the jobs.
"""

from __future__ import annotations

from enum import Enum


class Failure(Enum):
    MALFORMED = "malformed"  # the request cannot be read at all
    UNAUTHENTICATED = "unauthenticated"  # the caller could not be identified
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # the request clashes with the current state
    TOO_LARGE = "too_large"
    INVALID = "invalid"  # readable, but breaks a rule
    UPSTREAM_FAILED = "upstream_failed"  # a provider we depend on answered with an error
    UNAVAILABLE = "unavailable"  # a dependency is down or contended: retry later


class ServiceError(Exception):
    """A rule the request broke, or a dependency it needs that is not there."""

    def __init__(self, failure: Failure, code: str, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.code = code
        self.message = message
