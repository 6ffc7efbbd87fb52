"""The leaderboard jobs on a real Redis Cluster: the rebuild from Firestore (``best`` boards merged, an
``incr`` board built aside and swapped in by its script) and the daily reset (archive from Redis, rewards
once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.domain.leaderboards import Period, decode, period_id
from app.ops.leaderboards_cli import leaderboards_app
from app.repositories.leaderboard_keys import ALIVE_KEY, board_key
from app.services.leaderboards_jobs import REWARD_TIERS
from tests.app.conftest import Backends
from tests.app.fixtures.leaderboards import Clock, Parts, RecordingGranter, run, store_game
from tests.app.repositories.cluster.conftest import Shards

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
INCR_DAILY = {"leaderboard_rules": "daily:global=incr"}

Game = tuple[str, str, int, datetime, str | None]  # game id, uid, score, finished at, country


def _boards(shards: Shards) -> dict[str, list[tuple[bytes, float]]]:
    """Every board (sorted set) in the cluster with its members and scores, whichever node holds it."""
    boards: dict[str, list[tuple[bytes, float]]] = {}
    for client in shards.clients.values():
        for key in client.scan_iter(match="{lb}:*", count=1000):
            if client.type(key) == b"zset":
                boards[key.decode()] = client.zrange(key, 0, -1, withscores=True)
    return boards


def _submit(
    db: firestore.Client, backends: Backends, shards: Shards, clock: Clock, games: list[Game]
) -> None:
    """Store each finished game in /games and submit it to the cluster's boards, as the finish path does."""
    for game_id, uid, score, at, country in games:
        store_game(db, game_id, uid, score, at, country)

    async def submit(p: Parts) -> None:
        await p.lb.sink.boards.mark_alive(clock())
        for game_id, uid, score, at, country in games:
            await p.lb.sink.submit(uid, game_id, score, country, at)

    run(backends, clock, submit, **shards.settings, **INCR_DAILY)


def test_flushed_boards_are_rebuilt_identical_on_the_cluster(
    db: firestore.Client, backends: Backends, shards: Shards
) -> None:
    clock = Clock(T0 + timedelta(hours=2))
    countries = ["IE", "FR", None]
    games = [
        (f"g{i}", f"p{i % 10}", (i * 37) % 500, T0 - timedelta(days=i % 3, minutes=i), countries[i % 4 % 3])
        for i in range(120)
    ]
    _submit(db, backends, shards, clock, games)
    before = _boards(shards)
    today = {}
    for _game_id, uid, score, at, _country in games:
        if at.date() == T0.date():
            today[uid] = today.get(uid, 0) + score
    daily = [
        (uid.decode(), decode(Period.daily, value)[0])
        for uid, value in before[board_key("daily", "2026-11-26")]
    ]
    assert sorted(daily) == sorted(today.items())  # the incr board: every game of the day added once
    assert len(today) == 10
    shards.flush()  # e.g. a failover to an empty replica

    async def rebuild_twice(p: Parts) -> tuple[Any, Any]:
        return await p.lb.jobs.rebuild(), await p.lb.jobs.rebuild()

    first, second = run(backends, clock, rebuild_twice, **shards.settings, **INCR_DAILY)
    assert first is not None
    assert second == first  # the second swaps the incr board over an existing one
    rebuilt = tuple(f"{{lb}}:{name}:" for name in first)
    expected = {key: members for key, members in before.items() if key.startswith(rebuilt)}
    assert len(expected) >= 10
    assert _boards(shards) == expected
    assert shards.clients[shards.owner(ALIVE_KEY)].exists(ALIVE_KEY)
    assert not shards.holders("*:rebuild")  # nothing left aside


def test_reset_archives_from_the_cluster_and_rewards_once(
    db: firestore.Client, backends: Backends, shards: Shards
) -> None:
    yesterday = T0 - timedelta(days=1)
    clock = Clock(T0)
    games: list[Game] = [
        (f"g{i}", f"p{i:02d}", 100 + i, yesterday, "IE" if i % 2 else None) for i in range(15)
    ]
    _submit(db, backends, shards, clock, games)
    granter = RecordingGranter()

    async def reset_twice(p: Parts) -> tuple[Any, Any]:
        return await p.lb.jobs.reset(granter), await p.lb.jobs.reset(granter)

    one, two = run(backends, clock, reset_twice, **shards.settings, **INCR_DAILY)
    pid = period_id(Period.daily, yesterday)
    top = max(t.last for t in REWARD_TIERS[(Period.daily, "global")])
    top_ie = max(t.last for t in REWARD_TIERS[(Period.daily, "country")])
    assert one[f"daily:{pid}"] == {"archived_now": True, "rewards": {"granted": top + top_ie}}
    assert two[f"daily:{pid}"] == {"archived_now": False, "rewards": {}}
    assert len([sid for sid in granter.granted if sid.startswith(f"lb:daily:{pid}:")]) == top + top_ie
    archive = db.collection("leaderboards").document(f"daily-{pid}").get().to_dict() or {}
    assert archive["final"] is True
    assert archive["boards"] == {"global": 15, "country:IE": 7}


def test_rebuild_command_with_pog_redis_cluster(
    db: firestore.Client, backends: Backends, shards: Shards, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pog leaderboards rebuild`` as the Cloud Run job runs it, configured by the environment alone."""
    for name, value in {
        "POG_ENVIRONMENT": "test",
        "POG_REDIS_URL": shards.cluster.url,
        "POG_REDIS_CLUSTER": "true",
        "POG_FIREBASE_PROJECT_ID": backends.project,
        "POG_LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    now = datetime.now(UTC)
    store_game(db, "g1", "alice", 70, now, "IE")
    try:
        result = CliRunner().invoke(leaderboards_app, ["rebuild", "--period", "daily"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    key = board_key("daily", period_id(Period.daily, now), "country:IE")
    node = shards.clients[shards.owner(key)]
    assert decode(Period.daily, node.zscore(key, "alice"))[0] == 70
    assert node.exists(ALIVE_KEY)
