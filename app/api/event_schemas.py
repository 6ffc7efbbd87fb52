"""Live event and device bodies: strict (unknown fields -> 422) and bounded."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from app.api.game_schemas import JsonInt, Strict
from app.domain.catalog import ItemId
from app.domain.live_events import (
    MAX_EVENT_DURATION,
    MIN_EVENT_DURATION,
    ClaimStatus,
    EventRevision,
    EventSpec,
    Goal,
    GoalMetric,
    LiveEvent,
    Rewards,
)
from app.domain.notifications import Platform
from app.services.live_events import HotItem

EVENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
DEVICE_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_TARGET = 1_000_000_000
MAX_REWARD_COINS = 1_000_000
MAX_REWARD_ITEM_COUNT = 1_000
MAX_REWARD_ITEMS = 10

# No control characters; the name neither starts nor ends with whitespace.
EventName = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=80, pattern=r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
    ),
]
Description = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x09\x0b-\x1f\x7f]*$")]
# strict would refuse the JSON string of a datetime or an enum value.
When = Annotated[AwareDatetime, Field(strict=False)]


class GoalIn(Strict):
    metric: Annotated[GoalMetric, Field(strict=False)]
    target: JsonInt = Field(ge=1, le=MAX_TARGET)


class RewardsIn(Strict):
    coins: JsonInt = Field(default=0, ge=0, le=MAX_REWARD_COINS)
    items: Annotated[
        dict[ItemId, Annotated[JsonInt, Field(ge=1, le=MAX_REWARD_ITEM_COUNT)]],
        Field(max_length=MAX_REWARD_ITEMS),
    ] = Field(default_factory=dict, json_schema_extra={"additionalProperties": False})


class EventCreate(Strict):
    """A new live event. Item ids must be items of the product catalog; the window must lie ahead."""

    name: EventName
    description: Description = ""
    starts_at: When
    ends_at: When
    goal: GoalIn
    rewards: RewardsIn

    @model_validator(mode="after")
    def _window(self) -> EventCreate:
        if self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        length = self.ends_at - self.starts_at
        if not MIN_EVENT_DURATION <= length <= MAX_EVENT_DURATION:
            raise ValueError(f"an event lasts between {MIN_EVENT_DURATION} and {MAX_EVENT_DURATION}")
        if self.rewards.coins == 0 and not self.rewards.items:
            raise ValueError("rewards grant nothing: give coins, items or both")
        return self

    def spec(self) -> EventSpec:
        return EventSpec(
            name=self.name,
            description=self.description,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            goal=Goal(metric=self.goal.metric, target=self.goal.target),
            rewards=Rewards(coins=self.rewards.coins, items=dict(self.rewards.items)),
        )


class EventPatch(Strict):
    """A change to an event that has not ended: any of these fields; the others stay. The start of a
    running event cannot move, and the rewards cannot change once a player has claimed them (409)."""

    name: EventName | None = None
    description: Description | None = None
    starts_at: When | None = None
    ends_at: When | None = None
    goal: GoalIn | None = None
    rewards: RewardsIn | None = None

    @model_validator(mode="after")
    def _something(self) -> EventPatch:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("the change changes nothing: give at least one field")
        if self.starts_at is not None and self.ends_at is not None and self.starts_at >= self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        if self.rewards is not None and self.rewards.coins == 0 and not self.rewards.items:
            raise ValueError("rewards grant nothing: give coins, items or both")
        return self

    def revision(self) -> EventRevision:
        return EventRevision(
            name=self.name,
            description=self.description,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            goal=Goal(metric=self.goal.metric, target=self.goal.target) if self.goal else None,
            rewards=Rewards(coins=self.rewards.coins, items=dict(self.rewards.items))
            if self.rewards
            else None,
        )


class EventOut(BaseModel):
    """A live event as players see it."""

    event_id: str
    name: str
    description: str
    starts_at: datetime
    ends_at: datetime
    #: Claims are accepted until then (a day after the end).
    claim_until: datetime
    goal: Goal
    rewards: Rewards

    @classmethod
    def of(cls, event: LiveEvent) -> EventOut:
        return cls(
            event_id=event.event_id,
            name=event.name,
            description=event.description,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            claim_until=event.claim_until,
            goal=event.goal,
            rewards=event.rewards,
        )


class AdminEventOut(EventOut):
    created_by: str
    created_at: datetime


class EventList(BaseModel):
    events: list[EventOut]
    #: The items most claimed from event rewards over the last 7 days (refreshed every 10 minutes).
    hot_items: list[HotItem]


class Joined(BaseModel):
    event_id: str
    joined_at: datetime


class Claimed(BaseModel):
    event_id: str
    #: ``granted``; ``held`` (a fraud check holds it for review); ``pending`` (recorded, being granted:
    #: claim again to see it settle).
    status: ClaimStatus
    #: False when the reward had already been claimed: the answer repeats the first claim.
    first_claim: bool
    claimed_at: datetime
    progress: int
    coins: int
    items: dict[str, int]


class DeviceIn(Strict):
    #: The FCM registration token of the app install.
    token: Annotated[str, StringConstraints(min_length=20, max_length=4096, pattern=r"^[\x21-\x7e]+$")]
    platform: Annotated[Platform, Field(strict=False)]


class DeviceOut(BaseModel):
    #: Hash of the token; DELETE /v1/me/devices/{device_id} forgets it.
    device_id: str
