"""A player's progress in a live event, read from ``/games`` (the finished games in a time range).

The query (``uid ==``, ``status ==``, range on ``finished_at``) needs the composite index
``games: uid ASC, status ASC, finished_at ASC``. It runs on every database a game may be in
(``POG_ALL_GAMES_DATABASES``): the region's own from phase 2 (``POG_GAMES_DATABASE``), every region's in
phase 3 (a player's games follow the region that served them) and, after a promotion, the earlier phase's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.async_aggregation import AsyncAggregationQuery
from google.cloud.firestore_v1.base_query import FieldFilter

from app.core.config import Settings
from app.core.metrics import firestore_timer
from app.domain.games import GameStatus
from app.domain.live_events import GoalMetric
from app.repositories.clients import close_firestore, database_client
from app.repositories.games import COLLECTION as GAMES


class GameProgressRepository:
    def __init__(self, games: Sequence[firestore.AsyncClient], users: firestore.AsyncClient) -> None:
        """``games``: a client per database a game may be in; ``users`` itself among them when the games
        share the users' database (not closed here)."""
        self._games = list(games)
        self._users = users

    @classmethod
    def for_settings(cls, settings: Settings, users: firestore.AsyncClient) -> GameProgressRepository:
        return cls([database_client(settings, users, name) for name in settings.databases_with_games], users)

    async def close(self) -> None:
        for games in self._games:
            if games is not self._users:
                await close_firestore(games)

    async def progress(self, uid: str, metric: GoalMetric, since: datetime, until: datetime) -> int:
        """Finished games of ``uid`` with ``since <= finished_at < until``: their count or score sum, over
        every games database (queried side by side)."""
        if until <= since:
            return 0
        parts = await asyncio.gather(*(_progress(db, uid, metric, since, until) for db in self._games))
        return sum(parts)


async def _progress(
    db: firestore.AsyncClient, uid: str, metric: GoalMetric, since: datetime, until: datetime
) -> int:
    query = (
        db.collection(GAMES)
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
