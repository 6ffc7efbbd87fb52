"""Game sessions: start, event batches, finish with plausibility checks; the leaderboard interface.

The rules are pure functions of the stored game (``judge_events``, ``judge_finish``) that the repository
runs inside its Firestore transaction, so a decision is always made on the state it writes over.

Plausibility rules for ``finish`` (each failure -> 422 ``implausible_score``, the game is marked
``rejected`` with the reason, and finishing it again answers the same 422):

1. the score is an integer in ``0..MAX_SCORE``;
2. the score equals the sum of ``points`` over every event the session stored;
3. the score is at most ``MAX_POINTS_PER_S`` per second of the session's server-measured duration
   (start to finish, plus ``GRACE_S`` for network latency).

Event batches (422 ``invalid_events`` with the reason, otherwise): ``t_ms`` never goes back in time,
neither within a batch nor against the last stored event, and no event is later than the session's
server-measured elapsed time plus ``CLOCK_SLACK_MS``. A game holds at most ``MAX_EVENTS_PER_GAME`` events
(409 ``event_limit_reached``) and ``MAX_COMPRESSED_BYTES`` of compressed events (413 ``events_too_large``).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import orjson
from pydantic import BaseModel

from app.services.errors import Failure, ServiceError
from app.services.models import Stats
from app.services.ports import Cache
from app.services.users import UserService

GAME_TTL = timedelta(days=7)
MAX_SCORE = 10_000_000
MAX_POINTS_PER_S = 500
GRACE_S = 2.0
CLOCK_SLACK_MS = 2_000
MAX_EVENTS_PER_GAME = 5_000
#: Keeps the game document (events included) well under Firestore's 1 MiB document limit.
MAX_COMPRESSED_BYTES = 512 * 1024


class GameMode(StrEnum):
    classic = "classic"
    timed = "timed"
    challenge = "challenge"


class GameStatus(StrEnum):
    active = "active"
    finished = "finished"
    rejected = "rejected"


@dataclass(frozen=True, slots=True)
class Game:
    """A stored session without its event chunks."""

    game_id: str
    uid: str
    mode: GameMode
    status: GameStatus
    started_at: datetime
    expires_at: datetime
    event_count: int = 0
    chunk_count: int = 0
    last_t_ms: int = -1
    points_total: int = 0
    compressed_bytes: int = 0
    final_score: int | None = None
    finished_at: datetime | None = None
    reject_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EventChunk:
    """One accepted batch: the compressed bytes and the game's counters after it."""

    index: int
    data: bytes
    event_count: int
    last_t_ms: int
    points_total: int
    compressed_bytes: int


@dataclass(frozen=True, slots=True)
class Accept:
    final_score: int


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str


@dataclass(frozen=True, slots=True)
class Replay:
    """The game was already finished (or rejected): answer as the first time, write nothing."""

    game: Game


Verdict = Accept | Reject | Replay


@dataclass(frozen=True, slots=True)
class Finished:
    """What the finish transaction committed (or found already committed)."""

    game: Game
    country: str | None


class Ranks(BaseModel):
    """1-based ranks on the four global boards; ``None`` when the board could not be reached."""

    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    all_time: int | None = None


class LeaderboardSink(Protocol):
    """Where finished games go; the leaderboards issue implements the full boards behind this.

    ``submit`` must be idempotent per ``game_id`` (the finish path calls it again on a replay, which is how
    a submission lost to an outage is repaired) and must not raise for an unreachable board.
    """

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks: ...


class GameStore(Protocol):
    async def create(self, uid: str, mode: GameMode, started_at: datetime, expires_at: datetime) -> str: ...
    async def get(self, game_id: str) -> Game | None: ...
    async def append_events(
        self, game_id: str, decide: Callable[[Game | None], EventChunk]
    ) -> EventChunk: ...
    async def finish(
        self,
        game_id: str,
        now: datetime,
        judge: Callable[[Game | None], Verdict],
        update_stats: Callable[[Stats, int], Stats],
    ) -> Finished: ...


def _not_found() -> ServiceError:
    # The same answer for an unknown game and someone else's: the id's existence is not revealed.
    return ServiceError(Failure.NOT_FOUND, "game_not_found", "no such game")


def _owned(game: Game | None, uid: str) -> Game:
    if game is None or game.uid != uid:
        raise _not_found()
    return game


def compress_events(events: Sequence[dict[str, Any]]) -> bytes:
    # mtime=0: the same batch always compresses to the same bytes.
    return gzip.compress(orjson.dumps(list(events)), mtime=0)


def decompress_events(chunks: Sequence[bytes]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for chunk in chunks:
        events.extend(orjson.loads(gzip.decompress(chunk)))
    return events


def elapsed_ms(game: Game, now: datetime) -> int:
    return max(0, int((now - game.started_at).total_seconds() * 1000))


def judge_events(game: Game, events: Sequence[dict[str, Any]], now: datetime) -> EventChunk:
    if game.status is not GameStatus.active:
        raise ServiceError(
            Failure.CONFLICT, "game_not_active", f"the game is {game.status.value}; it takes no events"
        )
    if game.event_count + len(events) > MAX_EVENTS_PER_GAME:
        raise ServiceError(
            Failure.CONFLICT, "event_limit_reached", f"a game holds at most {MAX_EVENTS_PER_GAME} events"
        )
    last = game.last_t_ms
    limit = elapsed_ms(game, now) + CLOCK_SLACK_MS
    for i, event in enumerate(events):
        t_ms = int(event["t_ms"])
        if t_ms < last:
            raise ServiceError(
                Failure.INVALID,
                "invalid_events",
                f"events[{i}].t_ms={t_ms} goes back in time (previous {last})",
            )
        if t_ms > limit:
            raise ServiceError(
                Failure.INVALID,
                "invalid_events",
                f"events[{i}].t_ms={t_ms} is later than the session's elapsed time",
            )
        last = t_ms
    data = compress_events(events)
    total_bytes = game.compressed_bytes + len(data)
    if total_bytes > MAX_COMPRESSED_BYTES:
        raise ServiceError(
            Failure.TOO_LARGE,
            "events_too_large",
            f"a game holds at most {MAX_COMPRESSED_BYTES} bytes of compressed events",
        )
    return EventChunk(
        index=game.chunk_count,
        data=data,
        event_count=game.event_count + len(events),
        last_t_ms=last,
        points_total=game.points_total + sum(int(e.get("points", 0)) for e in events),
        compressed_bytes=total_bytes,
    )


def plausibility(game: Game, score: int, now: datetime) -> str | None:
    """The first rule the score breaks (module docstring), or ``None`` when it is plausible."""
    if not 0 <= score <= MAX_SCORE:
        return f"score must be between 0 and {MAX_SCORE}"
    if score != game.points_total:
        return f"score {score} does not match the session's events (their points sum to {game.points_total})"
    allowed = MAX_POINTS_PER_S * (elapsed_ms(game, now) / 1000 + GRACE_S)
    if score > allowed:
        return f"score {score} is more than {MAX_POINTS_PER_S} points per second of play allows"
    return None


def judge_finish(game: Game, score: int, now: datetime) -> Verdict:
    if game.status is GameStatus.finished:
        if game.final_score != score:
            raise ServiceError(
                Failure.CONFLICT,
                "game_already_finished",
                f"the game was already finished with score {game.final_score}",
            )
        return Replay(game)
    if game.status is GameStatus.rejected:
        return Replay(game)
    reason = plausibility(game, score, now)
    return Reject(reason) if reason is not None else Accept(score)


def add_game_to_stats(stats: Stats, score: int) -> Stats:
    return Stats(
        games_played=stats.games_played + 1,
        best_score=max(stats.best_score, score),
        total_score=stats.total_score + score,
    )


class FinishResult(BaseModel):
    final_score: int
    ranks: Ranks


class GameService:
    def __init__(
        self,
        store: GameStore,
        users: UserService,
        cache: Cache,
        leaderboard: LeaderboardSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._users = users
        self._cache = cache
        self._leaderboard = leaderboard
        self._clock = clock

    async def start(self, uid: str, token_name: str | None, mode: GameMode) -> str:
        await self._users.my_profile(uid, token_name)  # the profile exists before a game can finish
        now = self._clock()
        return await self._store.create(uid, mode, now, now + GAME_TTL)

    async def add_events(self, uid: str, game_id: str, events: Sequence[dict[str, Any]]) -> EventChunk:
        if not events:
            raise ServiceError(Failure.INVALID, "invalid_events", "a batch holds at least one event")
        now = self._clock()

        def decide(game: Game | None) -> EventChunk:
            return judge_events(_owned(game, uid), events, now)

        return await self._store.append_events(game_id, decide)

    async def finish(self, uid: str, token_name: str | None, game_id: str, score: int) -> FinishResult:
        _owned(await self._store.get(game_id), uid)  # 404 before anything is written or created
        await self._users.my_profile(uid, token_name)
        now = self._clock()

        def judge(game: Game | None) -> Verdict:
            return judge_finish(_owned(game, uid), score, now)

        done = await self._store.finish(game_id, now, judge, add_game_to_stats)
        game = done.game
        if game.status is GameStatus.rejected:
            raise ServiceError(
                Failure.INVALID, "implausible_score", game.reject_reason or "implausible score"
            )
        await self._cache.delete(*UserService.cached_stats_keys(uid))
        assert game.final_score is not None
        assert game.finished_at is not None
        ranks = await self._leaderboard.submit(uid, game_id, game.final_score, done.country, game.finished_at)
        return FinishResult(final_score=game.final_score, ranks=ranks)
