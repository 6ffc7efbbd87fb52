"""Games finished while Redis is frozen reach the boards when it returns, with no action from the client.

The finish answers 200 with ``ranks_pending`` and marks the game ``board_pending`` in /games; the reconciler
puts it on the boards, triggered by the API's breaker closing again or by the scheduled job
(``pog leaderboards reconcile``). Redis is frozen (SIGSTOP), not killed: it keeps its data and its
``{lb}:alive`` marker, so no rebuild steps in and the reconciler alone has to bring the scores back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.domain.leaderboards import Period, decode, period_id
from app.ops.leaderboards_cli import leaderboards_app
from app.repositories.leaderboard_keys import board_key
from tests.app.conftest import Backends, MakeClient, Mint
from tests.app.repositories.chaos.boards import assert_boards_equal_a_rebuild, marked_games
from tests.app.repositories.chaos.conftest import RedisControl
from tests.app.repositories.chaos.test_redis_breaker import BREAKER, breaker_state, sample
from tests.waiting import wait_until

PLAYERS = [f"p{i:02d}" for i in range(8)]


def _played(client: TestClient, headers: dict[str, str], points: int) -> str:
    r = client.post("/v1/games", headers=headers, json={})
    assert r.status_code == 201, r.text
    game_id: str = r.json()["game_id"]
    events = {"events": [{"type": "coin", "t_ms": 0, "points": points}]}
    assert client.post(f"/v1/games/{game_id}/events", headers=headers, json=events).status_code == 200
    return game_id


def _finish_during_outage(
    client: TestClient, alive_redis: RedisControl, auth: Mint, db: firestore.Client
) -> dict[str, tuple[str, int]]:
    """Each player starts a game with Redis up and finishes it with Redis frozen: uid -> (game id, score)."""
    games = {uid: (_played(client, auth(uid), 100 + 7 * n), 100 + 7 * n) for n, uid in enumerate(PLAYERS)}
    pending_before = sample("pog_leaderboard_pending_total")
    alive_redis.pause()
    for uid, (game_id, score) in games.items():
        r = client.post(f"/v1/games/{game_id}/finish", headers=auth(uid), json={"score": score})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "final_score": score,
            "ranks": {"daily": None, "weekly": None, "monthly": None, "all_time": None},
            "ranks_pending": True,
        }
    assert breaker_state(client) == "opened"
    assert marked_games(db) == {game_id for game_id, _ in games.values()}
    assert sample("pog_leaderboard_pending_total") == pending_before + len(PLAYERS)
    return games


def _on_the_boards(direct: redis.Redis, games: dict[str, tuple[str, int]]) -> dict[str, int]:
    """uid -> the score the daily global board holds for each player who played."""
    key = board_key("daily", period_id(Period.daily, datetime.now(UTC)))
    found = {}
    for uid in games:
        encoded = direct.zscore(key, uid)
        if encoded is not None:
            found[uid] = decode(Period.daily, encoded)[0]
    return found


def test_the_api_submits_the_pending_scores_when_its_breaker_closes(
    alive_redis: RedisControl, make_client: MakeClient, auth: Mint, db: firestore.Client, backends: Backends
) -> None:
    """Failed before issue 18: the scores reached the boards only when the client sent the finish again."""
    client = make_client(redis_url=alive_redis.url, **BREAKER)
    games = _finish_during_outage(client, alive_redis, auth, db)
    reconciled_before = sample("pog_leaderboard_reconciled_total")

    alive_redis.resume()
    # Other traffic (a profile read by someone else) makes the breaker's trial call; no finish is sent again.
    reader = auth("reader")
    wait_until(
        lambda: client.get("/v1/me", headers=reader).status_code == 200 and breaker_state(client) == "closed",
        timeout=20,
        interval=0.1,
        what=lambda: f"breaker still {breaker_state(client)}",
    )
    wait_until(
        lambda: not marked_games(db),
        timeout=20,
        interval=0.1,
        what=lambda: f"still marked: {marked_games(db)}",
    )

    with alive_redis.direct() as direct:
        assert _on_the_boards(direct, games) == {uid: score for uid, (_, score) in games.items()}
    assert sample("pog_leaderboard_reconciled_total") == reconciled_before + len(PLAYERS)
    assert_boards_equal_a_rebuild(backends, alive_redis, boards=4)  # four periods' global boards


@pytest.fixture
def job_env(alive_redis: RedisControl, backends: Backends, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("POG_ENVIRONMENT", "test")
    monkeypatch.setenv("POG_REDIS_URL", alive_redis.url)
    monkeypatch.setenv("POG_FIREBASE_PROJECT_ID", backends.project)
    monkeypatch.setenv("POG_LOG_JSON", "false")
    monkeypatch.setenv("POG_REDIS_TIMEOUT_MS", "200")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _reconcile_command() -> dict[str, Any]:
    result = CliRunner().invoke(leaderboards_app, ["reconcile"])
    assert result.exit_code == 0, result.output
    found, _ = json.JSONDecoder().raw_decode(result.output[result.output.index("{\n") :])
    assert isinstance(found, dict)
    return found


def test_the_scheduled_job_submits_the_pending_scores_once(
    alive_redis: RedisControl,
    job_env: None,
    make_client: MakeClient,
    auth: Mint,
    db: firestore.Client,
    backends: Backends,
) -> None:
    """Failed before issue 18: the scores reached the boards only when the client sent the finish again.

    The API's breaker stays open for the whole test (a long recovery): only the job can bring them back."""
    client = make_client(redis_url=alive_redis.url, **{**BREAKER, "redis_breaker_recovery_s": 600})
    games = _finish_during_outage(client, alive_redis, auth, db)

    # A run while Redis is still frozen submits nothing and clears nothing.
    frozen = {"submitted": 0, "left": True, "stopped": "boards_unreachable", "cache_swept": False}
    assert _reconcile_command() == frozen
    assert len(marked_games(db)) == len(PLAYERS)

    alive_redis.resume()
    done = {"submitted": len(PLAYERS), "left": False, "stopped": None, "cache_swept": True}
    assert _reconcile_command() == done
    assert marked_games(db) == set()
    with alive_redis.direct() as direct:
        assert _on_the_boards(direct, games) == {uid: score for uid, (_, score) in games.items()}
        versions = {k: direct.get(k) for k in direct.keys("{lb}:*:v")}
    assert len(versions) == 4
    # A second run finds nothing to submit: the boards (and their versions) do not move.
    assert _reconcile_command() == done | {"submitted": 0}
    with alive_redis.direct() as direct:
        assert {k: direct.get(k) for k in direct.keys("{lb}:*:v")} == versions
    assert breaker_state(client) == "opened"  # the API had no part in it
    assert_boards_equal_a_rebuild(backends, alive_redis, boards=4)  # four periods' global boards
