"""Helpers of the leaderboard tests: the app's real parts on the test redis-server and emulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.cloud import firestore

from app.composition import Leaderboards, Overrides
from app.composition import Parts as AppParts
from app.repositories.clients import RedisClient
from app.services.grant_port import GrantOutcome, GrantRequest
from app.services.users import UserService
from tests.app.conftest import Backends, settings_for

T = TypeVar("T")


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Parts:
    lb: Leaderboards
    users: UserService
    db: firestore.AsyncClient
    rds: RedisClient


async def _with_parts(
    backends: Backends, clock: Clock, fn: Callable[[Parts], Awaitable[T]], **settings: Any
) -> T:
    values: dict[str, Any] = {"profile_cache_ttl_s": 600, "inventory_cache_ttl_s": 60, **settings}
    async with AppParts(settings_for(backends, **values), Overrides(clock=clock)) as app:
        return await fn(Parts(app.leaderboards, app.users, app.db, app.redis))


def run(backends: Backends, clock: Clock, fn: Callable[[Parts], Awaitable[T]], **settings: Any) -> T:
    return asyncio.run(_with_parts(backends, clock, fn, **settings))


def submit_today(backends: Backends, games: Sequence[tuple[str, int]], country: str = "IE") -> None:
    """Finished games of today (the API's clock is the real one) on every board, as the finish path does."""
    now = datetime.now(UTC)

    async def submit(p: Parts) -> None:
        await p.lb.sink.boards.mark_alive(now)
        for n, (uid, score) in enumerate(games):
            await p.lb.sink.submit(uid, f"g{n}", score, country, now)

    run(backends, Clock(now), submit)


def store_game(
    db: firestore.Client,
    game_id: str,
    uid: str,
    score: int,
    finished_at: datetime,
    country: str | None = None,
) -> None:
    """A finished game as the finish transaction leaves it in /games (the boards' truth)."""
    db.collection("games").document(game_id).set(
        {
            "uid": uid,
            "mode": "classic",
            "status": "finished",
            "final_score": score,
            "finished_at": finished_at,
            "country": country,
            "started_at": finished_at,
            "expires_at": finished_at,
        }
    )


def store_user(
    db: firestore.Client, uid: str, name: str, country: str | None = None, friends: list[str] | None = None
) -> None:
    now = datetime.now(UTC)
    db.collection("users").document(uid).set(
        {
            "uid": uid,
            "display_name": name,
            "country": country,
            "created_at": now,
            "updated_at": now,
            "stats": {},
            "inventory": {"coins": 0, "items": {}},
            "friends": friends or [],
        }
    )


class RecordingGranter:
    """The Granter port as the economy implements it: one grant per ``source_id``, whoever asks how often.

    ``fail_after``: raise after that many new grants were recorded (a crash after the grant committed and
    before the job wrote its marker).
    """

    def __init__(self, fail_after: int | None = None) -> None:
        self.granted: dict[str, GrantRequest] = {}
        self.calls = 0
        self.fail_after = fail_after

    async def grant(self, request: GrantRequest) -> GrantOutcome:
        self.calls += 1
        if request.source_id in self.granted:
            return GrantOutcome.DUPLICATE
        self.granted[request.source_id] = request
        if self.fail_after is not None and len(self.granted) >= self.fail_after:
            self.fail_after = None
            raise RuntimeError("crashed after the grant committed")
        return GrantOutcome.GRANTED
