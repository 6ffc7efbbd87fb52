"""The reconciler against the real boards and Firestore: every games database, bounded batches, marks
cleared only after the boards took the game, one run at a time (the Redis lock).

The outage itself (a frozen redis-server) and both triggers:
tests/app/repositories/chaos/test_pending_scores.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from app.domain.games import Ranks
from app.domain.leaderboards import Period, decode, period_id
from app.repositories.games_pending import PendingBoardSubmits
from app.repositories.leaderboard_keys import board_key
from app.repositories.leaderboard_sets import RECONCILE_LOCK_KEY, RedisLeaderboardSink
from app.services.leaderboards_reconcile import LeaderboardReconciler, ReconcileReport
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.leaderboards import Clock, Parts, run, store_game
from tests.app.services.test_leaderboards_service import T0

NOW = T0 + timedelta(hours=2)


@pytest.fixture
def regions(backends: Backends, rds: redis.Redis) -> Iterator[dict[str, firestore.Client]]:
    """Two regions' games databases, fresh for the test (the clean fixture clears only the default one)."""
    names = [f"games-{region}-{uuid.uuid4().hex[:8]}" for region in ("us", "eu")]
    clients = {name: firestore.Client(project=backends.project, database=name) for name in names}
    yield clients
    for client in clients.values():
        client.close()


def _pending_game(db: firestore.Client, game_id: str, uid: str, score: int, at: datetime) -> None:
    store_game(db, game_id, uid, score, at, "IE")
    db.collection("games").document(game_id).update({"board_pending": True, "board_pending_at": at})


def _marked(regions: dict[str, firestore.Client]) -> set[str]:
    query = FieldFilter("board_pending", "==", True)
    return {s.id for db in regions.values() for s in db.collection("games").where(filter=query).stream()}


def _daily(rds: redis.Redis, country: str | None = None) -> dict[str, int]:
    name = f"country:{country}" if country else "global"
    entries = rds.zrange(board_key("daily", period_id(Period.daily, T0), name), 0, -1, withscores=True)
    return {uid.decode(): decode(Period.daily, score)[0] for uid, score in entries}


class CutAfter:
    """The real sink, until Redis "goes away" after ``reached`` submits (answers as the sink then does)."""

    def __init__(self, sink: RedisLeaderboardSink, reached: int) -> None:
        self._sink = sink
        self.left = reached

    async def submit(
        self, uid: str, game_id: str, score: int, country: str | None, finished_at: datetime
    ) -> Ranks | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return await self._sink.submit(uid, game_id, score, country, finished_at)


def _reconcile(
    backends: Backends, regions: dict[str, firestore.Client], reached: int | None = None, **bounds: Any
) -> ReconcileReport:
    us, eu = regions
    settings = settings_for(backends, games_database=us, all_games_databases=[us, eu])

    async def reconcile(p: Parts) -> ReconcileReport:
        await p.lb.sink.boards.mark_alive(NOW)
        pending = PendingBoardSubmits.for_settings(settings, p.db)
        sink = p.lb.sink if reached is None else CutAfter(p.lb.sink, reached)
        try:
            return await LeaderboardReconciler(pending, sink, p.lb.sink.boards, **bounds).run()
        finally:
            await pending.close()

    return run(backends, Clock(NOW), reconcile)


def test_every_database_in_bounded_batches_until_none_is_left(
    backends: Backends, rds: redis.Redis, regions: dict[str, firestore.Client]
) -> None:
    us, eu = regions
    for i in range(7):
        _pending_game(regions[us if i % 2 else eu], f"g{i}", f"p{i}", 10 * (i + 1), T0 + timedelta(minutes=i))
    store_game(regions[us], "on-the-boards", "q", 5, T0, "IE")  # not marked: not submitted again

    first = _reconcile(backends, regions, batch=2, max_batches=1)  # two per database per run at most
    assert first == ReconcileReport(submitted=4, left=True)
    assert len(_marked(regions)) == 3
    second = _reconcile(backends, regions, batch=2, max_batches=2)
    assert second == ReconcileReport(submitted=3, left=False)
    assert _marked(regions) == set()
    expected = {f"p{i}": 10 * (i + 1) for i in range(7)}
    assert _daily(rds) == expected
    assert _daily(rds, "IE") == expected


def test_marks_are_cleared_only_for_the_games_the_boards_took(
    backends: Backends, rds: redis.Redis, regions: dict[str, firestore.Client]
) -> None:
    us, _ = regions
    for i in range(5):
        _pending_game(regions[us], f"g{i}", f"p{i}", 10 + i, T0)

    cut = _reconcile(backends, regions, reached=2)
    assert cut == ReconcileReport(submitted=2, left=True, stopped="boards_unreachable")
    assert len(_marked(regions)) == 3
    assert len(_daily(rds)) == 2
    assert not rds.exists(RECONCILE_LOCK_KEY)  # released for the next run

    versions = None
    for expected in (ReconcileReport(submitted=3), ReconcileReport(submitted=0)):
        assert _reconcile(backends, regions) == expected
        now = {k: rds.get(k) for k in rds.keys("{lb}:*:v")}
        assert versions is None or now == versions  # the second run submitted nothing again
        versions = now
    assert _marked(regions) == set()
    assert _daily(rds) == {f"p{i}": 10 + i for i in range(5)}


def test_a_run_holding_the_lock_keeps_others_out(
    backends: Backends, rds: redis.Redis, regions: dict[str, firestore.Client]
) -> None:
    us, _ = regions
    _pending_game(regions[us], "g1", "alice", 40, T0)
    rds.set(RECONCILE_LOCK_KEY, "another-region", ex=60)
    assert _reconcile(backends, regions) == ReconcileReport(stopped="locked")
    assert _marked(regions) == {"g1"}
    assert rds.get(RECONCILE_LOCK_KEY) == b"another-region"  # not released by someone else's run
    rds.delete(RECONCILE_LOCK_KEY)
    assert _reconcile(backends, regions) == ReconcileReport(submitted=1)
    assert _daily(rds) == {"alice": 40}
