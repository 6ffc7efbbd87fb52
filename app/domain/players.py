"""A player: profile, stats, inventory, the default display name and the cache keys of their rendered data."""

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
    #: Mutual friends only (``app/domain/friends.py``).
    friends: list[str] = Field(default_factory=list)
    #: False: friends see the player offline, with no last-seen time.
    presence_visible: bool = True


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
    presence_visible: bool | None = None


#: Fields a null leaves as they are (nothing to clear).
NOT_CLEARABLE = frozenset({"display_name", "presence_visible"})


def default_display_name(uid: str, token_name: str | None) -> str:
    name = (token_name or "").strip()[:32]
    return name if len(name) >= 2 else f"Player-{uid[:6]}"


# The cache entries holding a player's rendered data: written by the user service, read in batch by the
# leaderboards' display names.


def profile_key(uid: str) -> str:
    return f"user:{uid}:profile"


def inventory_key(uid: str) -> str:
    return f"user:{uid}:inventory"


def stats_key(uid: str) -> str:
    return f"user:{uid}:stats"


def cached_stats_keys(uid: str) -> tuple[str, str]:
    """Every entry holding the player's stats: delete them all, together, after a stats write."""
    return stats_key(uid), profile_key(uid)
