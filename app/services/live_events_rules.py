"""The rules of live events that answer a client: a new event's checks, an admin's change to one, a
player's claim; each decided on the state the transaction read (404, 409 or 422 with the reason)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from app.domain.live_events import (
    MAX_EVENT_DURATION,
    MAX_START_AHEAD,
    MAX_START_IN_PAST,
    MIN_EVENT_DURATION,
    ClaimRecord,
    EventRevision,
    EventSpec,
    LiveEvent,
    Participation,
)
from app.services.errors import Failure, ServiceError


def not_found() -> ServiceError:
    return ServiceError(Failure.NOT_FOUND, "event_not_found", "no such event")


def _invalid(message: str) -> ServiceError:
    return ServiceError(Failure.INVALID, "invalid_event", message)


def check_spec(spec: EventSpec, now: datetime, known_items: Collection[str]) -> None:
    """The rules of a new event that depend on the clock and the catalog (422 ``invalid_event``)."""
    if spec.starts_at >= spec.ends_at:
        raise _invalid("starts_at must be before ends_at")
    length = spec.ends_at - spec.starts_at
    if length < MIN_EVENT_DURATION or length > MAX_EVENT_DURATION:
        raise _invalid(f"an event lasts between {MIN_EVENT_DURATION} and {MAX_EVENT_DURATION}")
    if spec.starts_at < now - MAX_START_IN_PAST:
        raise _invalid("starts_at is in the past")
    if spec.starts_at > now + MAX_START_AHEAD:
        raise _invalid(f"starts_at is more than {MAX_START_AHEAD.days} days ahead")
    unknown = sorted(set(spec.rewards.items) - set(known_items))
    if unknown:
        raise _invalid(f"unknown item id(s) in rewards: {', '.join(unknown)}")
    if spec.rewards.coins == 0 and not spec.rewards.items:
        raise _invalid("rewards grant nothing: give coins, items or both")


def revise_event(
    current: LiveEvent | None,
    claimed: bool,
    revision: EventRevision,
    now: datetime,
    known_items: Collection[str],
) -> LiveEvent:
    """An admin's change to a stored event, or why not (404, 409, 422), on the state the transaction read."""
    if current is None:
        raise not_found()
    if now >= current.ends_at:
        raise ServiceError(
            Failure.CONFLICT, "event_ended", f"the event ended at {current.ends_at.isoformat()}"
        )
    changes = revision.changes()
    if "rewards" in changes and claimed and revision.rewards != current.rewards:
        # A claim records the rewards it was granted: changing them now would pay players differently.
        raise ServiceError(
            Failure.CONFLICT, "rewards_claimed", "rewards cannot change once a player has claimed them"
        )
    starts_at = changes.get("starts_at", current.starts_at)
    if starts_at != current.starts_at and now >= current.starts_at:
        raise ServiceError(Failure.CONFLICT, "event_started", "the start of a running event cannot move")
    updated = current.model_copy(update={**changes, "updated_at": now})
    if updated.ends_at <= now:
        raise _invalid("ends_at is in the past: the event would end before the change")
    spec = EventSpec(
        name=updated.name,
        description=updated.description,
        starts_at=updated.starts_at,
        ends_at=updated.ends_at,
        goal=updated.goal,
        rewards=updated.rewards,
    )
    # Past starts are refused only when the start moves (a running event keeps its own).
    check_spec(spec, now if starts_at != current.starts_at else updated.starts_at, known_items)
    return updated


def judge_claim(
    event: LiveEvent | None, part: Participation | None, uid: str, progress: int, now: datetime
) -> ClaimRecord:
    """The claim to record, decided on the state the claim transaction read."""
    if event is None:
        raise not_found()
    if now < event.starts_at:
        raise ServiceError(
            Failure.CONFLICT, "event_not_started", f"the event starts at {event.starts_at.isoformat()}"
        )
    if now >= event.claim_until:
        raise ServiceError(
            Failure.CONFLICT, "claim_window_closed", f"claims closed at {event.claim_until.isoformat()}"
        )
    if part is None:
        raise ServiceError(Failure.CONFLICT, "not_joined", "join the event before claiming its reward")
    if progress < event.goal.target:
        raise ServiceError(
            Failure.CONFLICT,
            "not_qualified",
            f"{event.goal.metric.value} is {progress} of {event.goal.target} since you joined",
        )
    return ClaimRecord(
        uid=uid,
        event_id=event.event_id,
        claimed_at=now,
        progress=progress,
        coins=event.rewards.coins,
        items=dict(event.rewards.items),
    )
