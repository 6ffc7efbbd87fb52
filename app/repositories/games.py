"""``/games/{gameId}`` in Firestore (TTL field ``expires_at``; events as gzip chunks in the document).

Layout: the session's fields, counters kept with every batch (``event_count``, ``last_t_ms``,
``points_total``, ``compressed_bytes``, ``chunk_count``) and ``events.c00000``, ``events.c00001``, ... one
gzip-compressed JSON array per accepted batch. The chunks live in the game document itself so that the
TTL policy on collection group ``games`` (field ``expires_at``) deletes them with it; the service bounds
their total size. Reads of the session skip the chunks (``field_paths``).

Finishing: with the games in the users' database (``POG_GAMES_DATABASE`` unset, phase 1) ONE transaction
writes the game's outcome and the player's stats. A transaction cannot span two databases, so with games
in their own database (phase 2+) a finish takes two steps, each idempotent: (1) a transaction on the games
database marks the game finished with ``stats_applied: false``; (2) a transaction on the users database
adds the game to the stats only if ``/users/{uid}/scored_games/{gameId}`` does not exist yet, and creates
it; then ``stats_applied`` is set. A finish replayed after a crash between the steps completes step 2.

``board_pending`` (with ``board_pending_at``): the finish committed but its leaderboard submit did not
reach the boards; written after the finish, only then, and deleted by the reconciler once the game is on
the boards (app/repositories/games_pending.py reads them in every games database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.async_transaction import AsyncTransaction
from google.cloud.firestore_v1.base_document import DocumentSnapshot

from app.core.config import Settings
from app.domain.games import Accept, EventChunk, Finished, Game, GameMode, GameStatus, Reject, Replay, Verdict
from app.domain.players import Stats
from app.repositories.clients import close_firestore, games_client
from app.repositories.errors import RecordGoneError
from app.repositories.transactions import run_transaction
from app.repositories.users import COLLECTION as USERS

COLLECTION = "games"
SCORED = "scored_games"
BOARD_PENDING = "board_pending"
BOARD_PENDING_AT = "board_pending_at"
_META = (
    "uid",
    "mode",
    "status",
    "started_at",
    "expires_at",
    "event_count",
    "chunk_count",
    "last_t_ms",
    "points_total",
    "compressed_bytes",
    "final_score",
    "finished_at",
    "reject_reason",
)


def _chunk_field(index: int) -> str:
    return f"c{index:05d}"


def _game(game_id: str, snap: DocumentSnapshot) -> Game | None:
    data = snap.to_dict() if snap.exists else None
    if data is None:
        return None
    return Game(
        game_id=game_id,
        uid=data["uid"],
        mode=GameMode(data["mode"]),
        status=GameStatus(data["status"]),
        started_at=data["started_at"],
        expires_at=data["expires_at"],
        event_count=data.get("event_count", 0),
        chunk_count=data.get("chunk_count", 0),
        last_t_ms=data.get("last_t_ms", -1),
        points_total=data.get("points_total", 0),
        compressed_bytes=data.get("compressed_bytes", 0),
        final_score=data.get("final_score"),
        finished_at=data.get("finished_at"),
        reject_reason=data.get("reject_reason"),
    )


class GameRepository:
    def __init__(self, games: firestore.AsyncClient, users: firestore.AsyncClient) -> None:
        """``games`` is ``users`` itself when the games share the users' database."""
        self._db = games
        self._users = users

    @classmethod
    def for_settings(cls, settings: Settings, users: firestore.AsyncClient) -> GameRepository:
        return cls(games_client(settings, users), users)

    async def close(self) -> None:
        if self._db is not self._users:
            await close_firestore(self._db)

    def _ref(self, game_id: str) -> firestore.AsyncDocumentReference:
        return self._db.collection(COLLECTION).document(game_id)

    async def create(self, uid: str, mode: GameMode, started_at: datetime, expires_at: datetime) -> str:
        ref = self._db.collection(COLLECTION).document()
        await ref.create(
            {
                "uid": uid,
                "mode": mode.value,
                "status": GameStatus.active.value,
                "started_at": started_at,
                "expires_at": expires_at,
                "event_count": 0,
                "chunk_count": 0,
                "last_t_ms": -1,
                "points_total": 0,
                "compressed_bytes": 0,
                "final_score": None,
                "finished_at": None,
                "reject_reason": None,
                "events": {},
            }
        )
        return str(ref.id)

    async def get(self, game_id: str) -> Game | None:
        return _game(game_id, await self._ref(game_id).get(field_paths=_META))

    async def mark_board_pending(self, game_id: str, at: datetime) -> None:
        await self._ref(game_id).update({BOARD_PENDING: True, BOARD_PENDING_AT: at})

    async def append_events(self, game_id: str, decide: Callable[[Game | None], EventChunk]) -> EventChunk:
        ref = self._ref(game_id)

        @firestore.async_transactional
        async def run(txn: AsyncTransaction) -> EventChunk:
            chunk = decide(_game(game_id, await ref.get(field_paths=_META, transaction=txn)))
            txn.update(
                ref,
                {
                    f"events.{_chunk_field(chunk.index)}": chunk.data,
                    "chunk_count": chunk.index + 1,
                    "event_count": chunk.event_count,
                    "last_t_ms": chunk.last_t_ms,
                    "points_total": chunk.points_total,
                    "compressed_bytes": chunk.compressed_bytes,
                },
            )
            return chunk

        return await run_transaction(self._db, run, "game_busy")

    async def finish(
        self,
        game_id: str,
        now: datetime,
        judge: Callable[[Game | None], Verdict],
        update_stats: Callable[[Stats, int], Stats],
    ) -> Finished:
        if self._db is self._users:
            return await self._finish_together(game_id, now, judge, update_stats)
        return await self._finish_apart(game_id, now, judge, update_stats)

    async def _finish_together(
        self,
        game_id: str,
        now: datetime,
        judge: Callable[[Game | None], Verdict],
        update_stats: Callable[[Stats, int], Stats],
    ) -> Finished:
        """One transaction: the game's outcome and, when accepted, the player's stats."""
        ref = self._ref(game_id)

        @firestore.async_transactional
        async def run(txn: AsyncTransaction) -> Finished:
            game = _game(game_id, await ref.get(field_paths=_META, transaction=txn))
            verdict = judge(game)
            assert game is not None  # judge raises for a missing game
            user_ref = self._db.collection(USERS).document(game.uid)
            user = await user_ref.get(field_paths=["stats", "country"], transaction=txn)
            data: dict[str, Any] = user.to_dict() or {}
            country = data.get("country")
            if isinstance(verdict, Replay):
                return Finished(verdict.game, country)
            if isinstance(verdict, Reject):
                txn.update(ref, {"status": GameStatus.rejected.value, "reject_reason": verdict.reason})
                rejected = replace(game, status=GameStatus.rejected, reject_reason=verdict.reason)
                return Finished(rejected, country)
            assert isinstance(verdict, Accept)
            if not user.exists:
                raise RecordGoneError("profile_missing", "the player's profile is gone; retry")
            stats = update_stats(Stats.model_validate(data.get("stats") or {}), verdict.final_score)
            score = verdict.final_score
            # The country goes with the game: the leaderboards are rebuilt from /games (country boards too).
            outcome = {"status": GameStatus.finished.value, "final_score": score, "finished_at": now}
            txn.update(ref, outcome | {"country": country})
            txn.update(user_ref, {"stats": stats.model_dump(), "updated_at": now})
            finished = replace(game, status=GameStatus.finished, final_score=score, finished_at=now)
            return Finished(finished, country)

        return await run_transaction(self._db, run, "game_busy")

    async def _finish_apart(
        self,
        game_id: str,
        now: datetime,
        judge: Callable[[Game | None], Verdict],
        update_stats: Callable[[Stats, int], Stats],
    ) -> Finished:
        """Two idempotent steps (module docstring): the game's outcome, then the stats once per game."""
        ref = self._ref(game_id)

        @firestore.async_transactional
        async def outcome(txn: AsyncTransaction) -> tuple[Game, bool]:
            snap = await ref.get(field_paths=[*_META, "stats_applied"], transaction=txn)
            game = _game(game_id, snap)
            verdict = judge(game)
            assert game is not None  # judge raises for a missing game
            if isinstance(verdict, Replay):
                applied = (snap.to_dict() or {}).get("stats_applied", True)
                pending = game.status is GameStatus.finished and not applied
                return verdict.game, pending
            if isinstance(verdict, Reject):
                txn.update(ref, {"status": GameStatus.rejected.value, "reject_reason": verdict.reason})
                return replace(game, status=GameStatus.rejected, reject_reason=verdict.reason), False
            assert isinstance(verdict, Accept)
            score = verdict.final_score
            txn.update(
                ref,
                {
                    "status": GameStatus.finished.value,
                    "final_score": score,
                    "finished_at": now,
                    "stats_applied": False,
                },
            )
            return replace(game, status=GameStatus.finished, final_score=score, finished_at=now), True

        game, pending = await run_transaction(self._db, outcome, "game_busy")
        user_ref = self._users.collection(USERS).document(game.uid)
        if not pending:
            user = await user_ref.get(field_paths=["country"])
            return Finished(game, (user.to_dict() or {}).get("country"))
        marker = user_ref.collection(SCORED).document(game_id)

        @firestore.async_transactional
        async def scored(txn: AsyncTransaction) -> str | None:
            seen = await marker.get(transaction=txn)
            user = await user_ref.get(field_paths=["stats", "country"], transaction=txn)
            data: dict[str, Any] = user.to_dict() or {}
            if not seen.exists:
                if not user.exists:
                    raise RecordGoneError("profile_missing", "the player's profile is gone; retry")
                assert game.final_score is not None
                stats = update_stats(Stats.model_validate(data.get("stats") or {}), game.final_score)
                txn.update(user_ref, {"stats": stats.model_dump(), "updated_at": now})
                txn.create(marker, {"final_score": game.final_score, "finished_at": game.finished_at})
            country = data.get("country")
            return country if isinstance(country, str) else None

        country = await run_transaction(self._users, scored, "game_busy")
        await ref.update({"stats_applied": True, "country": country})
        return Finished(game, country)
