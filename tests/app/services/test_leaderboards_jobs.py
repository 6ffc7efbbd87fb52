"""Phase 3: the API regions share one set of boards but keep their games in their own databases
(``games-<region>``), so a rebuild in any region must read every region's finished games."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from google.cloud import firestore

from app.domain.leaderboards import BoardRules
from app.repositories.clients import database_client
from app.repositories.leaderboard_archive import GamesDatabaseUnreadableError, LeaderboardArchive
from app.repositories.leaderboard_keys import ALIVE_KEY, REBUILD_LOCK_KEY
from app.services.leaderboards_jobs import LeaderboardJobs
from tests.app.conftest import Backends, settings_for
from tests.app.fixtures.leaderboards import Clock, Parts, run, store_game
from tests.app.services.test_leaderboards_service import T0, boards_content

RULES = (
    "daily:global=incr"  # a cumulative board too: a rebuild replaces it, so one region's games would not do
)


@pytest.fixture
def regions(backends: Backends) -> Iterator[dict[str, firestore.Client]]:
    """Two regions' games databases, fresh for the test (the clean fixture clears only the default one)."""
    names = [f"games-{region}-{uuid.uuid4().hex[:8]}" for region in ("us", "eu")]
    clients = {name: firestore.Client(project=backends.project, database=name) for name in names}
    yield clients
    for client in clients.values():
        client.close()


def _play_in_both_regions(
    backends: Backends, clock: Clock, regions: dict[str, firestore.Client], settings: dict[str, Any]
) -> None:
    """Each region's finish path: the game in its region's database, then the shared boards."""
    names = list(regions)
    games = [
        (
            f"g{i}",
            f"p{i % 25}",
            (i * 53) % 700,
            T0 - timedelta(days=i % 5, minutes=i),
            ["IE", "US", None][i % 3],
        )
        for i in range(120)
    ]
    for i, (game_id, uid, score, at, country) in enumerate(games):
        store_game(regions[names[i % 2]], game_id, uid, score, at, country)

    async def submit(p: Parts) -> None:
        await p.lb.sink.boards.mark_alive(clock())
        for game_id, uid, score, at, country in sorted(games, key=lambda game: game[3]):  # as they finished
            await p.lb.sink.submit(uid, game_id, score, country, at)

    run(backends, clock, submit, **settings)


async def _rebuild(p: Parts) -> Any:
    return await p.lb.jobs.rebuild()


def test_a_rebuild_in_one_region_restores_the_games_of_every_region(
    backends: Backends, rds: redis.Redis, regions: dict[str, firestore.Client]
) -> None:
    us, eu = regions
    clock = Clock(T0 + timedelta(hours=2))
    both = {"games_database": us, "all_games_databases": [us, eu], "leaderboard_rules": RULES}
    _play_in_both_regions(backends, clock, regions, both)
    before = boards_content(rds)
    assert len(before) >= 10

    rds.flushall()
    report = run(backends, clock, _rebuild, games_database=us, leaderboard_rules=RULES)
    assert report is not None
    own_region_only = boards_content(rds)
    assert own_region_only != before  # what one region's database alone gives back: the other's games lost

    rds.flushall()
    assert run(backends, clock, _rebuild, **both) is not None
    rebuilt = tuple(f"{{lb}}:{name}:" for name in report)
    assert boards_content(rds) == {k: v for k, v in before.items() if k.startswith(rebuilt)}
    assert rds.exists(ALIVE_KEY)


def test_an_unreadable_games_database_fails_the_rebuild_and_leaves_the_boards_lost(
    backends: Backends, rds: redis.Redis, regions: dict[str, firestore.Client]
) -> None:
    us, _ = regions
    clock = Clock(T0 + timedelta(hours=2))
    store_game(regions[us], "g1", "alice", 40, T0, "IE")
    rds.flushall()

    async def rebuild_with_a_broken_region(p: Parts) -> None:
        # The emulator accepts any database id but refuses a malformed one, as Firestore answers NotFound
        # for a database that does not exist: a non-retryable failure, quickly.
        config = settings_for(backends)
        archive = LeaderboardArchive(
            {us: database_client(config, p.db, us), "a/b": database_client(config, p.db, "a/b")}, p.db
        )
        jobs = LeaderboardJobs(p.lb.sink.boards, archive, BoardRules(), clock)
        try:
            with pytest.raises(GamesDatabaseUnreadableError, match="games database 'a/b' could not be read"):
                await jobs.rebuild()
        finally:
            await archive.close()

    run(backends, clock, rebuild_with_a_broken_region, games_database=us)
    assert not rds.exists(ALIVE_KEY)  # still lost: the next submit or page read tries again
    assert not rds.exists(REBUILD_LOCK_KEY)  # the lock is released for that next try
