"""The finished games whose leaderboard submit failed: ``board_pending == true`` in /games, in every games
database (``settings.databases_with_games``: in phase 3 every region's, whose games share the boards).

The query is an equality on one field: Firestore's automatic single-field index serves it, and only the
marked games are in it (the mark is deleted, not set to false). Clearing is an update of existing games
only: a game the TTL deleted meanwhile is skipped, never recreated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from google.api_core.exceptions import NotFound
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.core.config import Settings
from app.core.metrics import firestore_timer
from app.domain.games import PendingSubmit
from app.repositories.clients import close_firestore, database_client
from app.repositories.games import BOARD_PENDING, BOARD_PENDING_AT
from app.repositories.games import COLLECTION as GAMES

_FIELDS = ["uid", "final_score", "finished_at", "country"]
_CLEARED = {BOARD_PENDING: firestore.DELETE_FIELD, BOARD_PENDING_AT: firestore.DELETE_FIELD}


class PendingBoardSubmits:
    def __init__(self, games: Mapping[str, firestore.AsyncClient], users: firestore.AsyncClient) -> None:
        """``games``: database id -> client for every database holding games (``users`` for the default)."""
        self._games = dict(games)
        self._users = users

    @classmethod
    def for_settings(cls, settings: Settings, users: firestore.AsyncClient) -> PendingBoardSubmits:
        names = settings.databases_with_games
        return cls({name: database_client(settings, users, name) for name in names}, users)

    async def close(self) -> None:
        for games in self._games.values():
            if games is not self._users:
                await close_firestore(games)

    @property
    def databases(self) -> list[str]:
        return list(self._games)

    async def pending(self, database: str, limit: int) -> list[PendingSubmit]:
        query = (
            self._games[database]
            .collection(GAMES)
            .where(filter=FieldFilter(BOARD_PENDING, "==", True))
            .select(_FIELDS)
            .limit(limit)
        )
        found: list[PendingSubmit] = []
        with firestore_timer("query", database):
            async for snap in query.stream():
                data: dict[str, Any] = snap.to_dict() or {}
                country = data.get("country")
                found.append(
                    PendingSubmit(
                        database=database,
                        game_id=snap.id,
                        uid=data["uid"],
                        score=int(data["final_score"]),
                        country=country if isinstance(country, str) else None,
                        finished_at=data["finished_at"],
                    )
                )
        return found

    async def clear(self, submits: Sequence[PendingSubmit]) -> None:
        """Delete the marks of games now on the boards: one batch per database (at most 500 writes)."""
        by_database: dict[str, list[str]] = {}
        for submit in submits:
            by_database.setdefault(submit.database, []).append(submit.game_id)
        for database, game_ids in by_database.items():
            games = self._games[database].collection(GAMES)
            for start in range(0, len(game_ids), 500):
                refs = [games.document(game_id) for game_id in game_ids[start : start + 500]]
                batch = self._games[database].batch()
                for ref in refs:
                    batch.update(ref, _CLEARED)
                try:
                    with firestore_timer("batch", database):
                        await batch.commit()
                except NotFound:  # one game was deleted (TTL) meanwhile: the others one by one
                    await self._clear_each(refs, database)

    @staticmethod
    async def _clear_each(refs: Sequence[firestore.AsyncDocumentReference], database: str) -> None:
        for ref in refs:
            try:
                with firestore_timer("write", database):
                    await ref.update(_CLEARED)
            except NotFound:
                continue
