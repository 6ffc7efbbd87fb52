"""What a store operation can fail with, for the layers above to map (``app/api/errors.py`` for the API).

The repositories sit below the services, so they cannot raise the services' ``ServiceError``; these carry
the same stable ``code`` and message a client sees.
"""

from __future__ import annotations


class StoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StoreBusyError(StoreError):
    """Contention on the same documents outlasted the retry budget: retry later."""


class UnknownCursorError(StoreError):
    """A page cursor that is not one of the caller's pages."""


class RecordGoneError(StoreError):
    """A record the operation depends on disappeared while it ran (e.g. a deleted profile)."""


class LeaderboardUnavailableError(Exception):
    """Redis could not be reached (or its breaker is open): the live boards cannot be read now."""


class RealtimeUnavailableError(Exception):
    """A Realtime Database shard could not be reached or refused the request (the message names it)."""
