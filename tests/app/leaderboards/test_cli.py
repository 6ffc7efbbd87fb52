"""``pog leaderboards rebuild`` and ``rewards --dry-run`` against the test redis-server and emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from google.cloud import firestore
from typer.testing import CliRunner

from app.core.config import get_settings
from app.ops.leaderboards_cli import leaderboards_app
from app.repositories.leaderboard_sets import ALIVE_KEY, board_key
from app.services.leaderboards import Period, decode, period_id
from tests.app.conftest import Backends
from tests.app.leaderboards.support import store_game


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


def test_rebuild_refuses_an_unknown_period(env: None) -> None:
    result = CliRunner().invoke(leaderboards_app, ["rebuild", "--period", "hourly"])
    assert result.exit_code == 2
    assert "--period must be one of" in result.output
