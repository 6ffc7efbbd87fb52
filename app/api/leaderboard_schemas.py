"""Leaderboard and presence bodies (responses documented for the OpenAPI schema; requests strict)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

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
PeriodIdPath = Annotated[
    str,
    Path(
        pattern=r"^(\d{4}-\d{2}-\d{2}|\d{4}-W\d{2}|\d{4}-\d{2}|all)$",
        description="the period id the latest document names",
    ),
]
#: A live version (the publish time in µs, docs/game-api.md#live-boards-through-the-cdn).
LiveVersionPath = Annotated[int, Path(ge=1, le=2**53, description="a live version of the page")]


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


class LiveLatest(BaseModel):
    """A public page's latest live document (``GET …/live``)."""

    period: str
    scope: str
    period_id: str
    country: str | None
    page: int
    #: the current live version (not a board version)
    version: int
    published_at: datetime
    interval_s: float
    #: the live versions kept, oldest first; the last is ``version``
    versions: list[int]
    #: the path of the page at ``version``
    full: str
    #: the path of a segment, with ``{from}`` and ``{to}`` to fill in
    segment: str


class LiveSegment(BaseModel):
    """What changed on a page from one live version to the next (``GET …/live/{period_id}/{from}-{to}``)."""

    model_config = ConfigDict(populate_by_name=True)

    period: str
    scope: str
    period_id: str
    country: str | None
    page: int
    from_: int = Field(alias="from")
    to: int
    total: int
    #: the entries whose rank, score or display name changed, or that are new on the page
    entries: list[Entry]
    #: uids no longer on the page
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


class FriendPresence(BaseModel):
    """Where one mutual friend's presence node is: read it there (the rules refuse a hidden friend's)."""

    uid: str
    #: the friend's shard (``shard_for(uid, len(database_urls))``)
    database_url: str
    #: ``/presence/{uid}``: ``{state: online|in_game|away|offline, last_changed: ms since the epoch}``
    path: str


class FriendsPresence(BaseModel):
    friends: list[FriendPresence]


class RealtimeSetupOut(BaseModel):
    """``GET /v1/me/realtime``: where the caller connects (docs/realtime.md)."""

    #: the caller's shard: connect here, write ``presence_path``, read ``messages_path``
    database_url: str
    shard: int
    shard_count: int
    #: every shard, shard 0 first: a friend's presence is on ``database_urls[shard_for(friend, count)]``
    database_urls: list[str]
    presence_path: str
    messages_path: str
