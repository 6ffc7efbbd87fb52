"""A player's progress in a live event, read from ``/games`` (the finished games in a time range).

The query (``uid ==``, ``status ==``, range on ``finished_at``) needs the composite index
``games: uid ASC, status ASC, finished_at ASC``. It runs on the games' database, which is its own one
from phase 2 (``POG_GAMES_DATABASE``), like ``app/repositories/games.py``.
"""

from __future__ import annotations

from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.async_aggregation import AsyncAggregationQuery
from google.cloud.firestore_v1.base_query import FieldFilter

from app.core.config import Settings
from app.core.metrics import firestore_timer
from app.repositories.clients import close_firestore, games_client
from app.repositories.games import COLLECTION as GAMES
from app.services.games import GameStatus
from app.services.live_events_models import GoalMetric


class GameProgressRepository:
    def __init__(self, games: firestore.AsyncClient, owned: bool = False) -> None:
        self._db = games
        self._owned = owned

    @classmethod
    def for_settings(cls, settings: Settings, users: firestore.AsyncClient) -> GameProgressRepository:
        games = games_client(settings, users)
        return cls(games, owned=games is not users)

    async def close(self) -> None:
        if self._owned:
            await close_firestore(self._db)

    async def progress(self, uid: str, metric: GoalMetric, since: datetime, until: datetime) -> int:
        """Finished games of ``uid`` with ``since <= finished_at < until``: their count or score sum."""
        if until <= since:
            return 0
        query = (
            self._db.collection(GAMES)
            .where(filter=FieldFilter("uid", "==", uid))
            .where(filter=FieldFilter("status", "==", GameStatus.finished.value))
            .where(filter=FieldFilter("finished_at", ">=", since))
            .where(filter=FieldFilter("finished_at", "<", until))
        )
        agg = AsyncAggregationQuery(query)
        if metric is GoalMetric.games_played:
            agg.count(alias="n")
        else:
            agg.sum("final_score", alias="n")
        with firestore_timer("query"):
            results = await agg.get()
        value = results[0][0].value if results and results[0] else 0
        return int(value or 0)
