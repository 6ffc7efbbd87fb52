"""GET /v1/events, join, progress and claim: the rules, each error path, object-level authorization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.services.grant_port import GrantSource
from scripts.services import free_port
from tests.app.conftest import Backends, MakeClient, Mint
from tests.app.fixtures.events import (
    ADMIN_NET,
    RecordingGranter,
    create_event,
    error,
    iso,
    play,
    qualified_event,
    seed_event,
    seed_finished_game,
)


def _join(client: TestClient, headers: dict[str, str], event_id: str) -> Any:
    return client.post(f"/v1/events/{event_id}/join", headers=headers)


def _claim(client: TestClient, headers: dict[str, str], event_id: str) -> Any:
    return client.post(f"/v1/events/{event_id}/claim", headers=headers)


def _claims(db: firestore.Client, event_id: str) -> list[dict[str, object]]:
    return [
        s.to_dict() or {}
        for s in db.collection("events").document(event_id).collection("reward_claims").stream()
    ]


# --- GET /v1/events ------------------------------------------------------------------------------------


def test_lists_running_events_only_and_caches_them(
    events_client: TestClient, admin: dict[str, str], auth: Mint, rds: redis.Redis
) -> None:
    now = datetime.now(UTC)
    running = create_event(events_client, admin, name="Running")
    create_event(
        events_client,
        admin,
        name="Upcoming",
        starts_at=iso(now + timedelta(hours=1)),
        ends_at=iso(now + timedelta(hours=3)),
    )
    r = events_client.get("/v1/events", headers=auth("alice"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["event_id"] for e in body["events"]] == [running]
    assert set(body["events"][0]) == {
        "event_id", "name", "description", "starts_at", "ends_at", "claim_until", "goal", "rewards",
    }  # fmt: skip
    assert body["hot_items"] == []
    cached = rds.get("activeEvents")
    assert cached is not None
    assert {e["name"] for e in orjson.loads(cached)} == {"Running", "Upcoming"}  # filtered by time when read
    assert 3500 < rds.ttl("activeEvents") <= 3600
    assert 500 < rds.ttl("hotItems") <= 600


def test_list_needs_a_token(events_client: TestClient) -> None:
    error(events_client.get("/v1/events"), 401, "unauthorized")


def test_redis_down_lists_joins_and_claims_from_firestore(
    make_client: MakeClient, admin: dict[str, str], auth: Mint
) -> None:
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0", admin_ip_allowlist=ADMIN_NET)
    granter = RecordingGranter()
    client.app.state.container.live_events.granter = granter  # type: ignore[attr-defined]
    h = auth("alice")
    event_id = create_event(client, admin, goal={"metric": "games_played", "target": 1})
    assert [e["event_id"] for e in client.get("/v1/events", headers=h).json()["events"]] == [event_id]
    assert _join(client, h, event_id).status_code == 200
    play(client, h, [3])
    r = _claim(client, h, event_id)
    assert r.status_code == 200, r.text
    assert list(granter.granted) == [f"event:{event_id}:alice"]


def test_hot_items_rank_claimed_reward_items(
    events_client: TestClient, admin: dict[str, str], auth: Mint, rds: redis.Redis
) -> None:
    one = create_event(events_client, admin, goal={"metric": "games_played", "target": 1})
    two = create_event(
        events_client,
        admin,
        goal={"metric": "games_played", "target": 1},
        rewards={"coins": 0, "items": {"booster_shield": 5, "booster_magnet": 1}},
    )
    for uid in ("alice", "bob"):
        h = auth(uid)
        for event_id in (one, two):
            assert _join(events_client, h, event_id).status_code == 200
        play(events_client, h, [1])
        for event_id in (one, two):
            assert _claim(events_client, h, event_id).status_code == 200
    rds.delete("hotItems")  # cached for 10 minutes: read the fresh ranking now
    hot = events_client.get("/v1/events", headers=auth("carol")).json()["hot_items"]
    assert hot == [{"item_id": "booster_shield", "claimed": 10}, {"item_id": "booster_magnet", "claimed": 6}]


# --- join ------------------------------------------------------------------------------------------------


def test_join_is_idempotent(
    events_client: TestClient, admin: dict[str, str], auth: Mint, db: firestore.Client
) -> None:
    event_id = create_event(events_client, admin)
    first = _join(events_client, auth("alice"), event_id)
    again = _join(events_client, auth("alice"), event_id)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    parts = db.collection("events").document(event_id).collection("participants").stream()
    assert [p.id for p in parts] == ["alice"]


def test_join_unknown_event_404(events_client: TestClient, auth: Mint) -> None:
    error(_join(events_client, auth("alice"), "nosuchevent"), 404, "event_not_found")


def test_join_bad_event_id_422(events_client: TestClient, auth: Mint) -> None:
    error(_join(events_client, auth("alice"), "bad.id"), 422, "validation_error")


def test_join_before_the_start_409(events_client: TestClient, admin: dict[str, str], auth: Mint) -> None:
    now = datetime.now(UTC)
    event_id = create_event(
        events_client, admin, starts_at=iso(now + timedelta(hours=1)), ends_at=iso(now + timedelta(hours=2))
    )
    error(_join(events_client, auth("alice"), event_id), 409, "event_not_started")


def test_join_after_the_end_409(events_client: TestClient, auth: Mint, db: firestore.Client) -> None:
    now = datetime.now(UTC)
    seed_event(db, "over", now - timedelta(hours=3), now - timedelta(hours=1))
    error(_join(events_client, auth("alice"), "over"), 409, "event_ended")
    assert (
        not db.collection("events").document("over").collection("participants").document("alice").get().exists
    )


# --- progress and claim -----------------------------------------------------------------------------------


def test_claim_grants_the_reward_once(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    h = auth("alice")
    event_id = create_event(events_client, admin)
    play(events_client, h, [5])  # before joining: does not count
    assert _join(events_client, h, event_id).status_code == 200
    play(events_client, h, [5])
    progress = events_client.get(f"/v1/events/{event_id}/me", headers=h).json()
    assert progress | {"joined_at": None} == {
        "event_id": event_id, "joined": True, "joined_at": None, "metric": "games_played",
        "progress": 1, "target": 2, "qualified": False, "claim": None,
    }  # fmt: skip
    message = error(_claim(events_client, h, event_id), 409, "not_qualified")
    assert message == "games_played is 1 of 2 since you joined"
    assert _claims(db, event_id) == []
    play(events_client, h, [5])
    r = _claim(events_client, h, event_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body | {"claimed_at": None} == {
        "event_id": event_id, "status": "granted", "first_claim": True, "claimed_at": None,
        "progress": 2, "coins": 250, "items": {"booster_magnet": 2},
    }  # fmt: skip
    again = _claim(events_client, h, event_id).json()
    assert again == body | {"first_claim": False}
    assert len(granter.calls) == 1
    request = granter.calls[0]
    assert (request.uid, request.source, request.source_id) == (
        "alice",
        GrantSource.EVENT_REWARD,
        f"event:{event_id}:alice",
    )
    assert (request.coins, dict(request.items)) == (250, {"booster_magnet": 2})
    [claim] = _claims(db, event_id)
    assert (claim["uid"], claim["status"], claim["progress"]) == ("alice", "granted", 2)
    assert events_client.get(f"/v1/events/{event_id}/me", headers=h).json()["claim"] == "granted"


def test_total_score_goal(events_client: TestClient, admin: dict[str, str], auth: Mint) -> None:
    h = auth("alice")
    event_id = create_event(events_client, admin, goal={"metric": "total_score", "target": 30})
    _join(events_client, h, event_id)
    play(events_client, h, [10, 10])
    assert (
        error(_claim(events_client, h, event_id), 409, "not_qualified")
        == "total_score is 20 of 30 since you joined"
    )
    play(events_client, h, [5, 5])
    assert _claim(events_client, h, event_id).json()["progress"] == 30


def test_rejected_games_do_not_count(events_client: TestClient, admin: dict[str, str], auth: Mint) -> None:
    h = auth("alice")
    event_id = create_event(events_client, admin, goal={"metric": "games_played", "target": 1})
    _join(events_client, h, event_id)
    game_id = events_client.post("/v1/games", headers=h, json={}).json()["game_id"]
    r = events_client.post(
        f"/v1/games/{game_id}/finish", headers=h, json={"score": 999}
    )  # no events: implausible
    assert r.status_code == 422
    error(_claim(events_client, h, event_id), 409, "not_qualified")


def test_claim_unknown_event_404(events_client: TestClient, auth: Mint) -> None:
    error(_claim(events_client, auth("alice"), "nosuchevent"), 404, "event_not_found")
    error(events_client.get("/v1/events/nosuchevent/me", headers=auth("alice")), 404, "event_not_found")


def test_claim_without_joining_409(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    h = auth("alice")
    event_id = create_event(events_client, admin, goal={"metric": "games_played", "target": 1})
    play(events_client, h, [1])
    error(_claim(events_client, h, event_id), 409, "not_joined")
    assert granter.calls == []
    assert _claims(db, event_id) == []


def test_claim_before_the_start_409(events_client: TestClient, admin: dict[str, str], auth: Mint) -> None:
    now = datetime.now(UTC)
    event_id = create_event(
        events_client, admin, starts_at=iso(now + timedelta(hours=1)), ends_at=iso(now + timedelta(hours=2))
    )
    error(_claim(events_client, auth("alice"), event_id), 409, "event_not_started")


def test_claim_after_the_claim_window_409(
    events_client: TestClient, auth: Mint, db: firestore.Client, granter: RecordingGranter
) -> None:
    now = datetime.now(UTC)
    seed_event(db, "long-over", now - timedelta(days=3), now - timedelta(days=2))
    ref = db.collection("events").document("long-over")
    ref.collection("participants").document("alice").set(
        {"uid": "alice", "joined_at": now - timedelta(days=3)}
    )
    seed_finished_game(db, "alice", now - timedelta(days=2, hours=12))
    error(_claim(events_client, auth("alice"), "long-over"), 409, "claim_window_closed")
    assert granter.calls == []
    assert _claims(db, "long-over") == []


def test_claim_in_the_grace_day_after_the_end(
    events_client: TestClient, auth: Mint, db: firestore.Client, granter: RecordingGranter
) -> None:
    now = datetime.now(UTC)
    seed_event(db, "just-over", now - timedelta(hours=5), now - timedelta(hours=1))
    ref = db.collection("events").document("just-over")
    ref.collection("participants").document("alice").set(
        {"uid": "alice", "joined_at": now - timedelta(hours=4)}
    )
    seed_finished_game(db, "alice", now - timedelta(hours=2))  # in the window
    seed_finished_game(db, "alice", now - timedelta(minutes=30))  # after the end: ignored
    r = _claim(events_client, auth("alice"), "just-over")
    assert r.status_code == 200, r.text
    assert r.json()["progress"] == 1
    assert list(granter.granted) == ["event:just-over:alice"]


def test_players_only_see_and_claim_their_own(
    events_client: TestClient, admin: dict[str, str], auth: Mint, granter: RecordingGranter
) -> None:
    alice, bob = auth("alice"), auth("bob")
    event_id = create_event(events_client, admin, goal={"metric": "games_played", "target": 1})
    _join(events_client, alice, event_id)
    _join(events_client, bob, event_id)
    play(events_client, alice, [4])
    # Alice's games are not Bob's progress, and Alice's claim is not Bob's.
    assert events_client.get(f"/v1/events/{event_id}/me", headers=bob).json()["progress"] == 0
    error(_claim(events_client, bob, event_id), 409, "not_qualified")
    assert _claim(events_client, alice, event_id).status_code == 200
    bob_view = events_client.get(f"/v1/events/{event_id}/me", headers=bob).json()
    assert (bob_view["claim"], bob_view["qualified"]) == (None, False)
    error(_claim(events_client, bob, event_id), 409, "not_qualified")
    assert list(granter.granted) == [f"event:{event_id}:alice"]


def test_a_failed_grant_is_retried_by_the_next_claim(
    events_client: TestClient,
    admin: dict[str, str],
    auth: Mint,
    granter: RecordingGranter,
    db: firestore.Client,
) -> None:
    h = auth("alice")
    event_id = qualified_event(events_client, admin, h)
    granter.fail_next = 1
    error(_claim(events_client, h, event_id), 503, "grant_unavailable")
    [claim] = _claims(db, event_id)
    assert (claim["status"], claim["grant_failed"]) == ("pending", True)
    assert granter.granted == {}
    r = _claim(events_client, h, event_id)
    assert r.json()["status"] == "granted", r.text
    assert r.json()["first_claim"] is False
    assert list(granter.granted) == [f"event:{event_id}:alice"]
    assert len(granter.calls) == 2


def test_a_held_grant_is_reported(
    events_client: TestClient, admin: dict[str, str], auth: Mint, granter: RecordingGranter
) -> None:
    h = auth("alice")
    event_id = qualified_event(events_client, admin, h)
    granter.hold = True
    assert _claim(events_client, h, event_id).json()["status"] == "held"
    assert _claim(events_client, h, event_id).json()["status"] == "held"
    assert len(granter.calls) == 1


def test_progress_counts_the_games_of_every_database_a_game_may_be_in(
    make_client: MakeClient, admin: dict[str, str], auth: Mint, backends: Backends
) -> None:
    """Phase 3: a player's games follow the region that served them, so one player's games are in several
    regions' databases (and, after a promotion, in the earlier phase's)."""
    here, there = (f"games-{region}-{uuid.uuid4().hex[:8]}" for region in ("us", "eu"))
    h = auth("alice")
    everywhere = make_client(
        admin_ip_allowlist=ADMIN_NET, games_database=here, all_games_databases=[here, there]
    )
    event_id = create_event(everywhere, admin, goal={"metric": "total_score", "target": 30})
    assert _join(everywhere, h, event_id).status_code == 200
    play(everywhere, h, [4, 6])  # 10 points, finished here
    there_db = firestore.Client(project=backends.project, database=there)
    try:
        seed_finished_game(there_db, "alice", datetime.now(UTC), score=25)  # finished in the other region
    finally:
        there_db.close()

    only_here = make_client(admin_ip_allowlist=ADMIN_NET, games_database=here)
    assert only_here.get(f"/v1/events/{event_id}/me", headers=h).json()["progress"] == 10
    mine = everywhere.get(f"/v1/events/{event_id}/me", headers=h).json()
    assert (mine["progress"], mine["qualified"]) == (35, True)
    assert _claim(everywhere, h, event_id).json()["progress"] == 35
