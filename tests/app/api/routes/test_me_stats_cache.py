"""GET /v1/me/stats: its own Redis entry (1 hour), deleted with the profile's when a finished game changes
the stats; the profile entry keeps its 24-hour TTL."""

from __future__ import annotations

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.core.config import Settings
from app.core.metrics import REGISTRY
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.events import play

STATS = "user:alice:stats"
PROFILE = "user:alice:profile"
DAY_S = 24 * 3600


def _stats_lookups(result: str) -> float:
    value = REGISTRY.get_sample_value("pog_cache_requests_total", {"cache": "stats", "result": result})
    return value or 0.0


def test_stats_are_cached_in_their_own_entry_for_at_most_an_hour(
    client: TestClient, auth: Mint, rds: redis.Redis, db: firestore.Client
) -> None:
    h = auth("alice")
    assert client.get("/v1/me", headers=h).status_code == 200
    r = client.get("/v1/me/stats", headers=h)
    assert r.status_code == 200
    cached = rds.get(STATS)
    assert cached is not None
    assert orjson.loads(cached) == r.json() == {"games_played": 0, "best_score": 0, "total_score": 0}
    assert 3500 < rds.ttl(STATS) <= 3600
    # Served from the entry: a change behind the cache does not show until the entry goes.
    db.collection("users").document("alice").update({"stats.best_score": 420})
    assert client.get("/v1/me/stats", headers=h).json()["best_score"] == 0
    rds.delete(STATS)
    assert client.get("/v1/me/stats", headers=h).json()["best_score"] == 420
    assert DAY_S - 100 < rds.ttl(PROFILE) <= DAY_S


def test_a_finished_game_deletes_the_stats_and_profile_entries(
    client: TestClient, auth: Mint, rds: redis.Redis
) -> None:
    h = auth("alice")
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 0
    assert client.get("/v1/me", headers=h).json()["stats"]["games_played"] == 0
    assert rds.exists(STATS, PROFILE) == 2
    play(client, h, [10, 20])
    assert rds.exists(STATS, PROFILE) == 0
    fresh = {"games_played": 1, "best_score": 30, "total_score": 30}
    assert client.get("/v1/me/stats", headers=h).json() == fresh
    assert 3500 < rds.ttl(STATS) <= 3600
    profile = client.get("/v1/me", headers=h)
    assert profile.json()["stats"] == fresh  # never older than the stats entry
    assert rds.get(PROFILE) == profile.content
    assert DAY_S - 100 < rds.ttl(PROFILE) <= DAY_S


def test_the_stats_ttl_is_a_setting(make_client: MakeClient, auth: Mint, rds: redis.Redis) -> None:
    client = make_client(stats_cache_ttl_s=120)
    assert client.get("/v1/me/stats", headers=auth("alice")).status_code == 200
    assert 0 < rds.ttl(STATS) <= 120


def test_the_stats_ttl_setting_reads_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().stats_cache_ttl_s == 3600
    monkeypatch.setenv("POG_STATS_CACHE_TTL_S", "900")
    assert Settings().stats_cache_ttl_s == 900


def test_stats_lookups_are_counted_as_the_stats_cache(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    misses, hits = _stats_lookups("miss"), _stats_lookups("hit")
    client.get("/v1/me/stats", headers=h)
    client.get("/v1/me/stats", headers=h)
    assert (_stats_lookups("miss"), _stats_lookups("hit")) == (misses + 1, hits + 1)
