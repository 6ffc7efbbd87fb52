from __future__ import annotations

import asyncio
import gzip
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain.games import MAX_EVENTS_PER_GAME, MAX_POINTS_PER_S, Ranks, decompress_events
from app.domain.leaderboards import Period, decode, period_ids
from app.repositories.breaker import RedisBreaker
from app.repositories.leaderboard_keys import board_key
from app.repositories.leaderboard_sets import RedisLeaderboardSink
from scripts.services import free_port
from tests.app.conftest import Backends, MakeClient, Mint


def _game(db: firestore.Client, game_id: str) -> dict[str, Any]:
    snap = db.collection("games").document(game_id).get()
    assert snap.exists
    data = snap.to_dict()
    assert data is not None
    return data


def _start(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    r = client.post("/v1/games", headers=headers, json=body or None)
    assert r.status_code == 201, r.text
    game_id: str = r.json()["game_id"]
    return game_id


def _events(client: TestClient, headers: dict[str, str], game_id: str, events: list[dict[str, Any]]) -> Any:
    return client.post(f"/v1/games/{game_id}/events", headers=headers, json={"events": events})


def _finish(client: TestClient, headers: dict[str, str], game_id: str, score: int) -> Any:
    return client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": score})


def _played(client: TestClient, headers: dict[str, str], points: list[int]) -> str:
    game_id = _start(client, headers)
    events = [{"type": "coin", "t_ms": 10 * i, "points": p} for i, p in enumerate(points)]
    assert _events(client, headers, game_id, events).status_code == 200
    return game_id


def _error(r: Any, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    message: str = r.json()["error"]["message"]
    return message


# --- POST /v1/games ----------------------------------------------------------------------------------


def test_start_creates_an_active_game_kept_7_days(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    before = datetime.now(UTC)
    game_id = _start(client, auth("alice"), mode="timed")
    doc = _game(db, game_id)
    assert doc["uid"] == "alice"
    assert doc["mode"] == "timed"
    assert doc["status"] == "active"
    assert before - timedelta(seconds=5) <= doc["started_at"] <= datetime.now(UTC)
    assert abs(doc["expires_at"] - doc["started_at"] - timedelta(days=7)) < timedelta(seconds=1)


def test_start_without_a_body_is_classic(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    assert _game(db, _start(client, auth("alice")))["mode"] == "classic"


@pytest.mark.parametrize("body", [{"mode": "god"}, {"mode": "classic", "uid": "bob"}, {"status": "finished"}])
def test_start_rejects_bad_bodies(client: TestClient, auth: Mint, body: dict[str, Any]) -> None:
    _error(client.post("/v1/games", headers=auth("alice"), json=body), 422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/v1/games"),
        ("post", "/v1/games/abc/events"),
        ("post", "/v1/games/abc/finish"),
    ],
)
def test_game_routes_need_a_token(client: TestClient, method: str, path: str) -> None:
    assert client.request(method, path, json={}).status_code == 401


# --- POST /v1/games/{id}/events ------------------------------------------------------------------------


def test_events_are_stored_gzip_compressed(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    first = [{"type": "coin", "t_ms": 0, "points": 5}, {"type": "jump", "t_ms": 40, "data": {"x": 1.5}}]
    second = [{"type": "coin", "t_ms": 40, "points": 7, "data": {"kind": "gold", "combo": True}}]
    r = _events(client, h, game_id, first)
    assert r.json() == {"accepted": 2, "event_count": 2}
    assert _events(client, h, game_id, second).json() == {"accepted": 1, "event_count": 3}
    doc = _game(db, game_id)
    chunks = [doc["events"][key] for key in sorted(doc["events"])]
    assert len(chunks) == 2
    assert all(chunk[:2] == b"\x1f\x8b" for chunk in chunks)  # gzip magic
    assert [orjson.loads(gzip.decompress(c)) for c in chunks] == [first, second]
    assert decompress_events(chunks) == first + second
    assert doc["event_count"] == 3
    assert doc["points_total"] == 12


def test_events_for_an_unknown_game_404(client: TestClient, auth: Mint) -> None:
    r = _events(client, auth("alice"), "nosuchgame", [{"type": "coin", "t_ms": 0}])
    _error(r, 404, "game_not_found")


def test_events_on_someone_elses_game_404_and_nothing_stored(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    game_id = _start(client, auth("bob"))
    r = _events(client, auth("alice"), game_id, [{"type": "coin", "t_ms": 0, "points": 5}])
    assert r.json() == _events(client, auth("alice"), "nosuchgame", [{"type": "coin", "t_ms": 0}]).json()
    _error(r, 404, "game_not_found")
    assert _game(db, game_id)["event_count"] == 0


@pytest.mark.parametrize("size", [0, 101])
def test_empty_or_oversized_batch_422(client: TestClient, auth: Mint, size: int) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    message = _error(_events(client, h, game_id, [{"type": "c", "t_ms": 0}] * size), 422, "validation_error")
    assert message.startswith("body.events")


@pytest.mark.parametrize(
    "event",
    [
        {"t_ms": 0},
        {"type": "Coin!", "t_ms": 0},
        {"type": "coin", "t_ms": -1},
        {"type": "coin", "t_ms": "10"},
        {"type": "coin", "t_ms": 0, "points": 1001},
        {"type": "coin", "t_ms": 0, "points": -1},
        {"type": "coin", "t_ms": 0, "score": 5},
        {"type": "coin", "t_ms": 0, "data": {"k": "x" * 65}},
        {"type": "coin", "t_ms": 0, "data": {f"k{i}": i for i in range(9)}},
        {"type": "coin", "t_ms": 0, "data": {"k": [1, 2]}},
    ],
)
def test_bad_event_fields_422(client: TestClient, auth: Mint, event: dict[str, Any]) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    _error(_events(client, h, game_id, [event]), 422, "validation_error")


def test_t_ms_going_back_in_a_batch_422(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    r = _events(client, h, game_id, [{"type": "a", "t_ms": 50}, {"type": "b", "t_ms": 49}])
    assert "goes back in time" in _error(r, 422, "invalid_events")
    assert _game(db, game_id)["event_count"] == 0


def test_t_ms_going_back_across_batches_422(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    assert _events(client, h, game_id, [{"type": "a", "t_ms": 50}]).status_code == 200
    r = _events(client, h, game_id, [{"type": "b", "t_ms": 10}])
    assert "goes back in time" in _error(r, 422, "invalid_events")


def test_t_ms_beyond_the_sessions_elapsed_time_422(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    r = _events(client, h, game_id, [{"type": "a", "t_ms": 60_000}])
    assert "elapsed time" in _error(r, 422, "invalid_events")


def test_event_limit_per_game_409(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    db.collection("games").document(game_id).update({"event_count": MAX_EVENTS_PER_GAME - 1})
    r = _events(client, h, game_id, [{"type": "a", "t_ms": 0}, {"type": "b", "t_ms": 1}])
    _error(r, 409, "event_limit_reached")
    assert _events(client, h, game_id, [{"type": "a", "t_ms": 0}]).status_code == 200


def test_compressed_bytes_limit_per_game_413(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    db.collection("games").document(game_id).update({"compressed_bytes": 512 * 1024 - 10})
    _error(_events(client, h, game_id, [{"type": "a", "t_ms": 0}]), 413, "events_too_large")


def test_events_after_finish_409(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _played(client, h, [3])
    assert _finish(client, h, game_id, 3).status_code == 200
    _error(_events(client, h, game_id, [{"type": "a", "t_ms": 100}]), 409, "game_not_active")


# --- POST /v1/games/{id}/finish ------------------------------------------------------------------------


def test_finish_updates_stats_and_ranks(
    client: TestClient, auth: Mint, db: firestore.Client, rds: redis.Redis
) -> None:
    h = auth("alice")
    client.patch("/v1/me", headers=h, json={"country": "IE"})
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 0  # cached now
    game_id = _played(client, h, [10, 20, 30])
    r = _finish(client, h, game_id, 60)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "final_score": 60,
        "ranks": {"daily": 1, "weekly": 1, "monthly": 1, "all_time": 1},
        "ranks_pending": False,
    }
    doc = _game(db, game_id)
    assert doc["status"] == "finished"
    assert doc["final_score"] == 60
    assert isinstance(doc["finished_at"], datetime)
    assert "board_pending" not in doc  # the boards took it: no extra write
    # The profile cache was invalidated: the next read shows the new stats.
    assert client.get("/v1/me/stats", headers=h).json() == {
        "games_played": 1,
        "best_score": 60,
        "total_score": 60,
    }
    ids = period_ids(doc["finished_at"])
    # Board scores carry the tie-break (app/domain/leaderboards.py): decode() gives the game score back.
    assert decode(Period.all_time, rds.zscore(board_key("all_time", "all"), "alice"))[0] == 60
    assert decode(Period.daily, rds.zscore(board_key("daily", ids["daily"]), "alice"))[0] == 60
    assert 0 < rds.ttl(board_key("daily", ids["daily"])) <= 2 * 86400

    hb = auth("bob")
    r = _finish(client, hb, _played(client, hb, [100]), 100)
    assert r.json()["ranks"]["all_time"] == 1
    lower = _finish(client, h, _played(client, h, [5]), 5).json()
    assert lower["ranks"] == {"daily": 2, "weekly": 2, "monthly": 2, "all_time": 2}  # alice keeps 60
    assert client.get("/v1/me/stats", headers=h).json() == {
        "games_played": 2,
        "best_score": 60,
        "total_score": 65,
    }


def test_finish_twice_is_idempotent(client: TestClient, auth: Mint, db: firestore.Client) -> None:
    h = auth("alice")
    game_id = _played(client, h, [4, 4])
    first = _finish(client, h, game_id, 8)
    finished_at = _game(db, game_id)["finished_at"]
    second = _finish(client, h, game_id, 8)
    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert _game(db, game_id)["finished_at"] == finished_at
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 1


def test_finish_again_with_another_score_409(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _played(client, h, [4])
    assert _finish(client, h, game_id, 4).status_code == 200
    _error(_finish(client, h, game_id, 5), 409, "game_already_finished")
    assert client.get("/v1/me/stats", headers=h).json()["total_score"] == 4


def test_concurrent_finishes_count_the_game_once(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _played(client, h, [7, 8])
    results: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def finish() -> None:
        barrier.wait()
        results.append(_finish(client, h, game_id, 15))

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert results[0].json() == results[1].json()
    assert client.get("/v1/me/stats", headers=h).json() == {
        "games_played": 1,
        "best_score": 15,
        "total_score": 15,
    }


def test_finish_unknown_game_404(client: TestClient, auth: Mint) -> None:
    _error(_finish(client, auth("alice"), "nosuchgame", 0), 404, "game_not_found")


def test_finish_someone_elses_game_404_and_nothing_changes(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    hb = auth("bob")
    game_id = _played(client, hb, [9])
    _error(_finish(client, auth("alice"), game_id, 9), 404, "game_not_found")
    _error(_finish(client, auth("alice"), game_id, 1), 404, "game_not_found")
    assert _game(db, game_id)["status"] == "active"
    assert not db.collection("users").document("alice").get().exists
    assert _finish(client, hb, game_id, 9).status_code == 200


def test_someone_elses_finished_game_404(client: TestClient, auth: Mint) -> None:
    hb = auth("bob")
    game_id = _played(client, hb, [9])
    assert _finish(client, hb, game_id, 9).status_code == 200
    _error(_finish(client, auth("alice"), game_id, 9), 404, "game_not_found")
    _error(_events(client, auth("alice"), game_id, [{"type": "a", "t_ms": 99}]), 404, "game_not_found")


@pytest.mark.parametrize("score", [-1, 10_000_001, "12", 1.5])
def test_finish_bad_score_422(client: TestClient, auth: Mint, score: Any) -> None:
    h = auth("alice")
    game_id = _played(client, h, [1])
    r = client.post(f"/v1/games/{game_id}/finish", headers=h, json={"score": score})
    _error(r, 422, "validation_error")


def test_score_not_matching_the_events_is_implausible(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    h = auth("alice")
    game_id = _played(client, h, [10, 10])
    message = _error(_finish(client, h, game_id, 25), 422, "implausible_score")
    assert "does not match the session's events" in message
    doc = _game(db, game_id)
    assert doc["status"] == "rejected"
    assert doc["reject_reason"] == message
    assert doc["final_score"] is None
    # Rejected is final: the same answer again, even with the right score, and no events either.
    assert _finish(client, h, game_id, 20).json() == _finish(client, h, game_id, 25).json()
    _error(_events(client, h, game_id, [{"type": "a", "t_ms": 100}]), 409, "game_not_active")
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 0


def test_score_too_fast_for_the_duration_is_implausible(
    client: TestClient, auth: Mint, db: firestore.Client
) -> None:
    h = auth("alice")
    points = [1000] * (2 * MAX_POINTS_PER_S * 3 // 1000 + 1)  # more than 3 s of play could score
    game_id = _played(client, h, points)
    message = _error(_finish(client, h, game_id, sum(points)), 422, "implausible_score")
    assert "points per second" in message
    assert _game(db, game_id)["status"] == "rejected"


def test_a_game_without_events_finishes_with_zero(client: TestClient, auth: Mint) -> None:
    h = auth("alice")
    game_id = _start(client, h)
    assert _finish(client, h, game_id, 0).json()["final_score"] == 0
    _error(_finish(client, h, _start(client, h), 1), 422, "implausible_score")


def test_leaderboard_sink_says_when_the_submit_did_not_reach_the_boards() -> None:
    """Failed before issue 18: an unreachable Redis answered empty ranks, like a reached board can."""
    breaker = RedisBreaker(threshold=2, recovery_s=60)

    async def submit() -> Ranks | None:
        client = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
        try:
            return await RedisLeaderboardSink(client, breaker).submit(
                "alice", "g1", 5, None, datetime.now(UTC)
            )
        finally:
            await client.aclose()

    assert [asyncio.run(submit()) for _ in range(3)] == [None] * 3
    # The failures went through the breaker: it is open, so later submissions skip Redis at once.
    assert breaker.state == "opened"


def test_period_ids_are_utc_calendar_periods() -> None:
    at = datetime(2026, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 2025-12-31 22:30 UTC
    assert period_ids(at) == {
        "daily": "2025-12-31",
        "weekly": "2026-W01",
        "monthly": "2025-12",
        "all_time": "all",
    }


# --- games in their own database (phase 2+): two-step finish -----------------------------------------


@pytest.fixture
def split(make_client: MakeClient, backends: Backends) -> Iterator[tuple[TestClient, firestore.Client]]:
    name = f"games-{uuid.uuid4().hex[:12]}"  # a fresh database per test: the clean fixture clears (default)
    client = make_client(games_database=name)
    games_db = firestore.Client(project=backends.project, database=name)
    yield client, games_db
    games_db.close()


def test_games_in_their_own_database(
    split: tuple[TestClient, firestore.Client], auth: Mint, db: firestore.Client
) -> None:
    client, games_db = split
    h = auth("alice")
    game_id = _played(client, h, [6, 6])
    assert not db.collection("games").document(game_id).get().exists
    first = _finish(client, h, game_id, 12)
    assert first.status_code == 200, first.text
    assert first.json()["final_score"] == 12
    assert _finish(client, h, game_id, 12).content == first.content
    doc = _game(games_db, game_id)
    assert doc["status"] == "finished"
    assert doc["stats_applied"] is True
    assert db.collection("users").document("alice").collection("scored_games").document(game_id).get().exists
    assert client.get("/v1/me/stats", headers=h).json() == {
        "games_played": 1,
        "best_score": 12,
        "total_score": 12,
    }
    _error(_finish(client, auth("bob"), game_id, 12), 404, "game_not_found")
    message = _error(_finish(client, h, _played(client, h, [1]), 2), 422, "implausible_score")
    assert "does not match" in message


def test_split_finish_replay_completes_an_interrupted_finish(
    split: tuple[TestClient, firestore.Client], auth: Mint
) -> None:
    client, games_db = split
    h = auth("alice")
    game_id = _played(client, h, [3])
    # As if the process died between the steps: the game is finished, the stats were never applied.
    games_db.collection("games").document(game_id).update(
        {"status": "finished", "final_score": 3, "finished_at": datetime.now(UTC), "stats_applied": False}
    )
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 0
    assert _finish(client, h, game_id, 3).status_code == 200
    assert _finish(client, h, game_id, 3).status_code == 200
    assert _game(games_db, game_id)["stats_applied"] is True
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 1


def test_split_concurrent_finishes_count_the_game_once(
    split: tuple[TestClient, firestore.Client], auth: Mint
) -> None:
    client, _ = split
    h = auth("alice")
    game_id = _played(client, h, [7, 8])
    results: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def finish() -> None:
        barrier.wait()
        results.append(_finish(client, h, game_id, 15))

    threads = [threading.Thread(target=finish) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert client.get("/v1/me/stats", headers=h).json()["games_played"] == 1


def test_split_finish_without_redis_marks_the_game_pending_in_its_database(
    make_client: MakeClient, backends: Backends, auth: Mint, db: firestore.Client
) -> None:
    """Failed before issue 18: the finish answered empty ranks and nothing recorded that the boards missed
    the score (the reconciler reads the mark: tests/app/repositories/chaos/test_pending_scores.py)."""
    name = f"games-{uuid.uuid4().hex[:12]}"
    client = make_client(
        games_database=name,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens: Redis is down
        redis_breaker_threshold=1,
        redis_timeout_ms=100,
    )
    h = auth("alice")
    game_id = _played(client, h, [6, 6])
    before = datetime.now(UTC)
    r = _finish(client, h, game_id, 12)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "final_score": 12,
        "ranks": {"daily": None, "weekly": None, "monthly": None, "all_time": None},
        "ranks_pending": True,
    }
    games_db = firestore.Client(project=backends.project, database=name)
    try:
        doc = _game(games_db, game_id)
    finally:
        games_db.close()
    assert doc["status"] == "finished"
    assert doc["board_pending"] is True
    assert doc["board_pending_at"] >= before - timedelta(seconds=1)
    assert not db.collection("games").document(game_id).get().exists
