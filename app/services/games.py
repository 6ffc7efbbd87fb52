"""Game sessions: start, event batches, finish with plausibility checks; the leaderboard interface.

The rules are pure functions of the stored game (``judge_events``, ``judge_finish``) that the repository
runs inside its Firestore transaction, so a decision is always made on the state it writes over.

A score that breaks a plausibility rule (``app/domain/games.py``) answers 422 ``implausible_score``, the
game is marked ``rejected`` with the reason, and finishing it again answers the same 422.

Event batches (422 ``invalid_events`` with the reason, otherwise): ``t_ms`` never goes back in time,
neither within a batch nor against the last stored event, and no event is later than the session's
server-measured elapsed time plus ``CLOCK_SLACK_MS``. A game holds at most ``MAX_EVENTS_PER_GAME`` events
(409 ``event_limit_reached``) and ``MAX_COMPRESSED_BYTES`` of compressed events (413 ``events_too_large``).

A finish whose leaderboard submit does not reach the boards (Redis down, breaker open, timeout) still
answers 200 (the game IS finished) with ``ranks_pending: true``, and marks the game ``board_pending`` in
/games with one extra write, after the finish committed: none on the normal path. The reconciler
(``app/services/leaderboards_reconcile.py``) submits the marked games when Redis is back and clears the
marks. The window this leaves: a process that dies after the finish committed and before the submit or the
mark leaves the game off the boards with no mark; the client's replay of the finish (it got no answer)
submits it, and so does a rebuild from /games.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from app.core.metrics import count_board_pending
from app.domain import players
from app.domain.games import (
    CLOCK_SLACK_MS,
    GAME_TTL,
    MAX_COMPRESSED_BYTES,
    MAX_EVENTS_PER_GAME,
    MAX_SCORE,
    Accept,
    EventChunk,
    Finished,
    Game,
    GameMode,
    GameStatus,
    Ranks,
    Reject,
    Replay,
    Verdict,
    add_game_to_stats,
    compress_events,
    elapsed_ms,
    plausibility,
)
from app.domain.players import Stats
from app.services.analytics import Analytics
from app.services.errors import Failure, ServiceError
from app.services.ports import Cache
from app.services.users import UserService


class LeaderboardSink(Protocol):
    """Where finished games go; the leaderboards issue implements the full boards behind this.

    ``submit`` must be idempotent per ``game_id`` (the finish path calls it again on a replay, and the
    reconciler for a game marked ``board_pending``) and must not raise for an unreachable board: it answers
    ``None`` when the submit did not reach the boards.
    """

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks | None: ...


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
    async def mark_board_pending(self, game_id: str, at: datetime) -> None: ...


def _not_found() -> ServiceError:
    # The same answer for an unknown game and someone else's: the id's existence is not revealed.
    return ServiceError(Failure.NOT_FOUND, "game_not_found", "no such game")


def _owned(game: Game | None, uid: str) -> Game:
    if game is None or game.uid != uid:
        raise _not_found()
    return game


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


class FinishResult(BaseModel):
    final_score: int
    ranks: Ranks
    #: The boards could not be reached: ``ranks`` are null and the server submits the score when Redis is
    #: back (the client need not send the finish again).
    ranks_pending: bool = False


class GameService:
    def __init__(
        self,
        store: GameStore,
        users: UserService,
        cache: Cache,
        leaderboard: LeaderboardSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        analytics: Analytics | None = None,
    ) -> None:
        self._store = store
        self._users = users
        self._cache = cache
        self._leaderboard = leaderboard
        self._clock = clock
        self._analytics = analytics

    async def start(self, uid: str, token_name: str | None, mode: GameMode) -> str:
        await self._users.my_profile(uid, token_name)  # the profile exists before a game can finish
        now = self._clock()
        game_id = await self._store.create(uid, mode, now, now + GAME_TTL)
        if self._analytics is not None:  # after the commit; the sink publishes off the request path
            params = {"game_id": game_id, "mode": str(mode)}
            self._analytics.emit("game_started", uid, params, event_id=f"game_started:{game_id}")
        return game_id

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
        self._finished(uid, game, score)
        if game.status is GameStatus.rejected:
            raise ServiceError(
                Failure.INVALID, "implausible_score", game.reject_reason or "implausible score"
            )
        await self._cache.delete(*players.cached_stats_keys(uid))
        assert game.final_score is not None
        assert game.finished_at is not None
        ranks = await self._leaderboard.submit(uid, game_id, game.final_score, done.country, game.finished_at)
        if ranks is None:
            await self._store.mark_board_pending(game_id, self._clock())
            count_board_pending()
            return FinishResult(final_score=game.final_score, ranks=Ranks(), ranks_pending=True)
        return FinishResult(final_score=game.final_score, ranks=ranks)

    def _finished(self, uid: str, game: Game, score: int) -> None:
        """``game_finished``, after the finish committed; a retried finish makes the same event id."""
        if self._analytics is None or game.finished_at is None:
            return
        params = {
            "game_id": game.game_id,
            # A rejected score may be out of range: the event records it clamped, the verdict says why.
            "score": game.final_score if game.final_score is not None else min(max(score, 0), MAX_SCORE),
            "duration_ms": max(0, int((game.finished_at - game.started_at).total_seconds() * 1000)),
            "verdict": "rejected" if game.status is GameStatus.rejected else "accepted",
        }
        self._analytics.emit("game_finished", uid, params, event_id=f"game_finished:{game.game_id}")
