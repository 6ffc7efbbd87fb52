"""Leaderboard and presence bodies (responses documented for the OpenAPI schema; requests strict)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict

from app.domain.leaderboards import MAX_RADIUS

#: A page far beyond any board is still a valid question (an empty page); this only bounds the integer.
MAX_PAGE = 1_000_000
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="1-based page of 100 entries")]
CountryQuery = Annotated[
    str | None, Query(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code (country scope)")
]
PeriodIdQuery = Annotated[
    str | None,
    Query(
        pattern=r"^(\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}|all)$",
        description="a finished period's id (2026-11-26, 2026-W48, 2026-11): its archived final standings",
    ),
]
SinceQuery = Annotated[int, Query(ge=0, le=2**53, description="the version of the page the client holds")]
RadiusQuery = Annotated[int, Query(ge=0, le=MAX_RADIUS, description="players shown above and below")]


class Entry(BaseModel):
    rank: int
    uid: str
    display_name: str
    score: int


class Page(BaseModel):
    period: str
    scope: str
    period_id: str
    country: str | None
    page: int
    page_size: int
    total: int
    version: int
    next_reset_at: datetime | None
    archived: bool
    entries: list[Entry]


class AroundMe(BaseModel):
    period: str
    scope: str
    period_id: str
    country: str | None
    version: int
    total: int
    rank: int | None
    score: int | None
    neighbours: list[Entry]


class Changes(BaseModel):
    period: str
    scope: str
    period_id: str
    country: str | None
    page: int
    total: int
    version: int
    since: int
    #: true: ``since`` is too old (or unknown) and ``entries`` is the whole page
    full: bool
    entries: list[Entry]
    removed: list[str]


class PeriodInfo(BaseModel):
    period: str
    period_id: str
    starts_at: datetime
    next_reset_at: datetime | None
    scopes: list[str]
    page_size: int


class Periods(BaseModel):
    periods: list[PeriodInfo]


class HeartbeatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["online", "in_game", "away"] = "online"


class HeartbeatOut(BaseModel):
    status: str
    at: datetime
    ttl_s: int


class FriendPresence(BaseModel):
    uid: str
    online: bool
    status: str | None
    last_seen_at: datetime | None


class FriendsPresence(BaseModel):
    friends: list[FriendPresence]
