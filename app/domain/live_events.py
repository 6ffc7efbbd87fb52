"""Live events: the event, a player's participation, a claim, and the limits on their times."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

#: Claims stay open this long after the event ends (a game finished in the last minute still counts).
CLAIM_GRACE = timedelta(days=1)
#: Progress is read from /games, which the TTL policy deletes 7 days after a game starts: a window plus
#: the claim grace of at most 6 days keeps every game started in the window readable until claims close.
MAX_EVENT_DURATION = timedelta(days=5)
MIN_EVENT_DURATION = timedelta(minutes=5)
#: How far in the past an event may be created to start (clock skew between the admin tool and us).
MAX_START_IN_PAST = timedelta(minutes=5)
#: How far ahead an event may be scheduled.
MAX_START_AHEAD = timedelta(days=90)


class GoalMetric(StrEnum):
    #: Games the player finished (accepted, not rejected) between joining and the end of the event.
    games_played = "games_played"
    #: The sum of the final scores of those games.
    total_score = "total_score"


class Goal(BaseModel):
    metric: GoalMetric
    target: int = Field(ge=1)


class Rewards(BaseModel):
    coins: int = Field(default=0, ge=0)
    items: dict[str, int] = Field(default_factory=dict)


class LiveEvent(BaseModel):
    """``/events/{eventId}``: what players see of it, plus who created it and whether its start was pushed."""

    event_id: str
    name: str
    description: str = ""
    starts_at: datetime
    ends_at: datetime
    goal: Goal
    rewards: Rewards
    created_by: str
    created_at: datetime
    updated_at: datetime
    announced_at: datetime | None = None

    @property
    def claim_until(self) -> datetime:
        return self.ends_at + CLAIM_GRACE

    def is_active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An admin's new event, already shape-checked by the API; the service checks it against the clock
    and the catalog."""

    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    goal: Goal
    rewards: Rewards


@dataclass(frozen=True, slots=True)
class EventRevision:
    """An admin's change to an event: the fields given (None: unchanged), shape-checked by the API."""

    name: str | None = None
    description: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    goal: Goal | None = None
    rewards: Rewards | None = None

    def changes(self) -> dict[str, object]:
        return {
            name: value
            for name in ("name", "description", "starts_at", "ends_at", "goal", "rewards")
            if (value := getattr(self, name)) is not None
        }


@dataclass(frozen=True, slots=True)
class Participation:
    uid: str
    joined_at: datetime


class ClaimStatus(StrEnum):
    #: Recorded; the grant has not been confirmed yet (in flight, or failed and retried on the next claim).
    pending = "pending"
    granted = "granted"
    #: A fraud check held the grant for review; approving it applies it once.
    held = "held"


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    """``/events/{eventId}/reward_claims/{uid}``: written once, in a transaction; the status follows the
    grant."""

    uid: str
    event_id: str
    claimed_at: datetime
    progress: int
    coins: int
    items: dict[str, int] = field(default_factory=dict)
    status: ClaimStatus = ClaimStatus.pending
    #: Set when the last grant attempt failed: the next claim retries it at once.
    grant_failed: bool = False


def grant_source_id(event_id: str, uid: str) -> str:
    return f"event:{event_id}:{uid}"
