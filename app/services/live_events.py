"""Live events: admins schedule them, players join, play and claim the reward once.

Progress is computed at claim time from the player's finished games (``/games``, finished between joining
and the end of the event), not kept by a hook in the finish path. A finished game never changes again, so
progress only grows during the window: reading it outside the claim transaction can under-count a game
that finishes at that instant (the player is told how far they are and claims again), never over-count.
The claim itself is ``create``-if-absent of ``/events/{id}/reward_claims/{uid}`` inside a transaction that
re-reads the event and the participation, so any number of concurrent claims record exactly one; the
grant then goes through the ``Granter`` with ``source_id`` ``event:{eventId}:{uid}``, which grants once
however often it is asked. A hook would have to be idempotent per game itself, would be lost on a crash
between the finish commit and the hook (and the finish may commit in another database), and would add a
write per finished game on a shared document.

A claim whose grant failed, or was interrupted by a crash, stays ``pending``; the next claim retries the
grant (safe: the grant dedups on ``source_id``). Concurrent duplicates of a fresh claim do not retry it
(``REGRANT_AFTER``): they answer ``pending`` instead of piling onto the same grant transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, TypeAdapter

from app.domain.audit import AuditRecord
from app.domain.live_events import (
    ClaimRecord,
    ClaimStatus,
    EventRevision,
    EventSpec,
    GoalMetric,
    LiveEvent,
    Participation,
    grant_source_id,
)
from app.repositories.errors import StoreError
from app.services.analytics import Analytics
from app.services.errors import Failure, ServiceError
from app.services.grant_port import Granter, GrantOutcome, GrantRequest, GrantSource
from app.services.live_events_announce import ACTIVE_EVENTS_KEY, Announcer
from app.services.live_events_rules import check_spec, judge_claim, not_found, revise_event
from app.services.ports import Cache

log = logging.getLogger("app.events")

ACTIVE_EVENTS_TTL_S = 3600
HOT_ITEMS_KEY = "hotItems"
HOT_ITEMS_TTL_S = 600
#: Events read into the ``activeEvents`` copy (those not ended yet, soonest first).
MAX_LISTED_EVENTS = 100
HOT_ITEMS_WINDOW = timedelta(days=7)
HOT_ITEMS_SAMPLE = 2_000
HOT_ITEMS_SHOWN = 10
#: A pending claim younger than this is a concurrent duplicate of one in flight: not regranted.
REGRANT_AFTER = timedelta(seconds=15)

_EVENTS = TypeAdapter(list[LiveEvent])

T = TypeVar("T")
#: Decides an event's new state from the stored one (None: no such event) and whether anyone claimed.
Revise = Callable[[LiveEvent | None, bool], LiveEvent]


class EventStore(Protocol):
    async def create_event(self, txn: Any, spec: EventSpec, created_by: str, now: datetime) -> LiveEvent:
        """Inside ``txn`` (a transaction of the same database)."""
        ...

    async def get_event(self, event_id: str) -> LiveEvent | None: ...
    async def not_ended(self, now: datetime, limit: int) -> list[LiveEvent]: ...
    async def mark_announced(self, event_id: str, now: datetime) -> bool: ...
    async def update_event(self, txn: Any, event_id: str, revise: Revise) -> LiveEvent:
        """Inside ``txn`` (a transaction of the same database): read the event and whether it has a claim,
        write what ``revise`` returns."""
        ...

    async def join(self, event_id: str, uid: str, now: datetime) -> Participation: ...
    async def get_participation(self, event_id: str, uid: str) -> Participation | None: ...
    async def get_claim(self, event_id: str, uid: str) -> ClaimRecord | None: ...
    async def create_claim(
        self,
        event_id: str,
        uid: str,
        decide: Callable[[LiveEvent | None, Participation | None], ClaimRecord],
    ) -> tuple[ClaimRecord, bool]: ...
    async def set_claim_status(self, event_id: str, uid: str, status: ClaimStatus, failed: bool) -> None: ...
    async def recent_claimed_items(self, since: datetime, limit: int) -> list[dict[str, int]]: ...


class ProgressReader(Protocol):
    async def progress(self, uid: str, metric: GoalMetric, since: datetime, until: datetime) -> int: ...


class AdminAudit(Protocol):
    """Appends an admin action to the admin's audit chain in the same transaction as ``change``, which is
    handed that transaction (the economy's grant service implements it)."""

    async def admin_action(
        self,
        admin_uid: str,
        change: Callable[[Any], Awaitable[T]],
        describe: Callable[[T], AuditRecord],
    ) -> T: ...


class EventNotifier(Protocol):
    async def event_started(self, event: LiveEvent) -> bool: ...
    async def reward_granted(self, uid: str, event: LiveEvent, claim: ClaimRecord) -> bool: ...


class HotItem(BaseModel):
    item_id: str
    #: Units claimed from event rewards over the last 7 days.
    claimed: int


class ActiveEvents(BaseModel):
    events: list[LiveEvent]
    hot_items: list[HotItem]
    #: Started events whose start has not been pushed yet (the caller announces them after answering).
    unannounced: list[str]


class MyProgress(BaseModel):
    event_id: str
    joined: bool
    joined_at: datetime | None
    metric: GoalMetric
    progress: int
    target: int
    qualified: bool
    claim: ClaimStatus | None


@dataclass(frozen=True, slots=True)
class ClaimResult:
    event: LiveEvent
    claim: ClaimRecord
    #: This request recorded the claim (the others answer the same claim again).
    first: bool
    #: This request saw the grant apply: the reward notification goes out once, from here.
    newly_granted: bool


def _audited(kind: str, reason: str) -> Callable[[LiveEvent], AuditRecord]:
    def describe(event: LiveEvent) -> AuditRecord:
        return AuditRecord(kind=kind, source="admin", source_id=f"event:{event.event_id}", reason=reason)

    return describe


def rank_items(claimed: Sequence[dict[str, int]], shown: int) -> list[HotItem]:
    totals: dict[str, int] = {}
    for items in claimed:
        for item_id, count in items.items():
            totals[item_id] = totals.get(item_id, 0) + count
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:shown]
    return [HotItem(item_id=item_id, claimed=count) for item_id, count in ranked]


_STATUS_BY_OUTCOME = {
    GrantOutcome.GRANTED: ClaimStatus.granted,
    # The grant service saw this source before (a retry after a crash between grant and status update).
    GrantOutcome.DUPLICATE: ClaimStatus.granted,
    GrantOutcome.HELD: ClaimStatus.held,
}


class LiveEventService:
    def __init__(
        self,
        store: EventStore,
        progress: ProgressReader,
        granter: Granter,
        notifier: EventNotifier,
        cache: Cache,
        known_items: Collection[str],
        audit: AdminAudit,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._audit = audit
        self._store = store
        self._progress = progress
        #: Public so that the wiring (and tests) can swap the grant service in.
        self.granter = granter
        self._notifier = notifier
        self._cache = cache
        self._known_items = frozenset(known_items)
        self._clock = clock
        self.announcer = Announcer(store, notifier, cache, clock)
        #: Wired by the app (``send_events_through``): live_event_joined and live_event_reward_claimed.
        self._analytics: Analytics | None = None

    def send_events_through(self, analytics: Analytics) -> None:
        self._analytics = analytics

    # --- admin ------------------------------------------------------------------------------------------

    async def create(self, admin_uid: str, spec: EventSpec) -> LiveEvent:
        now = self._clock()
        check_spec(spec, now, self._known_items)

        async def change(txn: Any) -> LiveEvent:
            return await self._store.create_event(txn, spec, admin_uid, now)

        event = await self._audit.admin_action(admin_uid, change, _audited("event_create", "created"))
        await self._cache.delete(ACTIVE_EVENTS_KEY)
        log.info("live event created", extra={"event": "live_event_created", "event_id": event.event_id})
        return event

    async def update(self, admin_uid: str, event_id: str, revision: EventRevision) -> LiveEvent:
        """Change an event that has not ended; the change and its audit entry commit together."""
        now = self._clock()
        changed = sorted(revision.changes())

        def revise(current: LiveEvent | None, claimed: bool) -> LiveEvent:
            return revise_event(current, claimed, revision, now, self._known_items)

        async def change(txn: Any) -> LiveEvent:
            return await self._store.update_event(txn, event_id, revise)

        describe = _audited("event_update", f"changed {', '.join(changed)}")
        event = await self._audit.admin_action(admin_uid, change, describe)
        await self._cache.delete(ACTIVE_EVENTS_KEY)
        log.info(
            "live event updated",
            extra={"event": "live_event_updated", "event_id": event_id, "fields": ",".join(changed)},
        )
        return event

    # --- players ----------------------------------------------------------------------------------------

    async def _not_ended(self) -> list[LiveEvent]:
        cached = await self._cache.get(ACTIVE_EVENTS_KEY)
        if cached is not None:
            try:
                return _EVENTS.validate_json(cached)
            except ValueError:
                log.warning("unreadable activeEvents copy; reading Firestore")
        events = await self._store.not_ended(self._clock(), MAX_LISTED_EVENTS)
        await self._cache.set(ACTIVE_EVENTS_KEY, _EVENTS.dump_json(events), ACTIVE_EVENTS_TTL_S)
        return events

    async def hot_items(self) -> list[HotItem]:
        cached = await self._cache.get(HOT_ITEMS_KEY)
        if cached is not None:
            try:
                return [HotItem.model_validate(i) for i in orjson.loads(cached)]
            except ValueError:
                log.warning("unreadable hotItems copy; reading Firestore")
        since = self._clock() - HOT_ITEMS_WINDOW
        ranked = rank_items(await self._store.recent_claimed_items(since, HOT_ITEMS_SAMPLE), HOT_ITEMS_SHOWN)
        await self._cache.set(HOT_ITEMS_KEY, orjson.dumps([i.model_dump() for i in ranked]), HOT_ITEMS_TTL_S)
        return ranked

    async def active(self) -> ActiveEvents:
        now = self._clock()
        events = [e for e in await self._not_ended() if e.is_active(now)]
        unannounced = [e.event_id for e in events if e.announced_at is None]
        return ActiveEvents(events=events, hot_items=await self.hot_items(), unannounced=unannounced)

    async def _event(self, event_id: str) -> LiveEvent:
        event = await self._store.get_event(event_id)
        if event is None:
            raise not_found()
        return event

    async def join(self, uid: str, event_id: str) -> Participation:
        """Idempotent: joining again answers the first join."""
        event = await self._event(event_id)
        now = self._clock()
        if now < event.starts_at:
            raise ServiceError(
                Failure.CONFLICT, "event_not_started", f"the event starts at {event.starts_at.isoformat()}"
            )
        if now >= event.ends_at:
            raise ServiceError(
                Failure.CONFLICT, "event_ended", f"the event ended at {event.ends_at.isoformat()}"
            )
        joined = await self._store.join(event_id, uid, now)
        if self._analytics is not None:  # after the join committed; joining again makes the same event id
            params = {"live_event_id": event_id}
            self._analytics.emit(
                "live_event_joined", uid, params, event_id=f"live_event_joined:{event_id}:{uid}"
            )
        return joined

    async def _player_progress(self, uid: str, event: LiveEvent, part: Participation, now: datetime) -> int:
        until = min(now, event.ends_at)
        return await self._progress.progress(uid, event.goal.metric, part.joined_at, until)

    async def my_progress(self, uid: str, event_id: str) -> MyProgress:
        event = await self._event(event_id)
        part = await self._store.get_participation(event_id, uid)
        progress = await self._player_progress(uid, event, part, self._clock()) if part else 0
        claim = await self._store.get_claim(event_id, uid)
        return MyProgress(
            event_id=event_id,
            joined=part is not None,
            joined_at=part.joined_at if part else None,
            metric=event.goal.metric,
            progress=progress,
            target=event.goal.target,
            qualified=progress >= event.goal.target,
            claim=claim.status if claim else None,
        )

    async def claim(self, uid: str, event_id: str) -> ClaimResult:
        event = await self._event(event_id)
        existing = await self._store.get_claim(event_id, uid)
        if existing is not None:
            return await self._settle(event, existing, first=False)
        now = self._clock()
        part = await self._store.get_participation(event_id, uid)
        progress = 0
        if part is not None and event.starts_at <= now < event.claim_until:
            progress = await self._player_progress(uid, event, part, now)

        def decide(current: LiveEvent | None, current_part: Participation | None) -> ClaimRecord:
            return judge_claim(current, current_part, uid, progress, now)

        record, created = await self._store.create_claim(event_id, uid, decide)
        return await self._settle(event, record, first=created)

    async def _settle(self, event: LiveEvent, record: ClaimRecord, *, first: bool) -> ClaimResult:
        """Apply the grant of a recorded claim unless it is known to be applied (or in flight)."""
        if record.status is not ClaimStatus.pending:
            return ClaimResult(event, record, first=first, newly_granted=False)
        in_flight = not record.grant_failed and self._clock() - record.claimed_at < REGRANT_AFTER
        if not first and in_flight:
            return ClaimResult(event, record, first=False, newly_granted=False)
        request = GrantRequest(
            uid=record.uid,
            source=GrantSource.EVENT_REWARD,
            source_id=grant_source_id(record.event_id, record.uid),
            coins=record.coins,
            items=dict(record.items),
            reason=f"live event {event.name}",
        )
        try:
            outcome = await self.granter.grant(request)
        except (ServiceError, StoreError):
            await self._store.set_claim_status(record.event_id, record.uid, ClaimStatus.pending, failed=True)
            raise
        except Exception as exc:
            log.exception("event reward grant failed", extra={"event": "event_grant_failed"})
            await self._store.set_claim_status(record.event_id, record.uid, ClaimStatus.pending, failed=True)
            raise ServiceError(
                Failure.UNAVAILABLE,
                "grant_unavailable",
                "the claim is recorded; claim again to receive the reward",
            ) from exc
        status = _STATUS_BY_OUTCOME[outcome]
        await self._store.set_claim_status(record.event_id, record.uid, status, failed=False)
        settled = replace(record, status=status, grant_failed=False)
        if self._analytics is not None and outcome is GrantOutcome.GRANTED:  # after the grant committed
            params = {
                "live_event_id": record.event_id,
                "coins": record.coins,
                "items": sum(record.items.values()),
            }
            event_id = f"live_event_reward_claimed:{request.source_id}"
            self._analytics.emit("live_event_reward_claimed", record.uid, params, event_id=event_id)
        return ClaimResult(event, settled, first=first, newly_granted=outcome is GrantOutcome.GRANTED)

    # --- push notifications (run after the response; they never fail a request) ----------------------

    async def announce(self, event_ids: Sequence[str]) -> int:
        """Push the start of each started event once (see ``live_events_announce``)."""
        return await self.announcer.announce(event_ids)

    async def notify_claim(self, result: ClaimResult) -> bool:
        if not result.newly_granted:
            return False
        return await self._notifier.reward_granted(result.claim.uid, result.event, result.claim)


def _event_key(name: str, action: str) -> str:
    """A deterministic analytics event id that does not carry the uid the action's id holds."""
    return hashlib.sha256(f"{name}:{action}".encode()).hexdigest()[:32]
