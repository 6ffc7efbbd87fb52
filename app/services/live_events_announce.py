"""Event starts pushed to the ``live-events`` topic, once per event.

``announce_due`` is the job (``pog events announce``, run every minute by the scheduler): it reads the
events that have not ended from Firestore (not the ``activeEvents`` copy), and announces each one whose
start has passed and that was not announced yet. Listing events and creating a running one still call
``announce`` for the events they see, so a late job only delays nothing.

Exactly one caller sends each push: ``mark_announced`` sets ``announced_at`` in a transaction that first
reads it unset, so of two concurrent runs (two jobs, a job and a listing) one wins the mark and sends, and
the other skips. The mark comes before the send: a crash between the two loses that push (a courtesy)
rather than sending it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from app.domain.live_events import LiveEvent
from app.services.ports import Cache

log = logging.getLogger("app.events")

ACTIVE_EVENTS_KEY = "activeEvents"
#: Events read per run (those not ended yet, soonest end first).
MAX_EVENTS_PER_RUN = 100


class AnnouncementStore(Protocol):
    async def get_event(self, event_id: str) -> LiveEvent | None: ...
    async def not_ended(self, now: datetime, limit: int) -> list[LiveEvent]: ...
    async def mark_announced(self, event_id: str, now: datetime) -> bool: ...


class StartNotifier(Protocol):
    async def event_started(self, event: LiveEvent) -> bool: ...


@dataclass(frozen=True, slots=True)
class AnnounceReport:
    #: Started, not ended, not announced when the run read them.
    due: int
    #: Marked announced by this run and pushed (FCM accepted the message).
    sent: int
    #: Marked announced by this run but FCM refused or push is off (not retried: at most once).
    failed: int


class Announcer:
    def __init__(
        self,
        store: AnnouncementStore,
        notifier: StartNotifier,
        cache: Cache,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._cache = cache
        self._clock = clock

    async def announce_due(self) -> AnnounceReport:
        now = self._clock()
        events = await self._store.not_ended(now, MAX_EVENTS_PER_RUN)
        due = [e.event_id for e in events if e.is_active(now) and e.announced_at is None]
        sent, failed = await self._announce(due)
        return AnnounceReport(due=len(due), sent=sent, failed=failed)

    async def announce(self, event_ids: Sequence[str]) -> int:
        """Push the start of each started event once; returns how many pushes this call sent."""
        return (await self._announce(event_ids))[0]

    async def _announce(self, event_ids: Sequence[str]) -> tuple[int, int]:
        sent = failed = 0
        now = self._clock()
        for event_id in event_ids:
            try:
                event = await self._store.get_event(event_id)
                if event is None or not event.is_active(now) or event.announced_at is not None:
                    continue
                if not await self._store.mark_announced(event_id, now):
                    continue  # another run announced it
                await self._cache.delete(ACTIVE_EVENTS_KEY)
            except Exception:
                # Not marked: the next run (or listing) tries again.
                log.exception("event announcement failed", extra={"event": "event_announce_failed"})
                continue
            if await self._notifier.event_started(event):
                sent += 1
            else:
                failed += 1
        return sent, failed
