"""The game's data as the services see it (no SDK types)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Stats(BaseModel):
    model_config = ConfigDict(extra="ignore")

    games_played: int = 0
    best_score: int = 0
    total_score: int = 0


class Inventory(BaseModel):
    model_config = ConfigDict(extra="ignore")

    coins: int = 0
    items: dict[str, int] = Field(default_factory=dict)


class Profile(BaseModel):
    """The owner's view of ``/users/{uid}`` without the inventory (cached apart, shorter TTL)."""

    model_config = ConfigDict(extra="ignore")

    uid: str
    display_name: str
    country: str | None = None
    avatar_id: str | None = None
    created_at: datetime
    updated_at: datetime
    stats: Stats = Field(default_factory=Stats)
    friends: list[str] = Field(default_factory=list)


class PublicProfile(BaseModel):
    """What anyone signed in may see of another player."""

    uid: str
    display_name: str
    country: str | None = None
    avatar_id: str | None = None
    best_score: int = 0


class ProfileChanges(BaseModel):
    """Fields a player may change on their own profile; ``None`` means "leave as is"."""

    display_name: str | None = None
    country: str | None = None
    avatar_id: str | None = None
