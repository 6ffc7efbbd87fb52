"""The API's Redis paths on a real Redis Cluster (POG_REDIS_CLUSTER=true): the profile cache, the rate
limits (batched scripts and the ``limits`` cluster storage), finished games on the boards and every board
read, the purchase velocity check, /readyz."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from google.cloud import firestore

from app.domain import players
from tests.app.conftest import MakeClient, Mint
from tests.app.fixtures.payments import (
    AUDIT_KEY,
    STRIPE_SECRET,
    checkout_session,
    coins,
    player,
    post_stripe,
    review_items,
    stripe_event,
)
from tests.app.repositories.cluster.conftest import Shards
from tests.waiting import wait_until


def _played(client: TestClient, headers: dict[str, str], score: int) -> dict[str, Any]:
    game_id = client.post("/v1/games", headers=headers).json()["game_id"]
    events = {"events": [{"type": "coin", "t_ms": 0, "points": score}]}
    assert client.post(f"/v1/games/{game_id}/events", headers=headers, json=events).status_code == 200
    r = client.post(f"/v1/games/{game_id}/finish", headers=headers, json={"score": score})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _pings(shards: Shards) -> dict[int, int]:
    return {
        port: int(client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))
        for port, client in shards.clients.items()
    }


def test_readyz_pings_every_shard(
    cluster_client: TestClient, shards: Shards, caplog: pytest.LogCaptureFixture
) -> None:
    # A new instance first catches up on recorded cache invalidations (app/repositories/cache.py), which
    # PINGs one shard when there are none: count only once that start-up work is over.
    caplog.set_level(logging.INFO, logger="app.cache")
    wait_until(
        lambda: any(getattr(r, "event", None) == "cache_caught_up" for r in caplog.records),
        timeout=20,
        what="the cache's start-up catch-up",
    )
    before = _pings(shards)
    r = cluster_client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ok",
        "checks": {"redis": "ok", "firestore": "ok"},
        "breakers": {"redis": "closed"},
    }
    after = _pings(shards)
    assert [after[port] - before[port] for port in shards.clients] == [1] * len(shards.clients)


def test_profile_cache_is_read_and_invalidated_on_the_shard_of_its_key(
    cluster_client: TestClient, auth: Mint, db: firestore.Client, shards: Shards
) -> None:
    key = players.profile_key("alice")
    first = cluster_client.get("/v1/me", headers=auth("alice"))
    assert first.status_code == 200
    assert shards.keys(key)[shards.owner(key)] == {key}
    assert shards.clients[shards.owner(key)].get(key) == first.content
    db.collection("users").document("alice").update({"display_name": "Behind the cache"})
    assert cluster_client.get("/v1/me", headers=auth("alice")).json()["display_name"] != "Behind the cache"

    changed = cluster_client.patch("/v1/me", headers=auth("alice"), json={"display_name": "Renamed"})
    assert changed.status_code == 200, changed.text
    assert cluster_client.get("/v1/me", headers=auth("alice")).json()["display_name"] == "Renamed"
    assert b'"Renamed"' in shards.clients[shards.owner(key)].get(key)


def test_user_limit_refuses_past_the_limit_with_retry_after(
    make_cluster_client: MakeClient, auth: Mint, shards: Shards
) -> None:
    """The first request is counted by the library's own storage (a new token), the next ones by the
    batched scripts (a remembered token): both count on the same keys, on the cluster."""
    client = make_cluster_client(rate_limit_user="3/minute", rate_limit_ip="1000/minute")
    alice = auth("alice")  # one token: verified once, then remembered
    statuses = [client.get("/v1/me", headers=alice).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/v1/me", headers=alice)
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/v1/me", headers=auth("bob")).status_code == 200  # bob's own limit
    assert shards.holders("ratelimit:*"), "the limits counted nothing on the cluster"


def test_ip_limit_refuses_new_tokens_past_the_limit(make_cluster_client: MakeClient, auth: Mint) -> None:
    client = make_cluster_client(rate_limit_user="1000/minute", rate_limit_ip="5/minute")
    statuses = [client.get("/v1/me", headers=auth(f"p{i}")).status_code for i in range(6)]
    assert statuses == [200] * 5 + [429]
    other = make_cluster_client(("203.0.113.8", 50000), rate_limit_ip="5/minute")
    assert other.get("/v1/me", headers=auth("p9")).status_code == 200  # another address, its own limit


def test_finished_games_rank_on_every_board_read(cluster_client: TestClient, auth: Mint) -> None:
    client = cluster_client
    for uid, country in (("alice", "IE"), ("bob", "FR"), ("carol", "IE")):
        r = client.patch("/v1/me", headers=auth(uid), json={"display_name": uid.title(), "country": country})
        assert r.status_code == 200, r.text
    ranks = [_played(client, auth(uid), score)["ranks"] for uid, score in (("bob", 200), ("alice", 300))]
    assert ranks == [
        {"daily": 1, "weekly": 1, "monthly": 1, "all_time": 1},
        {"daily": 1, "weekly": 1, "monthly": 1, "all_time": 1},
    ]
    assert _played(client, auth("carol"), 100)["ranks"] == {
        "daily": 3,
        "weekly": 3,
        "monthly": 3,
        "all_time": 3,
    }
    assert client.post("/v1/me/friends", headers=auth("alice"), json={"uid": "carol"}).status_code == 200
    assert client.post("/v1/me/friends", headers=auth("carol"), json={"uid": "alice"}).status_code == 200

    page = client.get("/v1/leaderboards/daily/global").json()
    assert [(e["rank"], e["uid"], e["display_name"], e["score"]) for e in page["entries"]] == [
        (1, "alice", "Alice", 300),
        (2, "bob", "Bob", 200),
        (3, "carol", "Carol", 100),
    ]
    ireland = client.get("/v1/leaderboards/weekly/country?country=IE").json()
    assert [e["uid"] for e in ireland["entries"]] == ["alice", "carol"]
    me = client.get("/v1/leaderboards/all_time/global/me?radius=1", headers=auth("bob")).json()
    assert (me["rank"], me["score"], [e["uid"] for e in me["neighbours"]]) == (
        2,
        200,
        ["alice", "bob", "carol"],
    )
    friends = client.get("/v1/leaderboards/monthly/friends", headers=auth("alice")).json()
    assert [e["uid"] for e in friends["entries"]] == ["alice", "carol"]

    _played(client, auth("bob"), 400)
    delta = client.get(f"/v1/leaderboards/daily/global/changes?since={page['version']}").json()
    assert (delta["full"], [(e["rank"], e["uid"]) for e in delta["entries"]]) == (
        False,
        [(1, "bob"), (2, "alice")],
    )


def test_purchase_velocity_holds_the_excess_on_the_cluster(
    make_cluster_client: MakeClient, auth: Mint, db: firestore.Client, shards: Shards
) -> None:
    client = make_cluster_client(
        stripe_webhook_secret=STRIPE_SECRET,
        audit_local_key=AUDIT_KEY,
        rate_limit_user="100000/minute",
        rate_limit_ip="100000/minute",
        fraud_purchase_limit_user="3/hour",
    )
    player(client, auth, "alice", "IE")
    outcomes = []
    for n in range(5):
        session = checkout_session("alice", f"pi_cluster_{n}", country="IE")
        outcomes.append(
            post_stripe(client, stripe_event("checkout.session.completed", session)).json()["outcome"]
        )
    assert outcomes == ["granted"] * 3 + ["held"] * 2
    assert coins(db, "alice") == 300
    assert {r for item in review_items(db) for r in item["reasons"]} == {
        "velocity:purchase:user:3 per 1 hour"
    }
    assert shards.holders("fraud:*"), "the velocity counters are not on the cluster"
