"""``pog leaderboards rebuild`` and ``rewards`` against the test redis-server and emulator (``rewards`` with
the economy's real grant service)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.domain.leaderboards import PERIODS, Period, decode, period_id, period_start, previous_period_id
from app.ops.leaderboards_cli import leaderboards_app
from app.repositories.analytics import OUTBOX_KEY
from app.repositories.leaderboard_keys import ALIVE_KEY, board_key
from app.services.leaderboards_jobs import REWARD_TIERS, coins_for, source_id
from tests.app.conftest import Backends
from tests.app.fixtures.leaderboards import store_game, store_user
from tests.app.fixtures.pubsub import Topic
from tests.app.repositories.test_analytics_flows import decoded


def report(output: str) -> dict[str, Any]:
    """The command's JSON report (log lines may come before it on the same stream)."""
    found, _ = json.JSONDecoder().raw_decode(output[output.index("{\n") :])
    assert isinstance(found, dict)
    return found


@pytest.fixture
def env(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_REDIS_URL", backends.redis_url)
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    monkeypatch.setenv("POG_LOG_JSON", "false")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_rebuild_command_restores_the_boards(env: None, db: firestore.Client, rds: redis.Redis) -> None:
    now = datetime.now(UTC)
    store_game(db, "g1", "alice", 70, now, "IE")
    result = CliRunner().invoke(leaderboards_app, ["rebuild", "--period", "daily"])
    assert result.exit_code == 0, result.output
    assert report(result.output)[f"daily:{period_id(Period.daily, now)}"] == {"global": 1, "country:IE": 1}
    score = rds.zscore(board_key("daily", period_id(Period.daily, now), "country:IE"), "alice")
    assert decode(Period.daily, score)[0] == 70
    assert rds.exists(ALIVE_KEY)


def test_rewards_dry_run_archives_without_granting(env: None, db: firestore.Client, rds: redis.Redis) -> None:
    result = CliRunner().invoke(leaderboards_app, ["rewards", "--dry-run"])
    assert result.exit_code == 0, result.output
    found = report(result.output)
    assert all(v["rewards"] is None for k, v in found.items() if not k.startswith("checkpoint"))
    assert "reconciled_first" not in found  # a dry run submits nothing


def test_rebuild_refuses_an_unknown_period(env: None) -> None:
    result = CliRunner().invoke(leaderboards_app, ["rebuild", "--period", "hourly"])
    assert result.exit_code == 2
    assert "--period must be one of" in result.output


Game = tuple[str, int, str | None]  # uid, score, country


def _expected_rewards(games: list[Game], at: datetime, now: datetime) -> dict[str, int]:
    """source_id -> coins for games finished at ``at``: the boards of every period that has just ended."""
    expected: dict[str, int] = {}
    for period in PERIODS:
        pid = period_id(period, at)
        if previous_period_id(period, now) != pid:
            continue  # ``at`` is in a running period (or all-time): nothing pays yet
        boards: dict[str, list[tuple[int, str]]] = {}
        for uid, score, country in games:
            boards.setdefault("global", []).append((score, uid))
            if country:
                boards.setdefault(f"country:{country}", []).append((score, uid))
        for name, entries in boards.items():
            tiers = REWARD_TIERS.get((period, "global" if name == "global" else "country"), ())
            for rank, (_, uid) in enumerate(sorted(entries, reverse=True), start=1):
                if coins_for(tiers, rank):
                    expected[source_id(period, pid, name, uid)] = coins_for(tiers, rank)
    return expected


def _yesterdays_games(db: firestore.Client) -> tuple[list[Game], datetime, dict[str, int]]:
    """Twelve players' games finished yesterday at 01:00 UTC (IE, FR or no country), and the rewards
    (source_id -> coins) a reset pays for them."""
    now = datetime.now(UTC)
    at = period_start(Period.daily, now) - timedelta(hours=23)
    countries = ("IE", "FR", None)
    games = [(f"p{i:02d}", 100 + i, countries[i % 3]) for i in range(12)]
    for n, (uid, score, country) in enumerate(games):
        store_user(db, uid, uid.upper(), country)
        store_game(db, f"g{n}", uid, score, at, country)
    return games, at, _expected_rewards(games, at, now)


def test_rewards_command_grants_once_with_the_grant_service(
    env: None, db: firestore.Client, rds: redis.Redis
) -> None:
    """Yesterday's boards (rebuilt from /games by the job itself) pay their winners through the economy's
    grant service: one grant and one audit entry per board won, however often the job runs, also when a
    run lost its own markers (the grant service answers the same source_id as a duplicate)."""
    games, at, expected = _yesterdays_games(db)
    # Daily: 10 global winners, 3 on IE, 3 on FR (a Monday or a 1st adds the weekly or monthly boards).
    assert sum(sid.startswith("lb:daily:") for sid in expected) == 16

    first = CliRunner().invoke(leaderboards_app, ["rewards"])
    assert first.exit_code == 0, first.output
    # As if the first run had crashed after its grants committed, before its markers and its "done":
    daily_doc = db.collection("leaderboards").document(f"daily-{period_id(Period.daily, at)}")
    for marker in daily_doc.collection("rewards").stream():
        marker.reference.delete()
    daily_doc.update({"rewards_done_at": firestore.DELETE_FIELD})
    second = CliRunner().invoke(leaderboards_app, ["rewards"])
    assert second.exit_code == 0, second.output
    third = CliRunner().invoke(leaderboards_app, ["rewards"])
    assert third.exit_code == 0, third.output

    daily = f"daily:{period_id(Period.daily, at)}"
    assert report(first.output)[daily] == {"archived_now": True, "rewards": {"granted": 16}}
    assert report(second.output)[daily] == {"archived_now": False, "rewards": {"duplicate": 16}}
    assert report(third.output)[daily] == {"archived_now": False, "rewards": {}}
    grants = [
        entry
        for doc in db.collection("transactions").stream()
        if (entry := doc.to_dict() or {}).get("source") == "leaderboard_reward"
    ]
    assert sorted(e["source_id"] for e in grants) == sorted(expected)  # one audit entry per grant
    assert all(e["kind"] == "grant" and e["coins"] == expected[e["source_id"]] for e in grants)
    for uid, _, _ in games:
        won = sum(coins for sid, coins in expected.items() if sid.endswith(f":{uid}"))
        coins = (db.collection("users").document(uid).get().to_dict() or {})["inventory"]["coins"]
        assert coins == won, uid


def test_rewards_in_three_regions_at_once_grant_each_reward_once(
    env: None, db: firestore.Client, rds: redis.Redis
) -> None:
    """The period job runs in every API region (contract/backend.yaml); a late primary can overlap another
    region's run. Three processes started together, as three regions' Cloud Run jobs would be: one of them
    archives each period (two overlapping runs may both write it: the same final standings, merged into the
    same documents), every reward is granted exactly once, and every run succeeds."""
    games, at, expected = _yesterdays_games(db)

    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.ops", "leaderboards", "rewards"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    daily = f"daily:{period_id(Period.daily, at)}"
    reports = [report(output)[daily] for output in outputs]
    assert any(r["archived_now"] for r in reports), reports
    archive = db.collection("leaderboards").document(daily.replace(":", "-")).get().to_dict() or {}
    assert archive["final"] is True
    assert archive["boards"] == {"global": 12, "country:IE": 4, "country:FR": 4}
    assert sum(r["rewards"].get("granted", 0) for r in reports) == sum(
        sid.startswith("lb:daily:") for sid in expected
    ), reports
    grants = [
        entry
        for doc in db.collection("transactions").stream()
        if (entry := doc.to_dict() or {}).get("source") == "leaderboard_reward"
    ]
    assert sorted(e["source_id"] for e in grants) == sorted(expected)
    for uid, _, _ in games:
        won = sum(coins for sid, coins in expected.items() if sid.endswith(f":{uid}"))
        assert (db.collection("users").document(uid).get().to_dict() or {})["inventory"]["coins"] == won, uid


def test_reconcile_command_submits_the_pending_games_once(
    env: None, db: firestore.Client, rds: redis.Redis
) -> None:
    """Failed before issue 18: no command put a game whose submit failed on the boards (only a replay did)."""
    now = datetime.now(UTC)
    rds.set(ALIVE_KEY, now.isoformat())
    store_game(db, "g1", "alice", 70, now, "IE")
    db.collection("games").document("g1").update({"board_pending": True, "board_pending_at": now})
    store_game(db, "g2", "bob", 90, now, "IE")  # on the boards already (not marked): left alone

    first = CliRunner().invoke(leaderboards_app, ["reconcile"])
    assert first.exit_code == 0, first.output
    assert report(first.output) == {"submitted": 1, "left": False, "stopped": None, "cache_swept": True}
    board = board_key("daily", period_id(Period.daily, now), "country:IE")
    assert rds.zrange(board, 0, -1) == [b"alice"]
    assert "board_pending" not in (db.collection("games").document("g1").get().to_dict() or {})
    again = CliRunner().invoke(leaderboards_app, ["reconcile"])
    assert again.exit_code == 0, again.output
    assert report(again.output) == {"submitted": 0, "left": False, "stopped": None, "cache_swept": True}


def test_rewards_first_submits_the_scores_an_outage_left_pending(
    env: None, db: firestore.Client, rds: redis.Redis
) -> None:
    """An outage across midnight: yesterday's game is in /games, marked pending, and not on the live boards
    (which are alive, so no rebuild steps in). The job puts it there before archiving, so it is paid."""
    now = datetime.now(UTC)
    at = period_start(Period.daily, now) - timedelta(hours=1)
    rds.set(ALIVE_KEY, now.isoformat())
    store_user(db, "alice", "ALICE", "IE")
    store_game(db, "g1", "alice", 70, at, "IE")
    db.collection("games").document("g1").update({"board_pending": True, "board_pending_at": at})

    result = CliRunner().invoke(leaderboards_app, ["rewards"])

    assert result.exit_code == 0, result.output
    found = report(result.output)
    assert found["reconciled_first"]["submitted"] == 1
    assert found[f"daily:{period_id(Period.daily, at)}"]["rewards"] == {"granted": 2}  # global and IE
    assert "board_pending" not in (db.collection("games").document("g1").get().to_dict() or {})


def test_rewards_publish_one_period_reward_event_per_reward_granted(
    env: None, db: firestore.Client, rds: redis.Redis, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With analytics on, each reward granted is a ``leaderboard_period_reward`` event (and a ``grant``); a
    rerun grants nothing and publishes nothing new."""
    monkeypatch.setenv("POG_ANALYTICS_TOPIC", topic.topic)
    get_settings.cache_clear()
    _games, at, expected = _yesterdays_games(db)
    for _ in range(2):
        run = CliRunner().invoke(leaderboards_app, ["rewards"])
        assert run.exit_code == 0, run.output
    # A job's sink flushes its queue when the command ends: what Pub/Sub did not take in time waits in the
    # outbox for the API's drain (none runs here), so the events are what arrived plus what waits there.
    waiting = [json.loads(fields[b"e"]) for _id, fields in rds.xrange(OUTBOX_KEY)]
    topic.pull_until(2 * len(expected) - len(waiting))
    events = {e["event_id"]: e for e in [*(decoded(m) for m in topic.received), *waiting]}
    rewards = [e for e in events.values() if e["name"] == "leaderboard_period_reward"]
    assert len(rewards) == len(expected)
    daily = [json.loads(e["params"]) for e in rewards if json.loads(e["params"])["period"] == "daily"]
    assert sorted(p["coins"] for p in daily) == sorted(
        coins for sid, coins in expected.items() if sid.startswith("lb:daily:")
    )
    assert {p["period_id"] for p in daily} == {period_id(Period.daily, at)}
    assert sum(e["name"] == "grant" for e in events.values()) == len(expected)
